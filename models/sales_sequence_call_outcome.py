from odoo import fields, models


class SalesSequenceCallOutcome(models.Model):
    """What came of a sequence call (connected, voicemail, no answer, ...): an admin-defined list the person who
    marks the call done picks from. Stored on the call's step run and in its event; step conditions and branch
    steps can read the last call's outcome."""

    _name = "sales.sequence.call.outcome"
    _description = "Sales Sequence Call Outcome"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    is_connected = fields.Boolean(
        string="Counts as Connected", help="The contact was reached: the call counts as a conversation."
    )

    _sql_constraints = [
        ("name_uniq", "UNIQUE(name)", "Call Outcome: this name is already used; choose another one."),
    ]
