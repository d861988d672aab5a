from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    sales_sequence_max_active_per_user = fields.Integer(
        string="Active Sequences per User",
        config_parameter="sales_sequence.max_active_per_user",
        help="How many sequences one user may own while they are active. 0: no limit.",
    )
    sales_sequence_max_emails_per_user = fields.Integer(
        string="Sequence Emails per User per Day",
        config_parameter="sales_sequence.max_emails_per_user",
        help="How many sequence emails the sequences of one owner may send per day, all mailboxes together. "
        "0: no limit. The emails over it wait, queued, for the next day.",
    )
