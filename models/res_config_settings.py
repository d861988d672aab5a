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

    def set_values(self):
        before = self.env["sales.sequence.enrollment"]._max_emails_per_user()
        result = super().set_values()
        if self.env["sales.sequence.enrollment"]._max_emails_per_user() != before:
            # What the old limit queued is evaluated again at the next slot, not on the day the old limit set.
            self.env["sales.sequence.enrollment"]._release_held_by_limit("user", [])
        return result
