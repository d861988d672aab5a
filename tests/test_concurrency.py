import uuid
from contextlib import closing
from datetime import timedelta

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceConcurrency(TransactionCase):
    """Two workers on real, separate database connections: what one has locked, the other skips, and no step is
    ever sent twice. The data is committed (a second connection cannot see the test transaction), then removed."""

    def setUp(self):
        super().setUp()
        suffix = uuid.uuid4().hex[:8]
        with closing(self.registry.cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            calendar = env["resource.calendar"].create(
                {
                    "name": "Always open (concurrency test)",
                    "tz": "UTC",
                    "attendance_ids": [Command.clear()]
                    + [
                        Command.create({"name": str(day), "dayofweek": str(day), "hour_from": 0, "hour_to": 24})
                        for day in range(7)
                    ],
                }
            )
            user = env["res.users"].create(
                {
                    "name": "Concurrent Seller",
                    "login": f"seq_concurrency_{suffix}",
                    "email": "concurrent@test.example.com",
                }
            )
            partners = env["res.partner"].create(
                [{"name": f"Concurrent {i}", "email": f"concurrent{i}@customer.example.com"} for i in range(6)]
            )
            sequence = env["sales.sequence"].create(
                {
                    "name": f"Concurrency test sequence {suffix}",
                    "user_id": user.id,
                    "calendar_id": calendar.id,
                    "daily_limit": 0,
                    "step_ids": [
                        Command.create({"name": "One", "subject": "One", "body_html": "<p>One</p>"}),
                        Command.create({"name": "Two", "delay_days": 2, "body_html": "<p>Two</p>"}),
                    ],
                }
            )
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(partners)
            enrollments.write({"next_run_at": fields.Datetime.now() - timedelta(minutes=5)})
            # A second connection must see the data: it has to be committed.
            cr.commit()  # pylint: disable=invalid-commit
            self.ids = {
                "calendar": calendar.id,
                "user": user.id,
                "partners": partners.ids,
                "sequence": sequence.id,
                "enrollments": enrollments.ids,
            }
        self.addCleanup(self._remove_committed_data)

    def _remove_committed_data(self):
        with closing(self.registry.cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["mail.mail"].search(
                [("model", "=", "sales.sequence.enrollment"), ("res_id", "in", self.ids["enrollments"])]
            ).unlink()
            env["mail.message"].search(
                [
                    "|",
                    "&",
                    ("model", "=", "sales.sequence.enrollment"),
                    ("res_id", "in", self.ids["enrollments"]),
                    "&",
                    ("model", "=", "res.partner"),
                    ("res_id", "in", self.ids["partners"]),
                ]
            ).unlink()
            # What was sent is history that no user deletes: only this test's own cleanup removes it, in SQL.
            cr.execute("DELETE FROM sales_sequence_touch WHERE sequence_id = %s", [self.ids["sequence"]])
            env["sales.sequence"].browse(self.ids["sequence"]).unlink()
            env["res.partner"].browse(self.ids["partners"]).unlink()
            user = env["res.users"].browse(self.ids["user"])
            partner = user.partner_id
            user.unlink()
            partner.unlink()
            env["resource.calendar"].browse(self.ids["calendar"]).unlink()
            # A second connection must see the data: it has to be committed.
            cr.commit()  # pylint: disable=invalid-commit

    def _worker(self):
        """A cron worker of its own: a new connection and transaction."""
        cr = self.registry.cursor()
        self.addCleanup(cr.close)
        return cr, api.Environment(cr, SUPERUSER_ID, {})["sales.sequence.enrollment"]

    def _sent_steps(self):
        with closing(self.registry.cursor()) as cr:
            cr.execute(
                "SELECT enrollment_id, step_id FROM sales_sequence_touch WHERE enrollment_id IN %s",
                [tuple(self.ids["enrollments"])],
            )
            return cr.fetchall()

    def test_two_workers_at_once_and_a_lock_held_elsewhere(self):
        enrollment_ids = self.ids["enrollments"]
        locker_cr, _locker = self._worker()
        # Another transaction (a "send now", the mail gateway...) holds two of the enrollments.
        locker_cr.execute(
            "SELECT id FROM sales_sequence_enrollment WHERE id IN %s FOR UPDATE", [tuple(enrollment_ids[:2])]
        )

        cr_a, worker_a = self._worker()
        cr_b, worker_b = self._worker()
        done_a = worker_a._cron_run_sequences()
        # Worker A has not committed yet: its rows are locked, worker B must skip them all.
        done_b = worker_b._cron_run_sequences()
        self.assertEqual(done_a, 4, "worker A skips the two rows held elsewhere")
        self.assertEqual(done_b, 0, "worker B skips everything worker A holds")
        cr_a.commit()
        cr_b.rollback()

        self.assertEqual(len(self._sent_steps()), 4)
        # Same minute, again: what A sent is no longer due; the two held rows are still held.
        self.assertEqual(worker_b._cron_run_sequences(), 0)
        cr_b.commit()

        locker_cr.rollback()
        self.assertEqual(worker_b._cron_run_sequences(), 2)
        cr_b.commit()
        self.assertEqual(worker_a._cron_run_sequences(), 0)
        cr_a.commit()

        sent = self._sent_steps()
        self.assertEqual(len(sent), 6)
        self.assertEqual(len(set(sent)), 6, "no step was sent twice to one enrollment")
        with closing(self.registry.cursor()) as cr:
            cr.execute(
                "SELECT count(*) FROM mail_mail m JOIN mail_message msg ON msg.id = m.mail_message_id "
                "WHERE msg.model = 'sales.sequence.enrollment' AND msg.res_id IN %s",
                [tuple(enrollment_ids)],
            )
            self.assertEqual(cr.fetchone()[0], 6, "one queued email per enrollment")

    def test_a_crash_mid_batch_sends_nothing_twice(self):
        """A worker that dies before committing leaves no trace: the next run sends each step exactly once."""
        cr_a, worker_a = self._worker()
        self.assertEqual(worker_a._cron_run_sequences(), 6)
        cr_a.rollback()  # the worker was killed: its transaction never committed
        self.assertEqual(self._sent_steps(), [])
        cr_b, worker_b = self._worker()
        self.assertEqual(worker_b._cron_run_sequences(), 6)
        cr_b.commit()
        sent = self._sent_steps()
        self.assertEqual(len(sent), 6)
        self.assertEqual(len(set(sent)), 6)
