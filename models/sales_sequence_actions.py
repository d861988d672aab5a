import json
import re
from collections import Counter, defaultdict

from odoo import _, api, models


class SalesSequence(models.Model):
    """The form's buttons beyond the lifecycle: the smart buttons (their counts and the lists they open) and the
    wizards (enroll, import, forecast, test run), the JSON export."""

    _inherit = "sales.sequence"

    # ------------------------------------------------------------------
    # Smart buttons: the counts and the lists they open
    # ------------------------------------------------------------------

    def _compute_refusal_count(self):
        counts = dict(
            self.env["sales.sequence.refusal"]._read_group(
                [("sequence_id", "in", self.ids)], ["sequence_id"], ["__count"]
            )
        )
        for sequence in self:
            sequence.refusal_count = counts.get(sequence, 0)

    @api.depends("step_ids")
    def _compute_step_count(self):
        for sequence in self:
            sequence.step_count = len(sequence.step_ids)

    @api.depends("enrollment_ids.state")
    def _compute_enrollment_counts(self):
        counts = defaultdict(Counter)
        for sequence, state, count in self.env["sales.sequence.enrollment"]._read_group(
            [("sequence_id", "in", self.ids)], ["sequence_id", "state"], ["__count"]
        ):
            counts[sequence.id][state] = count
        for sequence in self:
            by_state = counts[sequence.id]
            sequence.enrollment_count = by_state.total()
            sequence.enrollment_active_count = by_state["active"]
            sequence.enrollment_queued_count = by_state["queued"]
            sequence.enrollment_blocked_count = by_state["blocked"]
            sequence.enrollment_paused_count = by_state["paused"]
            sequence.enrollment_finished_count = by_state["finished"] + by_state["completed"]
            sequence.metric_enrolled = sequence.enrollment_count
            sequence.metric_active = by_state["active"] + by_state["queued"]
            sequence.metric_finished = sequence.enrollment_finished_count

    def _compute_attention_count(self):
        counts = dict(
            self.env["sales.sequence.draft"]._read_group(
                [("sequence_id", "in", self.ids), ("state", "=", "pending")], ["sequence_id"], ["__count"]
            )
        )
        for sequence in self:
            sequence.attention_count = counts.get(sequence, 0)

    def action_view_enrollments(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enrollment")
        action["domain"] = [("sequence_id", "=", self.id)]
        action["context"] = {"default_sequence_id": self.id}
        for state in (self.env.context.get("enrollment_state") or "").split(","):
            if state:
                action["context"][f"search_default_filter_{state}"] = 1
        return action

    def action_view_refusals(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_refusal")
        action["domain"] = [("sequence_id", "=", self.id)]
        return action

    def action_view_attention(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_draft")
        # What waits for someone: the approved, sent and skipped drafts are history, not attention.
        action["domain"] = [("sequence_id", "=", self.id), ("state", "=", "pending")]
        return action

    # ------------------------------------------------------------------
    # Wizards and export
    # ------------------------------------------------------------------

    def action_open_enroll_wizard(self):
        self.ensure_one()
        self.check_access("write")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enroll_wizard")
        action["context"] = {"default_sequence_id": self.id}
        return action

    def action_open_import_wizard(self):
        self.ensure_one()
        self.check_access("write")
        return {
            "type": "ir.actions.act_window",
            "name": _("Import Contacts"),
            "res_model": "sales.sequence.import.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_sequence_id": self.id},
        }

    def action_open_forecast(self):
        """The dated plan of every step for the enrolled contacts (or a sample of the audience)."""
        self.ensure_one()
        return self.env["sales.sequence.forecast"]._open_for(self)

    def action_open_test_run(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": _("Test Run of %(sequence)s", sequence=self.name),
            "res_model": "sales.sequence.test.run",
            "view_mode": "form",
            "target": "new",
            "context": {"default_sequence_id": self.id},
        }

    def action_export_json(self):
        """Download the sequence, its steps and their contents as JSON, to import in another database."""
        self.ensure_one()
        self.check_access("read")
        data = self.env["sales.sequence.share"]._export_data(self)
        name = re.sub(r"[^\w.-]+", "_", self.name).strip("_") or "sequence"
        # sudo: a one-off download of what the user just read; the attachment is tied to this sequence's rights.
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"{name}.json",
                    "raw": json.dumps(data, indent=2, ensure_ascii=False).encode(),
                    "mimetype": "application/json",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
        )
        return {"type": "ir.actions.act_url", "url": f"/web/content/{attachment.id}?download=true", "target": "self"}
