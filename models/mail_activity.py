from odoo import _, api, fields, models
from odoo.exceptions import UserError


class MailActivity(models.Model):
    _inherit = "mail.activity"

    sales_sequence_call_outcome_id = fields.Many2one(
        "sales.sequence.call.outcome",
        string="Call Outcome",
        ondelete="restrict",
        help="What came of this sequence call; the sequence records it and may branch on it.",
    )
    sales_sequence_call = fields.Selection(
        [("optional", "Outcome optional"), ("required", "Outcome required")],
        string="Sequence Call",
        compute="_compute_sales_sequence_call",
        help="Set for the calls of a sales sequence: whether marking it done needs a Call Outcome.",
    )

    @api.depends("res_model", "res_id")
    def _compute_sales_sequence_call(self):
        calls = self._sales_sequence_call_touches()
        for activity in self:
            touch = calls.get(activity.id)
            activity.sales_sequence_call = touch and ("required" if touch.step_id.require_call_outcome else "optional")

    def _sales_sequence_call_touches(self):
        """{activity id: the sequence call step run it belongs to}, in one query."""
        ids = [activity_id for activity_id in self.ids if isinstance(activity_id, int)]
        if not ids:
            return {}
        # sudo: whether an activity is a sequence call decides what its form asks; nothing else is shown.
        touches = (
            self.env["sales.sequence.touch"]
            .sudo()
            .search([("activity_id", "in", ids), ("kind", "=", "call"), ("done_at", "=", False)])
        )
        return {touch.activity_id.id: touch for touch in touches}

    def _check_sales_sequence_call_outcome(self):
        """A call step that requires an outcome cannot be marked done without one (whatever the path: the
        chatter's Mark Done, the activity form, RPC)."""
        calls = self._sales_sequence_call_touches()
        for activity in self:
            touch = calls.get(activity.id)
            if touch and touch.step_id.require_call_outcome and not activity.sales_sequence_call_outcome_id:
                raise UserError(
                    _(
                        "Call Outcome: the call '%(summary)s' of the sequence %(sequence)s needs an outcome. Open "
                        "the activity (its pencil in the chatter), choose the Call Outcome, then Mark as Done.",
                        summary=activity.summary or touch.subject or "",
                        sequence=touch.sequence_id.name,
                    )
                )

    def _action_done(self, feedback=False, attachment_ids=None):
        self._check_sales_sequence_call_outcome()
        # Before Odoo deletes the activities: the sequences waiting for them go on.
        self.env["sales.sequence.enrollment"]._on_activities_done(self)
        return super()._action_done(feedback=feedback, attachment_ids=attachment_ids)

    def unlink(self):
        # Canceled (deleted without being done): the sequence does not wait forever for it.
        self.env["sales.sequence.enrollment"]._on_activities_done(self, canceled=True)
        return super().unlink()
