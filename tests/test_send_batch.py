from datetime import datetime, timedelta

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MONDAY_0700_UTC, SalesSequenceCommon

MONDAY_0800_UTC = datetime(2026, 12, 7, 8, 0)


@tagged("post_install", "-at_install", "sales_sequence")
class TestSendBatch(SalesSequenceCommon):
    """The run cron sends a chunk with one create per kind of row: its cost per email is constant, whatever the
    chunk size, and the chatter history stays."""

    def _due(self, size, tag):
        contacts = self.env["res.partner"].create(
            [{"name": f"Batch {tag} {i}", "email": f"batch.{tag}.{i}@customer.example.com"} for i in range(size)]
        )
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(name=f"Batch {tag}", delays=(0, 2))
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(contacts)
        return sequence, enrollments

    def _queries_to_send(self, size, chunk_size, tag):
        sequence, enrollments = self._due(size, tag)
        self.env.flush_all()
        self.env.cr.precommit.run()
        with self.at(MONDAY_0800_UTC):
            before = self.env.cr.sql_log_count
            self.env["sales.sequence.enrollment"].with_user(self.cron.user_id)._cron_run_sequences(
                chunk_size=chunk_size
            )
            self.env.flush_all()
            queries = self.env.cr.sql_log_count - before
        self.assertEqual(len(enrollments.touch_ids), size)
        sequence.action_pause()  # out of the next measure's due set
        return queries

    def test_cost_per_email_is_constant_with_the_chunk_size(self):
        """A chunk costs a fixed number of queries plus a per-email part; the per-email part is the same whatever
        the chunk size (no query per email, nothing that grows with the chunk)."""
        self._queries_to_send(5, 5, "warmup")
        chunk_cost = {}
        for chunk_size in (10, 25, 50):
            one_chunk = self._queries_to_send(chunk_size, chunk_size, f"one{chunk_size}")
            two_chunks = self._queries_to_send(2 * chunk_size, chunk_size, f"two{chunk_size}")
            chunk_cost[chunk_size] = two_chunks - one_chunk
        per_email_small = (chunk_cost[25] - chunk_cost[10]) / 15
        per_email_large = (chunk_cost[50] - chunk_cost[25]) / 25
        self.assertLessEqual(per_email_small, 0.5, f"chunk costs {chunk_cost}")
        self.assertLessEqual(per_email_large, 0.5, f"chunk costs {chunk_cost}")
        self.assertLessEqual(abs(per_email_large - per_email_small), 0.3, f"chunk costs {chunk_cost}")
        total = self._queries_to_send(100, 50, "total")
        self.assertLessEqual(total / 100, 3, f"{total} queries for 100 emails")

    def test_chatter_history_and_threading_are_kept(self):
        enrollments = self._due(3, "chatter")[1]
        with self.mock_mail_gateway(), self.at(MONDAY_0800_UTC):
            self.run_cron()
            for enrollment in enrollments:
                self.assertFalse(
                    enrollment.partner_id.message_ids.filtered(lambda m: "step 'Step 1' sent" in (m.body or "")),
                    "no note before the email left",
                )
            self.env["mail.mail"].sudo().process_email_queue()
        for enrollment in enrollments:
            message = enrollment.message_ids.filtered(lambda m: m.message_type == "comment")
            self.assertEqual(message.subject, f"Hello {enrollment.partner_id.name}")
            self.assertEqual(message.partner_ids, enrollment.partner_id)
            self.assertEqual(message.message_id, enrollment.touch_ids.message_id)
            self.assertEqual(message.notification_ids.res_partner_id, enrollment.partner_id)
            self.assertEqual(message.notification_ids.notification_status, "sent")
            note = enrollment.partner_id.message_ids.filtered(lambda m: "step 'Step 1' sent" in (m.body or ""))
            self.assertEqual(len(note), 1, "a note on the contact")
            self.assertFalse(
                enrollment.message_ids.tracking_value_ids, "no tracking message for the cron's own state changes"
            )
        with self.at(MONDAY_0800_UTC + timedelta(days=2)):
            self.run_cron()
        first, _second = enrollments[0].touch_ids.sorted("date")
        mail = self.sequence_mails(enrollments[0]).filtered(lambda m: m.subject.startswith("Re: "))
        self.assertEqual(mail.subject, f"Re: Hello {enrollments[0].partner_id.name}")
        self.assertEqual(mail.references, first.message_id, "the ancestors only (RFC 5322)")
        self.assertIn(first.message_id, mail.headers)

    def test_one_bad_email_does_not_stop_the_chunk(self):
        sequence, enrollments = self._due(4, "bad")
        sequence.step_ids[0].email_cc = "cc@example.com"
        # Another worker sent step 1 to the second contact in the meantime: the unique index refuses ours.
        self.env["sales.sequence.touch"].sudo().create(
            {"enrollment_id": enrollments[1].id, "step_id": sequence.step_ids[0].id, "subject": "Sent elsewhere"}
        )
        with (
            self.at(MONDAY_0800_UTC),
            mute_logger("odoo.sql_db", "odoo.addons.sales_sequence.models.sales_sequence_enrollment_email"),
        ):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 3, "the others were sent")
        self.assertEqual(enrollments[1].state, "blocked")
        self.assertEqual(len(enrollments[1].touch_ids), 1, "never twice")
        self.assertEqual(set((enrollments - enrollments[1]).mapped("step_id.name")), {"Step 2"})

    def test_archiving_a_sequence_takes_its_enrollments_out_of_the_due_set(self):
        sequence, enrollments = self._due(3, "archive")
        with self.at(MONDAY_0800_UTC):
            sequence.action_archive()
        self.assertEqual(set(enrollments.mapped("state")), {"paused"})
        self.assertIn("archived", enrollments[0].state_reason)
        Enrollment = self.env["sales.sequence.enrollment"]
        self.assertEqual(Enrollment._count_due(MONDAY_0800_UTC + timedelta(days=30)), 0)
        self.env.cr.execute(
            "SELECT count(*) FROM sales_sequence_enrollment WHERE state IN ('active', 'queued') AND id = ANY(%s)",
            [enrollments.ids],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "nothing dead in the due index")
        with self.at(MONDAY_0800_UTC):
            sequence.action_unarchive()
        self.assertEqual(set(enrollments.mapped("state")), {"active"})
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(len(enrollments.touch_ids), 3)

    def test_deleting_a_sequence_leaves_nothing_due(self):
        sequence, enrollments = self._due(2, "delete")
        ids = enrollments.ids
        sequence.unlink()
        self.env.cr.execute("SELECT count(*) FROM sales_sequence_enrollment WHERE id = ANY(%s)", [ids])
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def test_next_run_at_has_only_the_partial_due_index(self):
        self.env.cr.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'sales_sequence_enrollment' "
            "AND indexdef LIKE '%%next_run_at%%'"
        )
        self.assertEqual([row[0] for row in self.env.cr.fetchall()], ["sales_sequence_enrollment_due_idx"])

    def test_two_run_jobs_are_woken_so_two_workers_share_the_sends(self):
        first = self.env.ref("sales_sequence.ir_cron_run_sequences")
        second = self.env.ref("sales_sequence.ir_cron_run_sequences_parallel")
        self.assertEqual(first.code, second.code)
        with (
            self.capture_triggers("sales_sequence.ir_cron_run_sequences") as woken_first,
            self.capture_triggers("sales_sequence.ir_cron_run_sequences_parallel") as woken_second,
        ):
            self._due(2, "wake")
        self.assertTrue(woken_first.records)
        self.assertEqual(woken_first.records.mapped("call_at"), woken_second.records.mapped("call_at"))

    def test_two_failed_emails_rewind_to_the_earliest_step(self):
        """Both emails were queued before the first failure was known: resuming sends step 1 again, never skips it."""
        sequence = self._create_sequence(name="Two failures", delays=(0, 0))
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollment = sequence._enroll_partners(self.contacts[:1])[0]
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        with self.at(MONDAY_0800_UTC + timedelta(minutes=6)):
            self.run_cron()
        first, second = enrollment.touch_ids.sorted("date")
        self.assertEqual(enrollment.state, "finished")
        for touch in (first, second):  # the mail queue reports each failure, step 1 first
            enrollment._on_send_failure(touch, "Connection refused")
        self.assertEqual(enrollment.state, "paused")
        self.assertEqual(enrollment.step_id, sequence.step_ids[0], "the earliest failed step")
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            enrollment.action_resume()
            self.run_cron()
        with self.at(MONDAY_0800_UTC + timedelta(hours=1, minutes=6)):
            self.run_cron()
        sent_steps = enrollment.touch_ids.filtered(lambda t: not t.failed).step_id
        self.assertEqual(sent_steps, sequence.step_ids, "each step once")
        self.assertEqual(enrollment.state, "finished")

    def test_an_email_left_in_exception_without_a_report_is_a_send_failure(self):
        """The SMTP connection dropped mid-send: Odoo left the mail in exception without its post-send hook."""
        enrollment = self._due(1, "lost")[1]
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        mail = self.sequence_mails(enrollment)
        mail.write({"state": "exception", "failure_reason": "SMTPServerDisconnected"})
        with self.at(MONDAY_0800_UTC + timedelta(minutes=10)):
            self.run_cron()
        self.assertTrue(enrollment.touch_ids.failed)
        self.assertEqual(enrollment.state, "paused")
        self.assertIn("SMTPServerDisconnected", enrollment.state_reason)
        self.assertEqual(enrollment.step_id, enrollment.sequence_id.step_ids[0])
