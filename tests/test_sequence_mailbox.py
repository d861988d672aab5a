from datetime import datetime
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.mail.models.fetchmail import FetchmailServer

from . import test_conversation
from .test_conversation import WEDNESDAY_0800_UTC, ConversationCommon

REP_ADDRESS = "sally.sales@test.example.com"


class FakeImap:
    """An IMAP server's answers (what leaves the machine is mocked; Odoo's gateway runs for real). Records every
    command so tests can prove the mailbox is opened read-only and nothing is flagged."""

    def __init__(self, messages, uidvalidity=b"7"):
        self.messages = dict(messages)  # uid -> raw bytes
        self.uidvalidity = uidvalidity
        self.commands = []

    def select(self, mailbox="INBOX", readonly=False):
        self.commands.append(("select", mailbox, readonly))
        return "OK", [str(len(self.messages)).encode()]

    def response(self, code):
        return code, [self.uidvalidity]

    def uid(self, command, *args):
        self.commands.append(("uid", command, *args))
        if command == "SEARCH":
            criteria = args[-1]
            if criteria.startswith("UID "):
                first = int(criteria[4:].split(":")[0])
                uids = [uid for uid in self.messages if uid >= first] or [max(self.messages, default=0)]
            else:
                uids = list(self.messages)
            return "OK", [b" ".join(str(uid).encode() for uid in sorted(uids) if uid)]
        if command == "FETCH":
            uid = int(args[0])
            return "OK", [(f"{uid} (UID {uid} BODY[] {{n}}".encode(), self.messages[uid]), b")"]
        raise AssertionError(f"unexpected IMAP command {command}")

    def store(self, *args):
        raise AssertionError("a sequence mailbox never changes a flag")

    def logout(self):
        self.commands.append(("logout",))


class MailboxCommon(ConversationCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mailbox = cls.env["fetchmail.server"].create(
            {
                "name": "Sally's mailbox",
                "server_type": "imap",
                "server": "imap.test.example.com",
                "port": 993,
                "is_ssl": True,
                "user": REP_ADDRESS,
                "password": "secret",
                "state": "done",
                "sales_sequence_mailbox": True,
                "sales_sequence_user_id": cls.user_sales.id,
                "sales_sequence_since": datetime(2026, 12, 1),
            }
        )

    def _from_mailbox(self, raw, mailbox=None):
        """The real gateway, as fetchmail calls it for this server."""
        return (
            self.env["mail.thread"]
            .with_context(fetchmail_cron_running=True, default_fetchmail_server_id=(mailbox or self.mailbox).id)
            .message_process(False, raw.encode() if isinstance(raw, str) else raw)
        )

    def _direct_email(self, sender, subject="Question about your offer", message_id="<direct-1@customer.example.com>"):
        """A new email to the rep's own address: no thread, no Reply-To followed."""
        return (
            f"From: {sender}\r\nTo: Sally Sales <{REP_ADDRESS}>\r\nSubject: {subject}\r\n"
            f"Date: Tue, 08 Dec 2026 10:00:00 +0100\r\nMessage-ID: {message_id}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hi Sally, can we talk about pricing next week?\r\n"
        )

    def _counts(self):
        return (
            self.env["mail.message"].sudo().search_count([]),
            self.env["crm.lead"].sudo().with_context(active_test=False).search_count([]),
            self.env["res.partner"].sudo().with_context(active_test=False).search_count([]),
        )


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceMailboxGateway(MailboxCommon):
    def test_new_email_from_the_contact_to_the_rep_pauses(self):
        _sequence, enrollments = self._send_first_step()
        written, other = enrollments
        self._from_mailbox(self._direct_email(written.partner_id.email_formatted))
        self.assertEqual(written.state, "paused", "a contact who writes to the rep has replied")
        self.assertEqual(other.state, "active")
        self.assertTrue(written.event_ids.filtered(lambda e: e.event_type == "reply"))
        with self.at(WEDNESDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(len(written._done_touches()), 1, "no step 2 after the contact wrote")
        self.assertEqual(len(other._done_touches()), 2)

    def test_reply_from_anyone_in_the_thread_pauses_and_reaches_the_enrollment(self):
        _sequence, enrollments = self._send_first_step()
        raw = self._reply(enrollments[0], sender="Assistant <assistant@elsewhere.example>")
        self._from_mailbox(raw)
        self.assertEqual(enrollments[0].state, "paused")
        self.assertTrue(
            enrollments[0].message_ids.filtered(lambda m: "call me Thursday" in (m.body or "")),
            "a reply to a sequence email read from the mailbox lands in the enrollment's thread",
        )

    def test_out_of_office_to_the_rep_holds_and_bounce_stops(self):
        _sequence, enrollments = self._send_first_step()
        away, bounced = enrollments
        raw = self._direct_email(
            away.partner_id.email_formatted, subject="Automatic reply: Hello", message_id="<ooo-1@customer.example>"
        ).replace("MIME-Version", "Auto-Submitted: auto-replied\r\nMIME-Version")
        raw = raw.replace("Hi Sally, can we talk about pricing next week?", "I am out of the office until 20/12/2026.")
        self._from_mailbox(raw)
        self.assertEqual(away.state, "active", "an auto-reply is not a reply")
        self.assertEqual(away.next_run_at, datetime(2026, 12, 21, 8, 0), "held until the return day, 09:00")
        self._from_mailbox(
            test_conversation.TestAutoRepliesAndBounces._dsn(self, bounced)
        )  # a DSN mailed to the rep's address
        self.assertEqual(bounced.state, "bounced")

    def test_mail_of_no_record_stays_in_the_mailbox(self):
        before = self._counts()
        raw = self._direct_email("Newsletter <news@vendor.example>", subject="Our November news")
        with mute_logger("odoo.addons.mail.models.mail_thread"):
            with self.assertRaisesRegex(ValueError, "No possible route"):
                self.env["mail.thread"].message_process(False, raw.encode())
        self.assertFalse(self._from_mailbox(raw), "from the rep's mailbox: no route, no error")
        self.assertEqual(self._counts(), before, "no record, no message, no contact is created")
        self.assertFalse(self.env["mail.mail"].sudo().search([("email_to", "ilike", "news@vendor.example")]))

    def test_mail_to_an_alias_read_from_the_mailbox_creates_no_record(self):
        alias_domain = self.env["mail.alias.domain"].search([], limit=1)
        self.env["mail.alias"].create(
            {
                "alias_name": "leads",
                "alias_model_id": self.env["ir.model"]._get_id("crm.lead"),
                "alias_domain_id": alias_domain.id,
            }
        )
        raw = self._direct_email("Prospect <prospect@unknown.example>").replace(
            f"To: Sally Sales <{REP_ADDRESS}>", f"To: Sally Sales <{REP_ADDRESS}>, leads@{alias_domain.name}"
        )
        before = self._counts()
        self._from_mailbox(raw)
        self.assertEqual(self._counts(), before, "the alias gets its own copy; the rep's copy creates nothing")

    def test_the_same_message_from_catchall_and_mailbox_acts_once(self):
        _sequence, enrollments = self._send_first_step(contacts=self.contacts[:1])
        raw = self._direct_email(enrollments.partner_id.email_formatted, message_id="<twice@customer.example.com>")
        with mute_logger("odoo.addons.mail.models.mail_thread"):
            with self.assertRaises(ValueError):  # from the catchall: no record matches, Odoo says so
                self._process(raw)
        self._from_mailbox(raw)
        self.assertEqual(len(enrollments.event_ids.filtered(lambda e: e.event_type == "reply")), 1)
        self.assertEqual(len(enrollments.activity_ids), 1, "one activity for the owner")

    def test_an_ordinary_server_is_left_to_odoo(self):
        ordinary = self.mailbox.copy({"name": "catchall", "sales_sequence_mailbox": False, "user": "catchall"})
        raw = self._direct_email("Newsletter <news@vendor.example>")
        with mute_logger("odoo.addons.mail.models.mail_thread"):
            with self.assertRaisesRegex(ValueError, "No possible route"):
                self._from_mailbox(raw, mailbox=ordinary)


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceMailboxReading(MailboxCommon):
    def _read(self, imap):
        # fetch_mail commits after each message, like Odoo's: inside a test, the commit does nothing.
        with (
            patch.object(FetchmailServer, "connect", lambda server, allow_archived=False: imap),
            patch.object(self.env.cr, "commit", lambda: None),
        ):
            self.mailbox.fetch_mail()

    def test_reads_new_mail_read_only_once_and_pauses(self):
        _sequence, enrollments = self._send_first_step()
        imap = FakeImap(
            {
                11: self._direct_email("Newsletter <news@vendor.example>").encode(),
                12: self._direct_email(
                    enrollments[0].partner_id.email_formatted, message_id="<m12@c.example>"
                ).encode(),
            }
        )
        self._read(imap)
        self.assertIn(("select", "INBOX", True), imap.commands, "EXAMINE: nothing is flagged as read")
        fetches = [command for command in imap.commands if command[:2] == ("uid", "FETCH")]
        self.assertEqual([command[3] for command in fetches], ["(BODY.PEEK[])"] * 2)
        self.assertIn(("uid", "SEARCH", None, "SINCE 01-Dec-2026"), imap.commands, "first read: mail since connected")
        self.assertEqual(enrollments[0].state, "paused")
        self.assertEqual(enrollments[1].state, "active")
        self.assertEqual(self.mailbox.sales_sequence_last_uid, 12)
        self.assertEqual(self.mailbox.sales_sequence_uidvalidity, "7")
        self.assertTrue(self.mailbox.date, "the last read shows")
        self.assertFalse(self.mailbox.sales_sequence_error)

        imap.messages[13] = self._direct_email(
            enrollments[1].partner_id.email_formatted, message_id="<m13@c.example>"
        ).encode()
        imap.commands.clear()
        self._read(imap)
        self.assertIn(("uid", "SEARCH", None, "UID 13:*"), imap.commands, "then only what came after")
        self.assertEqual(len([c for c in imap.commands if c[:2] == ("uid", "FETCH")]), 1)
        self.assertEqual(enrollments[1].state, "paused")

        imap.commands.clear()
        self._read(imap)
        self.assertFalse([c for c in imap.commands if c[:2] == ("uid", "FETCH")], "nothing new, nothing read")

    def test_a_rebuilt_mailbox_is_read_again_from_the_connection_date(self):
        self.mailbox.write({"sales_sequence_uidvalidity": "6", "sales_sequence_last_uid": 500})
        imap = FakeImap({3: self._direct_email("Someone <someone@else.example>").encode()})
        self._read(imap)
        self.assertEqual(self.mailbox.sales_sequence_last_uid, 3)

    def test_a_failing_mailbox_shows_on_the_sequence(self):
        sequence = self._create_sequence()
        self.assertEqual(sequence.owner_mailbox_state, "connected")

        def refuse(server, allow_archived=False):
            raise OSError("login refused")

        with patch.object(FetchmailServer, "connect", refuse), patch.object(self.env.cr, "commit", lambda: None):
            self.env["fetchmail.server"]._fetch_mails()  # the cron: never raises
        self.assertIn("login refused", self.mailbox.sales_sequence_error)
        sequence.invalidate_recordset()
        self.assertEqual(sequence.owner_mailbox_state, "failing")
        self.assertEqual(self._create_sequence(user=self.user_sales_2).owner_mailbox_state, "none")

    def test_a_sequence_mailbox_is_imap_and_never_creates_records(self):
        with self.assertRaises(ValidationError):
            self.mailbox.copy({"name": "pop", "server_type": "pop", "sales_sequence_user_id": self.user_sales_2.id})
        with self.assertRaises(ValidationError):
            self.mailbox.copy(
                {
                    "name": "leads",
                    "object_id": self.env["ir.model"]._get_id("crm.lead"),
                    "sales_sequence_user_id": self.user_sales_2.id,
                }
            )


@tagged("post_install", "-at_install", "sales_sequence")
class TestMyMailboxWizard(ConversationCommon):
    def _connect(self, user, **values):
        wizard = (
            self.env["sales.sequence.mailbox.wizard"]
            .with_user(user)
            .create({"server": "imap.test.example.com", "login": user.email, "password": "pw", **values})
        )
        with patch.object(FetchmailServer, "connect", lambda server, allow_archived=False: FakeImap({})):
            wizard.action_connect()

    def _mailbox_of(self, user):
        return self.env["fetchmail.server"].search([("sales_sequence_user_id", "=", user.id)])

    def test_a_rep_connects_their_own_mailbox_in_a_few_fields(self):
        self._connect(self.user_sales)
        mailbox = self._mailbox_of(self.user_sales)
        self.assertRecordValues(
            mailbox,
            [{"server_type": "imap", "port": 993, "is_ssl": True, "state": "done", "sales_sequence_mailbox": True}],
        )
        self.assertEqual(mailbox.password, "pw")
        sequence = self._create_sequence()
        self.assertEqual(sequence.with_user(self.user_sales).owner_mailbox_state, "connected")

        again = self.env["sales.sequence.mailbox.wizard"].with_user(self.user_sales).new({})
        defaults = again.default_get(["server", "login", "password", "state"])
        self.assertEqual(defaults["state"], "connected")
        self.assertNotIn("password", defaults, "a saved password is never shown back")

        self._connect(self.user_sales, server="imap2.test.example.com", password=False)
        self.assertEqual(self._mailbox_of(self.user_sales), mailbox, "one mailbox per rep, updated")
        self.assertEqual((mailbox.server, mailbox.password), ("imap2.test.example.com", "pw"))

    def test_reps_never_see_incoming_servers_nor_each_others_mailbox(self):
        self._connect(self.user_sales)
        with self.assertRaises(AccessError):
            self.env["fetchmail.server"].with_user(self.user_sales).search([])
        other = self.env["sales.sequence.mailbox.wizard"].with_user(self.user_sales_2)
        self.assertEqual(other.default_get(["state", "server"]).get("state", "none"), "none")
        other.create({"server": "x", "login": "y"}).action_disconnect()
        self.assertTrue(self._mailbox_of(self.user_sales), "disconnecting touches only one's own mailbox")
        self._connect(self.user_sales_2)
        self.assertEqual(len(self.env["fetchmail.server"].search([("sales_sequence_mailbox", "=", True)])), 2)

    def test_a_failed_login_saves_nothing(self):
        def refuse(server, allow_archived=False):
            raise OSError("bad password")

        wizard = (
            self.env["sales.sequence.mailbox.wizard"]
            .with_user(self.user_sales)
            .create({"server": "imap.test.example.com", "login": "sally", "password": "wrong"})
        )
        with patch.object(FetchmailServer, "connect", refuse), self.assertRaises(UserError):
            with self.env.cr.savepoint():
                wizard.action_connect()
        self.assertFalse(self._mailbox_of(self.user_sales))
