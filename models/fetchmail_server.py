import logging
import re

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

_logger = logging.getLogger(__name__)

# Messages read from one sequence mailbox per run: the cron comes back for the rest, so one run stays short.
MAX_MAILBOX_MESSAGES = 200
IMAP_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY\s+(\d+)", re.IGNORECASE)


class FetchmailServer(models.Model):
    """A rep's own mailbox read for the sales sequences: replies that reach the rep rather than the catchall
    (a new email, a client that dropped Reply-To, a colleague's forward) pause the sequence like any other.

    Such a mailbox is the rep's, not Odoo's: it is opened read-only (no message is flagged as read, none is
    deleted), only mail that arrived since it was connected is read, and a message that belongs to no Odoo record
    stays where it is (the gateway neither creates a record for it nor reports "No possible route")."""

    _inherit = "fetchmail.server"

    sales_sequence_mailbox = fields.Boolean(
        string="Sequence Mailbox",
        help="A salesperson's own mailbox, read for sales sequences only: every message is checked for replies, "
        "auto-replies and bounces; mail that belongs to no Odoo record stays the salesperson's and is left unread.",
    )
    sales_sequence_user_id = fields.Many2one(
        "res.users",
        string="Mailbox Of",
        index="btree_not_null",
        ondelete="cascade",
        help="The salesperson whose mailbox this is.",
    )
    sales_sequence_since = fields.Datetime(
        string="Read Mail Since",
        default=fields.Datetime.now,
        copy=False,
        help="Older mail of the mailbox is never read.",
    )
    sales_sequence_last_uid = fields.Integer(string="Last Message Read (IMAP UID)", copy=False, readonly=True)
    sales_sequence_uidvalidity = fields.Char(string="IMAP UIDVALIDITY", copy=False, readonly=True)
    sales_sequence_error = fields.Char(string="Last Error", copy=False, readonly=True)

    _sql_constraints = [
        (
            "sales_sequence_mailbox_user_uniq",
            "EXCLUDE (sales_sequence_user_id WITH =) WHERE (sales_sequence_mailbox AND active)",
            "A salesperson has one sequence mailbox.",
        ),
    ]

    @api.constrains("sales_sequence_mailbox", "sales_sequence_user_id", "server_type")
    def _check_sales_sequence_mailbox(self):
        for server in self.filtered("sales_sequence_mailbox"):
            if not server.sales_sequence_user_id:
                raise ValidationError(_("A sequence mailbox belongs to a salesperson: set 'Mailbox Of'."))
            if server._get_connection_type() != "imap":
                raise ValidationError(
                    _(
                        "A sequence mailbox is read over IMAP (or Gmail/Outlook OAuth): POP would delete the "
                        "salesperson's mail from the server."
                    )
                )
            if server.object_id:
                raise ValidationError(_("A sequence mailbox never creates records: leave 'Create a New Record' empty."))

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    def fetch_mail(self, raise_exception=True):
        mailboxes = self.filtered("sales_sequence_mailbox")
        for mailbox in mailboxes:
            mailbox._fetch_sequence_mailbox(raise_exception=raise_exception)
        return super(FetchmailServer, self - mailboxes).fetch_mail(raise_exception=raise_exception)

    def _fetch_sequence_mailbox(self, raise_exception=True):
        """Read the new mail of a rep's mailbox, read-only, and hand every message to the gateway with this
        server in the context (the gateway then lets what belongs to no record stay the rep's mail)."""
        self.ensure_one()
        _logger.info("Reading sequence mailbox %s", self.name)
        connection = None
        try:
            connection = self.connect()
            uids = self._sequence_mailbox_new_uids(connection)
            for uid in uids[:MAX_MAILBOX_MESSAGES]:
                self._sequence_mailbox_process(connection, uid)
            self.write({"date": fields.Datetime.now(), "sales_sequence_error": False})
            _logger.info("Read %d message(s) from sequence mailbox %s", min(len(uids), MAX_MAILBOX_MESSAGES), self.name)
        except Exception as error:  # noqa: BLE001 - any failure (network, login, IMAP) is shown to the rep
            _logger.info("Could not read sequence mailbox %s", self.name, exc_info=True)
            self.write({"sales_sequence_error": str(error)[:200]})
            if raise_exception:
                raise ValidationError(
                    _("Couldn't read the mailbox %(name)s: %(error)s", name=self.name, error=error)
                ) from error
        finally:
            if connection:
                try:
                    connection.logout()
                except Exception:  # noqa: BLE001 - the session is over either way
                    _logger.info("Sequence mailbox %s: logout failed", self.name, exc_info=True)
        self._commit()

    def _sequence_mailbox_new_uids(self, connection):
        """The UIDs of the INBOX messages not read yet, oldest first. EXAMINE (read-only select): reading never
        flags a message as seen. A new UIDVALIDITY (mailbox rebuilt) starts again from the connection date."""
        typ, data = connection.select("INBOX", readonly=True)
        if typ != "OK":
            raise ValidationError(_("The mailbox has no INBOX: %(answer)s", answer=data))
        uidvalidity = self._sequence_mailbox_uidvalidity(connection)
        last_uid = self.sales_sequence_last_uid
        if uidvalidity != (self.sales_sequence_uidvalidity or ""):
            self.write({"sales_sequence_uidvalidity": uidvalidity, "sales_sequence_last_uid": 0})
            last_uid = 0
        if last_uid:
            criteria = f"UID {last_uid + 1}:*"
        else:
            since = self.sales_sequence_since or fields.Datetime.now()
            criteria = f"SINCE {since.day:02d}-{IMAP_MONTHS[since.month - 1]}-{since.year}"
        typ, data = connection.uid("SEARCH", None, criteria)
        if typ != "OK":
            raise ValidationError(_("The mailbox refused the search: %(answer)s", answer=data))
        # "UID n:*" always answers the last message, even when its UID is below n.
        return sorted(uid for uid in (int(u) for u in (data[0] or b"").split()) if uid > last_uid)

    def _sequence_mailbox_uidvalidity(self, connection):
        _typ, data = connection.response("UIDVALIDITY")
        value = data and data[0]
        if isinstance(value, bytes):
            match = UIDVALIDITY_RE.search(b"UIDVALIDITY " + value)
            return match.group(1).decode() if match else value.decode(errors="replace")
        return str(value or "")

    def _sequence_mailbox_process(self, connection, uid):
        """One message: BODY.PEEK leaves it unread; a message the gateway cannot take is skipped, never retried
        forever (the mailbox is the rep's; the sequences only listen)."""
        typ, data = connection.uid("FETCH", str(uid), "(BODY.PEEK[])")
        raw = next((part[1] for part in data or () if isinstance(part, tuple) and len(part) > 1), None)
        if typ == "OK" and raw:
            try:
                with self.env.cr.savepoint():
                    self.env["mail.thread"].with_context(
                        fetchmail_cron_running=True, default_fetchmail_server_id=self.id
                    ).message_process(False, raw, save_original=self.original, strip_attachments=not self.attach)
            except Exception:  # noqa: BLE001 - one broken message must not stop the mailbox
                _logger.info("Sequence mailbox %s: message UID %s not processed", self.name, uid, exc_info=True)
        self.write({"sales_sequence_last_uid": uid})
        self._commit()

    def _commit(self):
        # Like Odoo's fetch_mail (cron use only): each message is committed so a later failure does not read it again.
        self.env.cr.commit()  # pylint: disable=invalid-commit

    # ------------------------------------------------------------------
    # The gateway's questions
    # ------------------------------------------------------------------

    @api.model
    def _sales_sequence_mailbox_from_context(self):
        """The sequence mailbox the message being processed was read from, else an empty recordset."""
        server_id = self.env.context.get("default_fetchmail_server_id")
        if not server_id or not self.env.context.get("fetchmail_cron_running"):
            return self.browse()
        # sudo: the gateway runs as any user; only the flag is read, never the credentials
        server = self.sudo().browse(server_id).exists()
        return server if server.sales_sequence_mailbox else self.browse()
