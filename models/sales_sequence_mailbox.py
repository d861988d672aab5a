from odoo import api, fields, models


class SalesSequence(models.Model):
    """Whether the owner's own mailbox is read for replies (Sequences > Configuration > My Mailbox): without it,
    a prospect who writes to the owner's address rather than replying to the email is not seen."""

    _inherit = "sales.sequence"

    owner_mailbox_state = fields.Selection(
        [("none", "Not connected"), ("connected", "Connected"), ("failing", "Failing")],
        string="Owner's Mailbox",
        compute="_compute_owner_mailbox",
        help="Whether the owner's own mailbox is read for replies, so that a contact who writes to the owner "
        "directly pauses the sequence too. Set it up in Sequences > Configuration > My Mailbox.",
    )
    owner_mailbox_last_read = fields.Datetime(string="Mailbox Last Read", compute="_compute_owner_mailbox")
    owner_mailbox_error = fields.Char(string="Mailbox Error", compute="_compute_owner_mailbox")

    @api.depends("user_id")
    def _compute_owner_mailbox(self):
        # sudo: incoming servers are admin-only; only the owner's mailbox status and last read date are shown
        mailboxes = (
            self.env["fetchmail.server"]
            .sudo()
            .search([("sales_sequence_mailbox", "=", True), ("sales_sequence_user_id", "in", self.user_id.ids)])
        )
        by_user = {mailbox.sales_sequence_user_id: mailbox for mailbox in mailboxes}
        for sequence in self:
            mailbox = by_user.get(sequence.user_id)
            sequence.owner_mailbox_last_read = mailbox.date if mailbox else False
            sequence.owner_mailbox_error = mailbox.sales_sequence_error if mailbox else False
            if not mailbox or mailbox.state != "done":
                sequence.owner_mailbox_state = "none"
            else:
                sequence.owner_mailbox_state = "failing" if mailbox.sales_sequence_error else "connected"

    def action_open_my_mailbox(self):
        return self.env["sales.sequence.mailbox.wizard"].action_open()
