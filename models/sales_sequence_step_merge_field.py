from odoo import api, fields, models

from ..lib import placeholders

MERGE_FIELD_TARGETS = [
    ("subject", "Subject"),
    ("body_html", "Body"),
    ("sms_body", "SMS Text"),
    ("activity_summary", "Summary"),
    ("activity_note", "Note"),
]
# Where a picked merge field goes by default, per step type.
DEFAULT_TARGET = {"email": "body_html", "email_reminder": "body_html", "sms": "sms_body", "task": "activity_summary"}


class SalesSequenceStep(models.Model):
    """The editor's merge field picker: the vetted merge fields with their labels; picking one inserts
    ``{{ object.x ||| fallback }}`` with a suggested fallback, before the step is even saved (an onchange)."""

    _inherit = "sales.sequence.step"

    merge_field_pick = fields.Selection(
        selection=lambda self: [(path, label) for path, label in placeholders.MERGE_FIELDS],
        string="Insert Merge Field",
        compute="_compute_merge_field_pick",
        readonly=False,
        help="Inserts the field with a fallback, e.g. {{ object.first_name ||| there }}: the fallback is printed "
        "when the contact's field is empty. Without a fallback, a contact whose field is empty is held.",
    )
    merge_field_target = fields.Selection(
        MERGE_FIELD_TARGETS, string="Into", compute="_compute_merge_field_pick", readonly=False
    )

    @api.depends("step_type")
    def _compute_merge_field_pick(self):
        for step in self:
            step.merge_field_pick = False
            step.merge_field_target = DEFAULT_TARGET.get(step.step_type, "activity_summary")

    @api.onchange("merge_field_pick")
    def _onchange_merge_field_pick(self):
        if not self.merge_field_pick:
            return
        token = placeholders.merge_token(self.merge_field_pick, placeholders.suggested_fallback(self.merge_field_pick))
        target = self.merge_field_target or DEFAULT_TARGET.get(self.step_type, "activity_summary")
        self[target] = placeholders.append_token(self[target] or "", token, is_html=self._fields[target].type == "html")
        self.merge_field_pick = False
