import logging
import threading
from collections import Counter
from datetime import timedelta

from markupsafe import Markup
from psycopg2.errors import SerializationFailure

from odoo import _, api, fields, models
from odoo.tools import SQL

from .sales_sequence_enrollment import DUE_STATES, cached_schedule

_logger = logging.getLogger(__name__)

# A step due inside its window may still leave this long after, though the window has closed since: the cron
# wakes up to 5 minutes late (TRIGGER_BUCKET), plus its own run time.
LATE_GRACE = timedelta(minutes=15)
# Enrollments locked and committed together; a crash loses at most one chunk's work, never sends it twice.
CHUNK_SIZE = 50
# Enrollments one cron call handles before reporting progress and letting Odoo call it again.
BATCH_SIZE = 500
# Times a cron call takes a new snapshot when locking due rows meets another worker's fresh commit.
MAX_LOCK_RETRIES = 5


class SalesSequenceEnrollment(models.Model):
    """The run cron: lock the due enrollments chunk by chunk, run the checks every step type shares, then hand each
    (sequence, step) group to its type's executor, `_run_<step_type>`. It knows no step type: a step type joins
    with its own executor file, and a check of one step type joins through `_hold_before_step` (super())."""

    _inherit = "sales.sequence.enrollment"

    @api.model
    def _cron_run_sequences(self, batch_size=BATCH_SIZE, chunk_size=CHUNK_SIZE):
        """Run the due step of due enrollments, chunk by chunk, each chunk locked, run and committed on its own."""
        now = fields.Datetime.now()
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        # The cron's own state changes are not tracked in the chatter: its events (the timeline) say what happened.
        self = self.with_context(mail_notrack=True)  # noqa: PLW0642 - the whole run works in this context
        # First, while the transaction's snapshot is fresh: these lock rows other workers update.
        self._record_sent_emails()  # what a mail queue killed mid-batch sent but could not record
        self._fail_lost_sends()
        self._before_run_chunks(now)
        if self._run_with_queue_job():
            return self._enqueue_run_jobs(now, chunk_size)
        done = retries = 0
        blocked = self.browse()
        while done < batch_size:
            try:
                with self.env.cr.savepoint():
                    enrollments = self._lock_due(now, min(chunk_size, batch_size - done))
            except SerializationFailure:
                # Another worker committed a row of our old snapshot (repeatable read): a new transaction sees it.
                if not auto_commit or retries >= MAX_LOCK_RETRIES:
                    raise
                retries += 1
                self.env.cr.commit()  # pylint: disable=invalid-commit
                continue
            if not enrollments:
                break
            blocked |= enrollments._run_due_step(now)
            done += len(enrollments)
            if auto_commit:
                # Progress with each chunk: a worker killed later has not run "without progress" for Odoo, which
                # would otherwise take it for a timeout and postpone the job.
                self.env["ir.cron"]._notify_progress(done=done, remaining=1)
                # Commit per chunk releases the row locks and makes each chunk's sends final on their own.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        blocked._notify_blocked()
        remaining = self._count_due(now)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _before_run_chunks(self, now):
        """Hook: what a run decides once, before its chunks (the safety rules' bounce rates)."""

    def _due_where(self, now):
        return SQL(
            "e.state IN %s AND e.next_run_at <= %s AND e.active AND s.state = 'active' AND s.active",
            DUE_STATES,
            now,
        )

    def _lock_due(self, now, limit):
        """Due enrollments no other worker holds, locked until commit; rows another worker holds are skipped.
        Ordered by the due time alone: the partial due index gives that order and the scan stops at the limit,
        where a tie-break on id would read and sort every due row (an audience's thousands share one slot)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT e.id FROM sales_sequence_enrollment e
                  JOIN sales_sequence s ON s.id = e.sequence_id
                 WHERE %s
              ORDER BY e.next_run_at
                 LIMIT %s
                   FOR NO KEY UPDATE OF e SKIP LOCKED
                """,
                self._due_where(now),
                limit,
            )
        )
        enrollments = self.browse([row[0] for row in self.env.cr.fetchall()])
        # Another worker may have moved them on before we got the lock: read their committed values.
        enrollments.invalidate_recordset()
        return enrollments

    def _count_due(self, now):
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT count(*) FROM sales_sequence_enrollment e JOIN sales_sequence s ON s.id = e.sequence_id "
                "WHERE %s",
                self._due_where(now),
            )
        )
        return self.env.cr.fetchone()[0]

    def _run_due_step(self, now):
        """Dispatch the due enrollments, per sequence and step, to the step type's executor (`_run_<type>`).
        Returns those this run blocked."""
        was_blocked = set(self.filtered(lambda e: e.state == "blocked").ids)
        schedules = {}
        smart = self.filtered(lambda e: e.sequence_id.sequence_type == "smart")
        classic = self - smart
        classic.filtered(lambda e: not e.step_id)._finish()
        groups = classic.filtered("step_id").grouped(lambda e: (e.sequence_id, e.step_id))
        for key, enrollments in smart._pick_smart_steps(now, schedules).items():
            groups[key] = groups.get(key, self.browse()) | enrollments
        for (sequence, step), enrollments in groups.items():
            try:
                with self.env.cr.savepoint():
                    cached_schedule(schedules, sequence).next_slot(now)
                    enrollments._run_step(step, now, schedules)
            except Exception as error:  # noqa: BLE001 - a broken sequence must not stop the others' sends
                _logger.warning("Sequence %s: step %s could not run", sequence.id, step.id, exc_info=True)
                enrollments._block(_("Step '%(step)s' could not run: %(error)s", step=step.name, error=error))
        return self.filtered(lambda e: e.state == "blocked" and e.id not in was_blocked)

    def _notify_blocked(self):
        """Tell each sequence's owner, once per run, how many of its enrollments this run blocked and why: one
        activity on the sequence (not one per enrollment), its note updated while it is not done."""
        if not self:
            return
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        summary = _("Blocked enrollments")
        model_id = self.env["ir.model"]._get_id("sales.sequence")
        by_sequence = self.grouped("sequence_id")
        # sudo: the cron tells the owner; the activity is the owner's, on their own sequence.
        Activity = self.env["mail.activity"].sudo()
        existing = Activity.search(
            [
                ("res_model", "=", "sales.sequence"),
                ("res_id", "in", [sequence.id for sequence in by_sequence]),
                ("activity_type_id", "=", activity_type.id),
                ("summary", "=", summary),
            ]
        ).grouped(lambda activity: activity.res_id)
        to_create = []
        for sequence, enrollments in by_sequence.items():
            note = self._blocked_note(enrollments)
            if existing.get(sequence.id):
                existing[sequence.id][:1].note = note
                continue
            to_create.append(
                {
                    "res_model_id": model_id,
                    "res_id": sequence.id,
                    "activity_type_id": activity_type.id,
                    "summary": summary,
                    "note": note,
                    "user_id": sequence.user_id.id,
                    "date_deadline": fields.Date.context_today(self),
                }
            )
        Activity.create(to_create)

    def _blocked_note(self, enrollments):
        """'3 enrollments were blocked:' and each reason with its count, the most frequent first."""
        no_reason = _("no reason given")
        reasons = Counter(enrollment.state_reason or no_reason for enrollment in enrollments)
        lines = []
        for reason, count in reasons.most_common(5):  # not a comprehension: _() finds the language in this frame
            lines.append(Markup("<li>%s</li>") % _("%(count)s: %(reason)s", count=count, reason=reason))
        return Markup("<p>%s</p><ul>%s</ul><p>%s</p>") % (
            _("%(count)s enrollments were blocked:", count=len(enrollments)),
            Markup().join(lines),
            _("Open the sequence's Blocked enrollments, fix the cause, then resume them."),
        )

    def _run_step(self, step, now, schedules):
        """The checks every step type shares (approval, window, owner's leave, rules, exit criteria, conditions),
        then the type's executor on those still due."""
        sequence = step.sequence_id
        schedule = schedules[sequence]
        waiting = self._hold_before_step(step, now)
        on_time = (self - waiting)._defer_missed_windows(schedule, now)
        if on_time._hold_for_absent_owner(sequence, schedule, now):
            return
        ready = on_time._exclude_by_rules(sequence)._exit_by_criteria(sequence)
        if sequence.sequence_type == "classic":
            ready = ready._skip_unmet_conditions(step, now, schedules)
        ready = ready._gate_missing_data(step, now, schedules)
        if ready:
            getattr(ready, f"_run_{step.step_type}")(step, now, schedules)
        self._wake_cron_for_due()

    def _hold_before_step(self, step, now):
        """The enrollments a check of `step`'s own type holds back before the shared checks: they stay due, at the
        time the check set. None here; a concern that holds (approval) overrides this with super()."""
        return self.browse()
