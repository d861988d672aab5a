"""Sequence emails read as one-to-one mail (issue 17, item 2): the reply address names the sender, List-* headers
are a per-sequence choice, References lists only ancestors, and activation says when routing would go wrong."""

from odoo.tests import tagged

from .common import MONDAY_0700_UTC
from .test_conversation import MONDAY_0800_UTC, ConversationCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestOneToOneMail(ConversationCommon):
    def test_default_email_has_no_list_headers_but_the_link_in_the_body(self):
        _sequence, enrollments = self._send_first_step(contacts=self.contacts[:1])
        mail = self.sequence_mails(enrollments)
        self.assertNotIn("List-Unsubscribe", mail.headers, "Sieve vacation and Exchange answer one-to-one mail")
        body = mail._prepare_outgoing_body()  # the link is added as the mail queue sends (TestSmtpEndToEnd)
        self.assertIn("/sales_sequence/unsubscribe/", body, "the unsubscribe link is in the body")
        self.assertFalse(mail.references, "step 1 has no ancestor")
        self.assertIn(self.user_sales.name, mail.reply_to)
        self.assertNotIn("Outbound", mail.reply_to, "the internal sequence name never shows")

    def test_list_headers_when_the_sequence_asks_for_them(self):
        _sequence, enrollments = self._send_first_step(contacts=self.contacts[:1], use_list_headers=True)
        mail = self.sequence_mails(enrollments)
        self.assertIn("List-Unsubscribe-Post", mail.headers)

    def _activate(self, **values):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(delays=(0,), **values)
            return sequence, sequence.with_user(self.user_sales).action_activate()

    def test_activation_warns_when_replies_cannot_come_back(self):
        self.env.company.alias_domain_id = False
        sequence, action = self._activate()
        self.assertEqual(sequence.state, "active", "a warning, not a refusal")
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("no alias domain", action["params"]["message"])
        self.assertTrue(sequence.message_ids.filtered(lambda m: "no alias domain" in (m.body or "")))

    def test_activation_warns_when_the_owner_address_would_be_replaced(self):
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create({"name": "Only notifications", "smtp_host": "localhost"})
        _sequence, action = self._activate()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("no outgoing mail server accepts sally.sales@test.example.com", action["params"]["message"])

    def test_activation_is_quiet_when_routing_is_right(self):
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create({"name": "Ours", "smtp_host": "localhost", "from_filter": "test.example.com"})
        _sequence, action = self._activate()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])

    def test_reply_to_a_follow_up_still_threads(self):
        _sequence, enrollments = self._send_first_step(contacts=self.contacts[:1])
        with self.at(MONDAY_0800_UTC):
            self._process(self._reply(enrollments))
        self.assertEqual(enrollments.state, "paused")
