from odoo import _, fields, models


class SalesSequenceEnrollment(models.Model):
    """What Needs Attention (models/sales_sequence_attention.py) asks of an enrollment beyond resume: close it
    after a reply, or dismiss a bounce from the list."""

    _inherit = "sales.sequence.enrollment"

    attention_dismissed = fields.Boolean(
        readonly=True, copy=False, help="A bounced enrollment dismissed from Needs Attention."
    )

    def action_close_after_reply(self):
        """The contact replied and the rep takes it from here: the enrollment ends completed."""
        self.check_access("write")
        paused = self.filtered(lambda e: e.state == "paused")
        reason = _("Closed by %(user)s after the reply.", user=self.env.user.name)
        self.env["sales.sequence.event"]._record(paused, "close", reason)
        paused._end("completed", reason)
        return True

    def action_dismiss_attention(self):
        self.check_access("write")
        self.filtered(lambda e: e.state == "bounced").write({"attention_dismissed": True})
        return True
