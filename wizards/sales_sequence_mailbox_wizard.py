from odoo import _, api, fields, models
from odoo.exceptions import UserError


class SalesSequenceMailboxWizard(models.TransientModel):
    """A salesperson connects their own mailbox (IMAP) for reply detection, in a few fields.

    Incoming mail servers are admin-only in Odoo, and rightly (their passwords open whole mailboxes). This wizard is
    the one way a salesperson touches them: it only ever reads or writes the server marked as the current user's
    sequence mailbox, never shows a password back, and tests the login before anything is saved."""

    _name = "sales.sequence.mailbox.wizard"
    _description = "Connect My Mailbox to Sales Sequences"

    server = fields.Char(string="IMAP Server", help="e.g. imap.example.com", required=True)
    port = fields.Integer(default=993, required=True)
    is_ssl = fields.Boolean(string="SSL/TLS", default=True)
    login = fields.Char(help="Usually your email address.", required=True)
    password = fields.Char(help="Leave empty to keep the saved password.")
    state = fields.Selection(
        [("none", "Not connected"), ("connected", "Connected"), ("failing", "Failing")],
        readonly=True,
        default="none",
    )
    last_read = fields.Datetime(readonly=True)
    error = fields.Char(readonly=True)

    @api.model
    def _my_mailbox(self):
        # sudo: fetchmail.server is admin-only; the user's own sequence mailbox only, scoped by the domain
        return (
            self.env["fetchmail.server"]
            .sudo()
            .with_context(active_test=False)
            .search([("sales_sequence_mailbox", "=", True), ("sales_sequence_user_id", "=", self.env.uid)], limit=1)
        )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        mailbox = self._my_mailbox()
        if mailbox:
            values.update(
                server=mailbox.server,
                port=mailbox.port,
                is_ssl=mailbox.is_ssl,
                login=mailbox.user,
                state=("failing" if mailbox.sales_sequence_error else "connected")
                if mailbox.state == "done" and mailbox.active
                else "none",
                last_read=mailbox.date,
                error=mailbox.sales_sequence_error,
            )
        else:
            values.setdefault("login", self.env.user.email)
        return values

    @api.onchange("is_ssl")
    def _onchange_is_ssl(self):
        self.port = 993 if self.is_ssl else 143

    @api.model
    def action_open(self):
        return {
            "type": "ir.actions.act_window",
            "name": _("My Mailbox"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
        }

    def action_connect(self):
        """Save the current user's mailbox and test the login; a failed login saves nothing."""
        self.ensure_one()
        mailbox = self._my_mailbox()
        if not mailbox and not self.password:
            raise UserError(_("Enter the mailbox password."))
        values = {
            "name": _("Sequence mailbox of %(user)s", user=self.env.user.name),
            "server_type": "imap",
            "server": self.server.strip(),
            "port": self.port,
            "is_ssl": self.is_ssl,
            "user": self.login.strip(),
            "sales_sequence_mailbox": True,
            "sales_sequence_user_id": self.env.uid,
            "active": True,
            "sales_sequence_error": False,
        }
        if self.password:
            values["password"] = self.password
        if mailbox:
            mailbox.write(values)
        else:
            mailbox = mailbox.create(values)
        mailbox.button_confirm_login()  # raises UserError, which rolls the save back, when the login fails
        return self.action_open()

    def action_disconnect(self):
        """Forget the mailbox and its password; replies to the catchall are still seen."""
        self._my_mailbox().unlink()
        return self.action_open()
