import unittest
from datetime import timedelta

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MONDAY_0700_UTC, SalesSequenceCommon

try:  # queue_job is optional: its path is tested where it is installed in the test database
    from odoo.addons.queue_job.job import Job
except ImportError:  # pragma: no cover - depends on the machine
    Job = None

MONDAY_1000_UTC = MONDAY_0700_UTC + timedelta(hours=3)


@tagged("post_install", "-at_install")
class TestParallelSenders(SalesSequenceCommon):
    """Settings > Parallel senders: that many run cron jobs, shared by the cron workers of every Odoo host."""

    def _save_settings(self, **values):
        self.env["res.config.settings"].create(values).execute()

    def _run_crons(self):
        return self.env["sales.sequence.enrollment"]._run_crons()

    def _all_run_crons(self):
        data = self.env["sales.sequence.enrollment"]._run_cron_xmlids()
        return self.env["ir.cron"].with_context(active_test=False).browse([data[key].res_id for key in sorted(data)])

    def test_default_is_the_two_jobs_the_module_ships(self):
        self.assertEqual(self.env["res.config.settings"].create({}).sales_sequence_parallel_senders, 2)
        self.assertEqual(
            self._run_crons(),
            self.env.ref("sales_sequence.ir_cron_run_sequences")
            | self.env.ref("sales_sequence.ir_cron_run_sequences_parallel"),
        )

    def test_more_senders_make_copies_of_the_run_job_that_survive_an_update(self):
        self._save_settings(sales_sequence_parallel_senders=5)
        crons = self._run_crons()
        self.assertEqual(len(crons), 5)
        self.assertEqual(set(crons.mapped("code")), {"model._cron_run_sequences()"})
        self.assertEqual(crons[2].name, "Sales Sequences: run due steps (sender 3)")
        copies = (
            self.env["ir.model.data"]
            .search(
                [
                    ("module", "=", "sales_sequence"),
                    ("name", "=like", "ir_cron_run_sequences_%"),
                    ("model", "=", "ir.cron"),
                ]
            )
            .filtered(lambda data: data.name[-1].isdigit())
        )
        self.assertEqual(sorted(copies.mapped("name")), [f"ir_cron_run_sequences_{n}" for n in (3, 4, 5)])
        self.assertTrue(all(copies.mapped("noupdate")), "a module update keeps the copies")
        self.assertEqual(
            int(self.env["ir.config_parameter"].get_param("sales_sequence.parallel_senders")), 5, "the parameter"
        )

    def test_fewer_senders_archive_the_jobs_above_and_more_again_unarchive_them(self):
        self._save_settings(sales_sequence_parallel_senders=4)
        made = self._all_run_crons()
        self._save_settings(sales_sequence_parallel_senders=1)
        self.assertEqual(self._run_crons(), self.env.ref("sales_sequence.ir_cron_run_sequences"))
        self.assertEqual(made.mapped("active"), [True, False, False, False])
        self._save_settings(sales_sequence_parallel_senders=3)
        self.assertEqual(self._all_run_crons(), made, "archived jobs come back, no new copy")
        self.assertEqual(made.mapped("active"), [True, True, True, False])

    def test_an_archived_first_job_is_not_undone_by_the_setting(self):
        """Archiving the run job stops the sends: saving the settings must not start them again elsewhere."""
        self.env.ref("sales_sequence.ir_cron_run_sequences").active = False
        self._save_settings(sales_sequence_parallel_senders=3)
        self.assertFalse(self._run_crons())

    def test_every_run_job_is_woken_when_enrollments_fall_due(self):
        self._save_settings(sales_sequence_parallel_senders=3)
        sequence = self._create_sequence(delays=(0,))
        crons = self._run_crons()
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollments = sequence._enroll_partners(self.contacts[:2])[0]
            with (
                self.capture_triggers(crons[0].id) as first,
                self.capture_triggers(crons[2].id) as third,
            ):
                enrollments._wake_cron_for_due()
        self.assertTrue(first.records)
        self.assertEqual(first.records.mapped("call_at"), third.records.mapped("call_at"))

    def test_out_of_range_is_refused_naming_the_setting(self):
        for value in (0, -1, 33):
            with self.assertRaises(ValidationError) as caught:
                self.env["res.config.settings"].create({"sales_sequence_parallel_senders": value})
            self.assertIn("Parallel Senders must be between 1 and 32", str(caught.exception))
        self.assertEqual(len(self._run_crons()), 2, "nothing changed")

    def test_queue_job_option_is_refused_without_queue_job(self):
        if self.env["sales.sequence.enrollment"]._queue_job_installed():
            self.skipTest("queue_job is installed in this database: the option is allowed")
        with self.assertRaises(ValidationError) as caught:
            self.env["res.config.settings"].create({"sales_sequence_use_queue_job": True})
        self.assertIn("install it", str(caught.exception))
        self.assertFalse(self.env["sales.sequence.enrollment"]._run_with_queue_job())

    def test_two_senders_share_a_due_set_without_sending_twice(self):
        """What two hosts' cron workers do: each run job takes the chunks the other has not locked."""
        sequence = self._create_sequence(delays=(0,))
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollments = sequence._enroll_partners(self.contacts)[0]
        Enrollment = self.env["sales.sequence.enrollment"]
        with self.at(MONDAY_1000_UTC):
            first = Enrollment._cron_run_sequences(chunk_size=4, batch_size=4)
            second = Enrollment._cron_run_sequences(chunk_size=4, batch_size=8)
        self.assertEqual((first, second), (4, 6))
        self.assertEqual(set(enrollments.mapped("state")), {"finished"})
        self.assertEqual(len(enrollments.touch_ids), 10)


@tagged("post_install", "-at_install")
@unittest.skipIf(Job is None, "queue_job is not importable here (pip install 'odoo-addon-queue-job>=18.0,<18.1')")
class TestRunWithQueueJob(SalesSequenceCommon):
    """With queue_job installed and chosen, the run cron queues one job per sender on root.sales_sequence; each
    job runs one locked chunk and queues its successor in its own transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env["sales.sequence.enrollment"]._queue_job_installed():
            raise unittest.SkipTest(
                "queue_job is importable but not installed in the test database (tools/run-tests installs it "
                "when SALES_SEQUENCE_QUEUE_JOB=1)"
            )

    def _jobs(self):
        return self.env["queue.job"].search(
            [("model_name", "=", "sales.sequence.enrollment"), ("method_name", "=", "_job_run_due_chunk")]
        )

    def _perform(self, jobs):
        for record in jobs:
            job = Job.load(self.env, record.uuid)
            job.set_started()
            job.store()  # as queue_job commits it before the job runs: its successor is not taken for a duplicate
            job.perform()
            job.set_done()
            job.store()

    def test_the_cron_queues_jobs_that_drain_the_due_set_once(self):
        self.env["res.config.settings"].create(
            {"sales_sequence_use_queue_job": True, "sales_sequence_parallel_senders": 2}
        ).execute()
        channel = self.env["queue.job.channel"].search([("complete_name", "=", "root.sales_sequence")])
        self.assertTrue(channel, "the channel is made when the option is saved")
        if "capacity" in channel._fields:
            self.assertEqual(channel.capacity, 2, "one job at a time per parallel sender")
        sequence = self._create_sequence(delays=(0,))
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollments = sequence._enroll_partners(self.contacts)[0]
        Enrollment = self.env["sales.sequence.enrollment"]
        with self.at(MONDAY_1000_UTC):
            self.assertEqual(Enrollment._cron_run_sequences(chunk_size=4), 3, "one job per due chunk, at most")
            self.assertEqual(Enrollment._cron_run_sequences(chunk_size=2), 5, "3 per sender at most")
            jobs = self._jobs()
            self.assertEqual(len(jobs), 5, "a slot's job still waiting is not queued twice")
            self.assertEqual(set(jobs.mapped("channel")), {"root.sales_sequence"})
            self.assertFalse(enrollments.touch_ids, "the cron only queued")
            for _round in range(5):
                pending = self._jobs().filtered(lambda job: job.state == "pending")
                if not pending:
                    break
                self._perform(pending)
        self.assertEqual(set(enrollments.mapped("state")), {"finished"})
        self.assertEqual(len(enrollments.touch_ids), 10, "each enrollment's step ran once")
        # The same job run again (queue_job requeues a job killed mid-way) finds nothing left to send.
        with self.at(MONDAY_1000_UTC):
            self.assertEqual(Enrollment._job_run_due_chunk(0, 4), 0)
        self.assertEqual(len(enrollments.touch_ids), 10)
