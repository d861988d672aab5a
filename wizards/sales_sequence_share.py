import base64
import json

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError

SHARE_FORMAT = "sales_sequence/1"
MAX_FILE_BYTES = 5 * 1024 * 1024
SEQUENCE_FIELDS = (
    "name",
    "description",
    "sequence_type",
    "smart_interval_hours",
    "require_approval",
    "approval_expiry_days",
    "sender_mode",
    "on_reply",
    "exit_on_meeting",
    "exit_domain",
    "exit_account_wide",
    "exit_on_lead_won",
    "exit_on_lead_lost",
    "exit_lead_domain",
    "use_contact_tz",
    "randomize",
    "daily_limit",
    "tracking_enabled",
    "unsubscribe_style",
    "use_list_headers",
)
STEP_FIELDS = (
    "name",
    "sequence",
    "step_type",
    "delay_days",
    "subject",
    "body_html",
    "thread_mode",
    "email_cc",
    "email_bcc",
    "use_signature",
    "activity_summary",
    "activity_note",
    "activity_assignee",
    "activity_due_days",
    "wait_for_done",
    "sms_body",
    "ab_pick_winner",
    "ab_min_sample",
    "ab_metric",
    "auto_approve",
    "auto_approve_after",
    "auto_approve_daily_cap",
    "require_call_outcome",
    "on_missing_data",
)
CONDITION_FIELDS = ("condition_type", "domain", "lead_domain")
VARIANT_FIELDS = ("name", "subject", "body_html")


def _plain(record, names):
    return {name: record[name] or False for name in names}


class SalesSequenceShare(models.TransientModel):
    """Share a proven cadence: a sequence with its steps, conditions, variants and template contents as JSON, and
    back into a new draft sequence in another database."""

    _name = "sales.sequence.share"
    _description = "Sales Sequence Export and Import"

    file = fields.Binary(string="JSON File")
    filename = fields.Char()

    @api.model
    def _export_data(self, sequence):
        """The sequence as plain JSON-ready data; a step's template travels as the step's own subject and body, so
        the file does not depend on templates of the source database."""
        steps = []
        for step in sequence.step_ids:
            values = _plain(step, STEP_FIELDS)
            if step.mail_template_id:
                values["subject"] = step.mail_template_id.subject or False
                values["body_html"] = step.mail_template_id.body_html or False
                values["template_name"] = step.mail_template_id.name
            values["conditions"] = [
                dict(_plain(c, CONDITION_FIELDS), call_outcomes=c.call_outcome_ids.mapped("name"))
                for c in step.condition_ids
            ]
            # A branch's paths travel as the targets' positions among the steps (0 = first); None ends the sequence.
            for key, target in (("branch_yes", step.branch_yes_step_id), ("branch_no", step.branch_no_step_id)):
                values[key] = list(sequence.step_ids).index(target) if target else None
            values["variants"] = [_plain(v, VARIANT_FIELDS) for v in step.variant_ids]
            steps.append(values)
        return {"format": SHARE_FORMAT, "sequence": _plain(sequence, SEQUENCE_FIELDS), "steps": steps}

    def action_import(self):
        """A new draft sequence, owned by the importing user, on the company's default send schedule."""
        self.ensure_one()
        self.env["sales.sequence"].check_access("create")
        data = self._read_file()
        values = {name: data["sequence"].get(name) for name in SEQUENCE_FIELDS if name in data["sequence"]}
        values = {name: value for name, value in values.items() if value is not False}
        values["name"] = _("%(name)s (imported)", name=values.get("name") or _("Sequence"))
        values["step_ids"] = [Command.create(self._step_values(step)) for step in data["steps"]]
        try:
            with self.env.cr.savepoint():
                sequence = self.env["sales.sequence"].create(values)
                self._link_branches(sequence, data["steps"])
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A value of the wrong type (text for a number, a list for a text...): name it instead of a traceback.
            raise UserError(
                _(
                    "JSON File: a value has the wrong type (%(error)s). Export the sequence again.",
                    error=str(error).split("\n", 1)[0][:200],
                )
            ) from error
        return {
            "type": "ir.actions.act_window",
            "res_model": "sales.sequence",
            "res_id": sequence.id,
            "view_mode": "form",
            "target": "current",
        }

    def _read_file(self):
        if not self.file:
            raise UserError(_("JSON File: choose the file exported from a sequence."))
        raw = base64.b64decode(self.file)
        if len(raw) > MAX_FILE_BYTES:
            raise UserError(_("JSON File: larger than %(size)s MB; a sequence export is far smaller.", size=5))
        try:
            data = json.loads(raw)
        except RecursionError as error:
            raise UserError(
                _("JSON File: nested too deep to be a sequence export. Export the sequence again.")
            ) from error
        except (ValueError, UnicodeDecodeError) as error:
            raise UserError(
                _("JSON File: this is not a JSON file (%(error)s). Export the sequence again.", error=error)
            ) from error
        if not isinstance(data, dict) or data.get("format") != SHARE_FORMAT:
            raise UserError(_("JSON File: not a sequence export (format %(format)s expected).", format=SHARE_FORMAT))
        if not isinstance(data.get("sequence"), dict) or not isinstance(data.get("steps"), list):
            raise UserError(_("JSON File: the sequence or its steps are missing. Export the sequence again."))
        return data

    def _call_outcome_values(self, names):
        """Call outcomes are found by name in this database (its list is the admin's own)."""
        if not names:
            return {}
        outcomes = self.env["sales.sequence.call.outcome"].search([("name", "in", names)])
        missing = set(names) - set(outcomes.mapped("name"))
        if missing:
            raise UserError(
                _(
                    "JSON File: the call outcomes %(names)s do not exist here. Add them in Sequences > Configuration "
                    "> Call Outcomes, then import again.",
                    names=", ".join(sorted(missing)),
                )
            )
        return {"call_outcome_ids": [Command.set(outcomes.ids)]}

    def _link_branches(self, sequence, steps):
        """Point each imported branch at its paths' steps, given by position in the export."""
        created = list(sequence.step_ids.sorted(lambda s: (s.sequence, s.id)))
        for step, data in zip(created, steps, strict=False):
            values = {}
            for key in ("branch_yes", "branch_no"):
                position = data.get(key)
                if isinstance(position, int) and 0 <= position < len(created):
                    values[f"{key}_step_id"] = created[position].id
            if values:
                step.write(values)

    def _step_values(self, step):
        if not isinstance(step, dict):
            raise UserError(_("JSON File: a step is not an object. Export the sequence again."))
        step_types = dict(self.env["sales.sequence.step"]._fields["step_type"].selection)
        if step.get("step_type", "email") not in step_types:
            raise UserError(
                _(
                    "JSON File: step '%(step)s' has the unknown type '%(type)s'; known types: %(types)s.",
                    step=step.get("name"),
                    type=step.get("step_type"),
                    types=", ".join(step_types),
                )
            )
        values = {name: step[name] for name in STEP_FIELDS if name in step and step[name] is not False}
        for key in ("conditions", "variants"):
            items = step.get(key, [])
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise UserError(
                    _(
                        "JSON File: the %(key)s of step '%(step)s' are not a list of objects. Export the sequence "
                        "again.",
                        key=key,
                        step=step.get("name"),
                    )
                )
        values["condition_ids"] = [
            Command.create(
                {name: c[name] for name in CONDITION_FIELDS if name in c}
                | self._call_outcome_values(c.get("call_outcomes") or [])
            )
            for c in step.get("conditions", [])
        ]
        values["variant_ids"] = [
            Command.create({name: v[name] for name in VARIANT_FIELDS if name in v}) for v in step.get("variants", [])
        ]
        return values
