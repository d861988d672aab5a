from odoo import api, fields, models

REFUSAL_RULES = [
    ("already_enrolled", "Already enrolled"),
    ("no_email", "No email"),
    ("invalid_email", "Invalid email"),
    ("no_sender", "No sender"),
    ("blacklisted", "Blacklisted"),
    ("reenrollment", "Re-enrollment"),
    ("replied", "Replied recently"),
    ("other_sequence", "In another sequence"),
    ("exclusion", "Exclusion rule"),
]
REFUSAL_SOURCES = [
    ("manual", "Manual"),
    ("bulk", "Bulk"),
    ("import", "Import"),
    ("audience", "Audience sync"),
]


class SalesSequenceRefusal(models.Model):
    """A contact a sequence did not enroll, with the rule and the reason: the sequence's "Not enrolled" list.
    Written by the engine for every path (a contact form, a selection, an import, an audience sync)."""

    _name = "sales.sequence.refusal"
    _description = "Sales Sequence: Contact Not Enrolled"
    _order = "date desc, id desc"
    _rec_name = "partner_id"

    sequence_id = fields.Many2one("sales.sequence", required=True, index=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Contact", index=True, ondelete="cascade")
    user_id = fields.Many2one(related="sequence_id.user_id", string="Owner", store=True)
    company_id = fields.Many2one(related="sequence_id.company_id", store=True)
    rule = fields.Selection(REFUSAL_RULES, required=True)
    exclusion_id = fields.Many2one("sales.sequence.ruleset.exclusion", string="Exclusion Rule", ondelete="set null")
    reason = fields.Char(required=True)
    source = fields.Selection(REFUSAL_SOURCES, default="manual", required=True)
    date = fields.Datetime(default=fields.Datetime.now, required=True, index=True)

    @api.model
    def _record(self, sequence, refusals, source):
        """One row per refused contact; `refusals` maps partner -> (rule, reason, exclusion or None)."""
        if not refusals:
            return self.browse()
        # sudo: the engine records what it refused; users read the rows through the record rules of their sequences.
        return self.sudo().create(
            [
                {
                    "sequence_id": sequence.id,
                    "partner_id": partner.id,
                    "rule": rule,
                    "reason": reason,
                    "exclusion_id": exclusion.id if exclusion else False,
                    "source": source,
                }
                for partner, (rule, reason, exclusion) in refusals.items()
            ]
        )
