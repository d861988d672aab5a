from odoo import fields, models


class SalesSequenceAudience(models.Model):
    """A source of contacts for a sequence. The foundation stores the lines; enrolling from them comes later."""

    _name = "sales.sequence.audience"
    _description = "Sales Sequence Audience"
    _order = "sequence, id"
    _inherit = ["sales.sequence.guard.mixin"]
    _immutable_fields = ("sequence_id",)

    sequence_id = fields.Many2one(
        "sales.sequence", string="Sales Sequence", required=True, index=True, ondelete="cascade"
    )
    sequence = fields.Integer(string="Order", default=10)
    name = fields.Char(required=True)
    source = fields.Selection(
        [
            ("contacts", "Contacts matching conditions"),
            ("accounts", "Contacts of accounts matching conditions"),
            ("filter", "Saved view"),
        ],
        default="contacts",
        required=True,
    )
    filter_domain = fields.Char(string="Conditions", default="[]")
    filter_id = fields.Many2one(
        "ir.filters", string="Saved View", domain="[('model_id', '=', 'res.partner')]", ondelete="restrict"
    )
    active = fields.Boolean(default=True)
