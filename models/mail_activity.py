from odoo import models


class MailActivity(models.Model):
    _inherit = "mail.activity"

    def _action_done(self, feedback=False, attachment_ids=None):
        # Before Odoo deletes the activities: the sequences waiting for them go on.
        self.env["sales.sequence.enrollment"]._on_activities_done(self)
        return super()._action_done(feedback=feedback, attachment_ids=attachment_ids)

    def unlink(self):
        # Canceled (deleted without being done): the sequence does not wait forever for it.
        self.env["sales.sequence.enrollment"]._on_activities_done(self, canceled=True)
        return super().unlink()
