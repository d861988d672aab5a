import smtplib
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MONDAY_0700_UTC, SalesSequenceCommon
from .test_send_batch import MONDAY_0800_UTC

BODY = (
    '<p>Hi <t t-out="object.name"/>, see <a href="https://example.com/tour">the tour</a> and '
    '<a href="https://example.com/pricing">our pricing</a>.</p>'
)


@tagged("post_install", "-at_install", "sales_sequence")
class TestSendTime(SalesSequenceCommon):
    """The mail queue's batch: the step runs read once, link trackers made once per URL, the sends recorded once
    per batch; exactly one send event and one contact note per email the queue marks sent, whatever stops it."""

    def _queued(self, size, tag):
        contacts = self.env["res.partner"].create(
            [{"name": f"Send {tag} {i}", "email": f"send.{tag}.{i}@customer.example.com"} for i in range(size)]
        )
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(name=f"Send {tag}", delays=(0, 2), tracking_enabled=True)
            sequence.step_ids[0].body_html = BODY
            sequence.action_activate()
            enrollments = sequence._enroll_partners(contacts)[0]
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), size)
        return sequence, enrollments

    def _send(self, enrollments):
        """The mail queue on these enrollments' emails: (all queries, the addon's own queries)."""
        Mail = self.env["mail.mail"].sudo().with_context(filters=[("res_id", "in", enrollments.ids)])
        self.env.flush_all()
        cursor_class = type(self.env.cr)
        original = cursor_class.execute
        ours = []

        def spy(cr, query, params=None, log_exceptions=True):
            code = str(getattr(query, "code", query))
            if "sales_sequence" in code or "link_tracker" in code:
                ours.append(code)
            return original(cr, query, params, log_exceptions)

        before = self.env.cr.sql_log_count
        with self.mock_mail_gateway(), patch.object(cursor_class, "execute", spy):
            Mail.process_email_queue()
            self.env.flush_all()
        return self.env.cr.sql_log_count - before, len(ours)

    def _sends_recorded(self, enrollments):
        events = self.env["sales.sequence.event"].search(
            [("enrollment_id", "in", enrollments.ids), ("event_type", "=", "send")]
        )
        notes = self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "in", enrollments.partner_id.ids),
                ("body", "ilike", "step 'Step 1' sent"),
            ]
        )
        return events, notes

    def test_the_addons_cost_per_email_is_one_statement(self):
        """Sending 15 emails instead of 5 costs the addon 10 statements more (each email's sent_at and links, in
        one), whatever the links, events and notes; Odoo's own cost per email is what it is for any email."""
        self._send(self._queued(2, "warmup")[1])
        small_total, small_ours = self._send(self._queued(5, "small")[1])
        large_total, large_ours = self._send(self._queued(15, "large")[1])
        self.assertLessEqual(large_ours - small_ours, 10, "one statement of the addon per email")
        # mass_mailing's send costs 25 queries per email (bench/bench_end_to_end.py): the addon stays below.
        self.assertLessEqual((large_total - small_total) / 10, 25, f"{small_total} then {large_total} queries")

    def test_trackers_are_made_once_per_url_and_each_email_carries_its_links(self):
        _sequence, enrollments = self._queued(6, "links")
        self._send(enrollments)
        touches = enrollments.touch_ids
        self.assertEqual(
            set(touches.link_tracker_ids.mapped("url")), {"https://example.com/tour", "https://example.com/pricing"}
        )
        self.assertEqual(len(touches.link_tracker_ids), 2, "one tracker per URL, shared by the emails")
        for touch in touches:
            self.assertEqual(len(touch.link_tracker_ids), 2)
            self.assertTrue(touch.sent_at)
            self.assertFalse(touch.record_pending)
        events, notes = self._sends_recorded(enrollments)
        self.assertEqual(len(events), 6)
        self.assertEqual(events.touch_id, touches)
        self.assertEqual(len(notes), 6)
        self.assertEqual(set(notes.mapped("res_id")), set(enrollments.partner_id.ids), "one note per contact")
        self.assertEqual(set(enrollments.partner_id.mapped("last_contacted_mode")), {"no_reply"})

    def test_the_smtp_session_drops_mid_batch(self):
        """The third email meets a dropped connection: the two sent are recorded once, the third is a lost send
        (handled by the run cron as a failure: the step goes again on resume), the others wait for the next run."""
        _sequence, enrollments = self._queued(5, "drop")
        mails = self.sequence_mails(enrollments).sorted("id")
        calls = []
        original = type(self.env["ir.mail_server"]).send_email

        def send_email(server, message, *args, **kwargs):
            calls.append(message["To"])
            if len(calls) == 3:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            return original(server, message, *args, **kwargs)

        with (
            patch.object(type(self.env["ir.mail_server"]), "send_email", send_email),
            mute_logger("odoo.addons.mail.models.mail_mail"),
        ):
            self._send(enrollments)
        sent = mails.exists().filtered(lambda m: m.state == "sent") | (mails - mails.exists())
        self.assertEqual(len(sent), 2, "two emails left before the drop (sent mails are deleted)")
        events, notes = self._sends_recorded(enrollments)
        self.assertEqual(len(events), 2)
        self.assertEqual(len(notes), 2)
        self.assertEqual(mails[2].state, "exception")
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        lost = enrollments.filtered(lambda e: e.touch_ids.failed)
        self.assertEqual(len(lost), 1)
        self.assertEqual(lost.state, "paused")
        self._send(enrollments)  # the rest of the queue
        events, notes = self._sends_recorded(enrollments)
        self.assertEqual(len(events), 4, "one per email sent, none for the lost one")
        self.assertEqual(len(notes), 4)
        self.assertEqual(set(events.touch_id.ids), set(enrollments.touch_ids.filtered("sent_at").ids))

    def test_sends_a_killed_mail_queue_could_not_record_are_recorded_once_by_the_run_cron(self):
        _sequence, enrollments = self._queued(3, "killed")
        Touch = self.env["sales.sequence.touch"].sudo()
        for touch in enrollments.touch_ids:  # what each email's commit holds when the worker dies before the end
            self.assertTrue(Touch._mark_sent(touch.id, []))
            self.assertFalse(Touch._mark_sent(touch.id, []), "marked once")
        self.assertEqual(self._sends_recorded(enrollments)[0], self.env["sales.sequence.event"])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
            self.run_cron()
        events, notes = self._sends_recorded(enrollments)
        self.assertEqual(len(events), 3)
        self.assertEqual(len(notes), 3)
        self.assertFalse(enrollments.touch_ids.filtered("record_pending"))
