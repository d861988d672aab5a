import logging
import threading
from collections import defaultdict
from datetime import datetime, timedelta

from psycopg2.errors import SerializationFailure

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, email_normalize
from odoo.tools.misc import hmac

from ..lib.conditions import failed_condition, is_exhausted, pick_step
from ..lib.planner import slot_for_step
from ..lib.send_schedule import ScheduleError
from .sales_sequence import OPEN_ENROLLMENT_STATES

_logger = logging.getLogger(__name__)

ENROLLMENT_STATES = [
    ("draft", "Draft"),
    ("active", "In Progress"),
    ("queued", "Queued"),
    ("blocked", "Blocked"),
    ("paused", "Paused"),
    ("finished", "Finished"),
    ("completed", "Completed"),
    ("canceled", "Canceled"),
    ("excluded", "Excluded"),
    ("bounced", "Bounced"),
]
DUE_STATES = ("active", "queued")
# A step due inside its window may still leave this long after, though the window has closed since: the cron
# wakes up to 5 minutes late (TRIGGER_BUCKET), plus its own run time.
LATE_GRACE = timedelta(minutes=15)
# Enrollments locked and committed together; a crash loses at most one chunk's work, never sends it twice.
CHUNK_SIZE = 50
# Enrollments one cron call handles before reporting progress and letting Odoo call it again.
BATCH_SIZE = 500
# Times a cron call takes a new snapshot when locking due rows meets another worker's fresh commit.
MAX_LOCK_RETRIES = 5


# The run cron's jobs: Odoo runs a job in one worker at a time, so a second job lets two workers share the sends.
RUN_CRON_XMLIDS = ("sales_sequence.ir_cron_run_sequences", "sales_sequence.ir_cron_run_sequences_parallel")

# Cron wake-ups are rounded up to this step: a step leaves at most this late, and a day holds a bounded number of
# wake-ups however many enrollments fall due at scattered (randomized) minutes.
TRIGGER_BUCKET = timedelta(minutes=5)


def cached_schedule(schedules, sequence):
    """The sequence's send schedule, built once per run (not setdefault: it would build it at every call)."""
    if sequence not in schedules:
        schedules[sequence] = sequence._get_send_schedule()
    return schedules[sequence]


def _ceil_to_bucket(moment):
    bucket = int(TRIGGER_BUCKET.total_seconds())
    seconds = int((moment - datetime.min).total_seconds())
    return datetime.min + timedelta(seconds=-(-seconds // bucket) * bucket)


class SalesSequenceEnrollment(models.Model):
    _name = "sales.sequence.enrollment"
    _description = "Sales Sequence Enrollment"
    _inherit = ["mail.thread", "mail.activity.mixin", "sales.sequence.guard.mixin"]
    # Unenroll and enroll again instead: a contact's history in a sequence stays with that sequence.
    _immutable_fields = ("sequence_id", "partner_id")
    _order = "id desc"
    _rec_names_search = ["partner_id", "sequence_id"]
    _check_company_auto = True

    sequence_id = fields.Many2one("sales.sequence", required=True, index=True, ondelete="cascade", check_company=True)
    partner_id = fields.Many2one("res.partner", string="Contact", required=True, index=True, ondelete="cascade")
    active = fields.Boolean(default=True, help="Archived enrollments are hidden; only Sequence Managers archive.")
    # Read with the reader's rights (not as superuser): an enrollment never shows what its contact hides.
    email = fields.Char(related="partner_id.email", compute_sudo=False)
    user_id = fields.Many2one(related="sequence_id.user_id", string="Owner", store=True, index=True)
    company_id = fields.Many2one(related="sequence_id.company_id", store=True, index=True)
    state = fields.Selection(
        ENROLLMENT_STATES, string="Status", default="draft", required=True, index=True, tracking=True, copy=False
    )
    state_reason = fields.Char(string="Reason", help="Why the enrollment is in its state.")
    step_id = fields.Many2one(
        "sales.sequence.step",
        string="Next Step",
        ondelete="set null",
        domain="[('sequence_id', '=', sequence_id)]",
    )
    # Indexed by the partial due index alone (init): a second, full index would be rewritten at every step.
    next_run_at = fields.Datetime(string="Next Run", copy=False)
    date_enrolled = fields.Datetime(string="Enrolled On", default=fields.Datetime.now, readonly=True)
    date_done = fields.Datetime(string="Ended On", readonly=True, copy=False)
    last_touch_at = fields.Datetime(string="Last Step Sent", readonly=True, copy=False)
    paused_by_sequence = fields.Boolean(readonly=True, copy=False)
    touch_ids = fields.One2many("sales.sequence.touch", "enrollment_id", string="Steps Run")
    event_ids = fields.One2many("sales.sequence.event", "enrollment_id", string="Timeline")
    touch_count = fields.Integer(compute="_compute_touch_count")

    def init(self):
        # One open enrollment per contact and sequence, enforced where two workers cannot both miss it.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS sales_sequence_enrollment_open_uniq "
                "ON sales_sequence_enrollment (sequence_id, partner_id) WHERE state IN %s",
                OPEN_ENROLLMENT_STATES,
            )
        )
        # The run cron's only question: which open enrollments are due. Version 18.0.1.1.0 also had a full index.
        self.env.cr.execute("DROP INDEX IF EXISTS sales_sequence_enrollment__next_run_at_index")
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS sales_sequence_enrollment_due_idx "
                "ON sales_sequence_enrollment (next_run_at) WHERE state IN %s",
                DUE_STATES,
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        self._check_partners_readable(vals_list)
        # A sequence's emails go to the contact alone: the enrollment starts with no follower who would get a copy.
        enrollments = super(SalesSequenceEnrollment, self.with_context(mail_create_nosubscribe=True)).create(vals_list)
        return enrollments.with_env(self.env)

    @api.model
    def _check_partners_readable(self, vals_list):
        """Whatever the path (form, RPC, wizard, import, audience as its owner), nobody enrolls a contact they
        cannot read: the sequence would email them and show the email in the enrollment."""
        if self.env.su:
            return
        partner_ids = {vals.get("partner_id") for vals in vals_list} - {None, False}
        partners = self.env["res.partner"].browse(partner_ids).with_context(active_test=False)
        existing = partners.exists()
        refused = (partners - existing) | (existing - existing._filtered_access("read"))
        if refused:
            raise AccessError(
                _(
                    "Contact: you cannot read contact #%(id)s, so you cannot enroll it. Choose a contact of your "
                    "company that you can open.",
                    id=refused[:1].id,
                )
            )

    def _immutable_field_message(self, field):
        return _(
            "%(field)s cannot be changed once a contact is enrolled. Unenroll the contact, then enroll the right "
            "contact in the right sequence.",
            field=field.get_description(self.env)["string"],
        )

    @api.constrains("step_id", "sequence_id")
    def _check_step_in_sequence(self):
        for enrollment in self:
            if enrollment.step_id and enrollment.step_id.sequence_id != enrollment.sequence_id:
                raise ValidationError(
                    _(
                        "Next Step: step #%(step)s is not a step of %(sequence)s. Choose one of its own steps.",
                        step=enrollment.step_id.id,  # its id only: the step may be another user's
                        sequence=enrollment.sequence_id.name,
                    )
                )

    def write(self, vals):
        if (
            "active" in vals
            and not self.env.su
            and not self.env.user.has_group("sales_sequence.group_sales_sequence_manager")
        ):
            raise UserError(_("Only Sequence Managers archive enrollments. To stop one, use Unenroll."))
        if vals.get("active") is False:
            self.filtered(lambda e: e.state in OPEN_ENROLLMENT_STATES)._cancel(
                _("Archived by %(user)s.", user=self.env.user.name)
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_history(self):
        with_history = self._with_history()
        if with_history:
            raise UserError(
                _(
                    "%(contacts)s already received emails from this sequence, and what was sent is kept. Use "
                    "Unenroll to stop the sequence for them; a Sequence Manager can archive the enrollment.",
                    contacts=", ".join(with_history.partner_id.mapped("display_name")),
                )
            )

    def _with_history(self):
        """The enrollments of self that already ran a step or went through any event of the conversation."""
        # sudo: count the history whatever the user's rules; only ids of self come back.
        with_history = set()
        for model in ("sales.sequence.touch", "sales.sequence.event"):
            groups = self.env[model].sudo()._read_group([("enrollment_id", "in", self.ids)], ["enrollment_id"])
            with_history.update(enrollment.id for (enrollment,) in groups)
        return self.filtered(lambda e: e.id in with_history)

    @api.model
    def _sequences_with_history(self, sequences):
        """The sequences among `sequences` that already sent at least one step."""
        # sudo: history counts whatever the user's rules; only ids of the given sequences come back.
        sent = (
            self.env["sales.sequence.touch"].sudo()._read_group([("sequence_id", "in", sequences.ids)], ["sequence_id"])
        )
        sent_ids = {sequence.id for (sequence,) in sent}
        return sequences.filtered(lambda s: s.id in sent_ids)

    @api.depends("partner_id", "sequence_id")
    def _compute_display_name(self):
        for enrollment in self:
            enrollment.display_name = f"{enrollment.partner_id.display_name} / {enrollment.sequence_id.name}"

    def _compute_touch_count(self):
        counts = dict(
            self.env["sales.sequence.touch"]._read_group(
                [("enrollment_id", "in", self.ids)], ["enrollment_id"], ["__count"]
            )
        )
        for enrollment in self:
            enrollment.touch_count = counts.get(enrollment, 0)

    # ------------------------------------------------------------------
    # Scheduling
    # ------------------------------------------------------------------

    def _get_contact_tz(self):
        self.ensure_one()
        return self.partner_id.tz if self.sequence_id.use_contact_tz and self.partner_id.tz else None

    def _next_allowed_slot(self, schedule, not_before):
        """The first instant the schedule allows at or after `not_before`, for this contact."""
        self.ensure_one()
        seed = self.id if self.sequence_id.randomize else None
        return schedule.next_slot(not_before, tz=self._get_contact_tz(), seed=seed)

    def _slot_for_step(self, schedule, step, after, follows_send):
        """When `step` may run for this enrollment, `after` being the previous send (or the enrollment)."""
        self.ensure_one()
        return slot_for_step(
            schedule,
            step.delay_days,
            after,
            follows_send,
            randomize=self.sequence_id.randomize,
            tz=self._get_contact_tz(),
            seed=self.id,
        )

    def _schedule_step(self, step, after, schedules, follows_send=True):
        """Point the enrollment at `step`, due at the first allowed slot `step.delay_days` after `after`
        (the previous send, or the enrollment when `follows_send` is False)."""
        self.ensure_one()
        schedule = cached_schedule(schedules, self.sequence_id)
        try:
            next_run = self._slot_for_step(schedule, step, after, follows_send)
        except ScheduleError as error:
            return {"step_id": step.id, "state": "blocked", "state_reason": str(error), "next_run_at": False}
        return {
            "step_id": step.id,
            "state": "active",
            "state_reason": _(
                "Waiting for step %(position)s '%(step)s'.", position=step._get_position(), step=step.name
            ),
            "next_run_at": next_run,
        }

    def _start(self):
        """Start draft enrollments of active sequences at their first step: slots computed from plain values (one
        read of the contacts' timezones), one write per distinct slot (an audience of thousands shares few)."""
        now = fields.Datetime.now()
        by_values = defaultdict(list)
        groups = {self.sequence_id: self} if len(self.sequence_id) == 1 else self.grouped("sequence_id")
        for sequence, enrollments in groups.items():
            first_step = sequence.step_ids[:1]
            if not first_step:
                enrollments._finish()
                continue
            for values, ids in enrollments._first_step_values(sequence, first_step, now).items():
                by_values[values].extend(ids)
        for values, ids in by_values.items():
            self.browse(ids)._write_start(dict(values))
        self._wake_cron_for_due()

    def _write_start(self, values):
        """Write the start values; in SQL for an audience's thousands (no tracking wanted), else with the ORM."""
        if not self.env.context.get("tracking_disable"):
            self.write(values)
            return
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                "UPDATE sales_sequence_enrollment SET state = %s, state_reason = %s, step_id = %s, next_run_at = %s, "
                "write_uid = %s, write_date = now() AT TIME ZONE 'UTC' WHERE id = ANY(%s)",
                values["state"],
                values["state_reason"],
                values["step_id"] or None,
                values["next_run_at"] or None,
                self.env.uid,
                self.ids,
            )
        )
        self.invalidate_recordset(["state", "state_reason", "step_id", "next_run_at", "write_uid", "write_date"])

    def _contact_timezones(self):
        """{enrollment id: its contact's timezone} for the contacts that have one, in one query."""
        self.flush_recordset(["partner_id"])
        self.env["res.partner"].flush_model(["tz"])
        self.env.cr.execute(
            SQL(
                "SELECT e.id, p.tz FROM sales_sequence_enrollment e JOIN res_partner p ON p.id = e.partner_id "
                "WHERE e.id = ANY(%s) AND p.tz IS NOT NULL",
                self.ids,
            )
        )
        return dict(self.env.cr.fetchall())

    def _first_step_values(self, sequence, step, now):
        """{values (as sorted items): enrollment ids} scheduling these enrollments of `sequence` at `step`."""
        try:
            schedule = sequence._get_send_schedule()
            schedule.next_slot(now)
        except ScheduleError as error:
            return {
                (
                    ("next_run_at", False),
                    ("state", "blocked"),
                    ("state_reason", str(error)),
                    ("step_id", step.id),
                ): self.ids
            }
        reason = _("Waiting for step %(position)s '%(step)s'.", position=1, step=step.name)
        contact_tz = self._contact_timezones() if sequence.use_contact_tz else {}
        slots = {}
        by_values = defaultdict(list)
        for enrollment_id in self.ids:
            tz = contact_tz.get(enrollment_id)
            if sequence.randomize:
                slot = slot_for_step(schedule, step.delay_days, now, False, True, tz, enrollment_id)
            else:  # the same slot for every contact of a timezone
                if tz not in slots:
                    slots[tz] = slot_for_step(schedule, step.delay_days, now, False, False, tz, None)
                slot = slots[tz]
            values = (("next_run_at", slot), ("state", "active"), ("state_reason", reason), ("step_id", step.id))
            by_values[values].append(enrollment_id)
        return by_values

    @api.model
    def _insert_open(self, sequence, partners):
        """Insert draft enrollments of `partners` in `sequence` in one SQL statement; a contact another worker
        enrolled meanwhile is skipped by the unique index, without an error. Returns the new enrollments."""
        if not partners:
            return self.browse()
        self.env.flush_all()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sales_sequence_enrollment
                       (sequence_id, partner_id, user_id, company_id, state, state_reason, date_enrolled, active,
                        paused_by_sequence, create_uid, create_date, write_uid, write_date)
                SELECT %(sequence)s, partner_id, %(owner)s, %(company)s, 'draft', %(reason)s, %(now)s, TRUE, FALSE,
                       %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(partners)s::int[]) AS partner_id
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                sequence=sequence.id,
                owner=sequence.user_id.id,
                company=sequence.company_id.id,
                reason=_("Starts when the sequence is activated."),
                now=now,
                uid=self.env.uid,
                partners=partners.ids,
            )
        )
        enrollments = self.browse([row[0] for row in self.env.cr.fetchall()])
        # Written in SQL: the cached one2many lists of the sequence and the contacts do not know the new rows.
        sequence.invalidate_recordset(["enrollment_ids"])
        partners.invalidate_recordset(["sales_sequence_enrollment_ids"])
        return enrollments

    def _reschedule(self):
        """Recompute when the waiting step runs, after its delay or the sequence's steps changed."""
        schedules = {}
        now = fields.Datetime.now()
        for enrollment in self:
            after = enrollment.last_touch_at or enrollment.date_enrolled
            values = enrollment._schedule_step(
                enrollment.step_id, after, schedules, follows_send=bool(enrollment.last_touch_at)
            )
            if values["next_run_at"] and values["next_run_at"] < now:
                values["next_run_at"] = enrollment._next_allowed_slot(schedules[enrollment.sequence_id], now)
            if enrollment.state == "queued" and values["state"] == "active":
                values.pop("state")
                values.pop("state_reason")
            enrollment.write(values)
        self._wake_cron_for_due()

    def _wake_cron_for_due(self):
        """Ask the run cron to wake when these enrollments fall due, so a step leaves within minutes of its slot
        rather than at the next hourly run."""
        horizon = fields.Datetime.now() + timedelta(days=1)
        moments = {
            _ceil_to_bucket(enrollment.next_run_at)
            for enrollment in self
            if enrollment.state in DUE_STATES and enrollment.next_run_at and enrollment.next_run_at <= horizon
        }
        if moments:
            for xmlid in RUN_CRON_XMLIDS:
                cron = self.env.ref(xmlid, raise_if_not_found=False)
                if cron:
                    cron._trigger(sorted(moments))

    # ------------------------------------------------------------------
    # State changes
    # ------------------------------------------------------------------

    def _get_finish_values(self):
        return {
            "state": "finished",
            "state_reason": _("All steps were run."),
            "step_id": False,
            "next_run_at": False,
            "date_done": fields.Datetime.now(),
        }

    def _finish(self):
        self.write(self._get_finish_values())

    def _pause_for_sequence(self, archived=False):
        """Out of the due set while the sequence is paused (or archived): the run cron never scans them."""
        if archived:
            event, reason = (
                _("The sequence was archived."),
                _("The sequence is archived; steps resume if it is restored."),
            )
        else:
            event, reason = _("The sequence was paused."), _("The sequence is paused; steps resume when it is resumed.")
        self.env["sales.sequence.event"]._record(self, "pause", event)
        # Thousands at once: the timeline's event says it, no tracking message per enrollment in the chatter.
        self.with_context(mail_notrack=True).write(
            {"state": "paused", "paused_by_sequence": True, "state_reason": reason}
        )

    def _resume(self):
        self.env["sales.sequence.event"]._record(
            self.filtered("paused_by_sequence"), "resume", _("The sequence was resumed.")
        )
        not_started = self.filtered(lambda e: not e.step_id and not e.last_touch_at)
        not_started.write({"paused_by_sequence": False})
        not_started._start()
        started = self - not_started
        started.write({"state": "active", "paused_by_sequence": False})
        started.filtered("step_id")._reschedule()
        started.filtered(lambda e: not e.step_id)._finish()

    def action_pause(self):
        self.check_access("write")
        to_pause = self.filtered(lambda e: e.state in ("draft", "active", "queued", "blocked"))
        self.env["sales.sequence.event"]._record(to_pause, "pause", _("Paused by %(user)s.", user=self.env.user.name))
        to_pause.write(
            {
                "state": "paused",
                "paused_by_sequence": False,
                "state_reason": _("Paused by %(user)s.", user=self.env.user.name),
            }
        )
        return True

    def action_resume(self):
        self.check_access("write")
        to_resume = self.filtered(lambda e: e.state in ("paused", "blocked"))
        self.env["sales.sequence.event"]._record(
            to_resume, "resume", _("Resumed by %(user)s.", user=self.env.user.name)
        )
        started = to_resume.filtered(lambda e: e.sequence_id.state == "active")
        started._resume()
        (to_resume - started).write(
            {"state": "draft", "paused_by_sequence": False, "state_reason": _("Starts when the sequence is activated.")}
        )
        return True

    def action_cancel(self):
        self.check_access("write")
        self.filtered(lambda e: e.state in OPEN_ENROLLMENT_STATES)._cancel(
            _("Unenrolled by %(user)s.", user=self.env.user.name)
        )
        return True

    def _cancel(self, reason):
        self._end("canceled", reason)

    # ------------------------------------------------------------------
    # The run cron
    # ------------------------------------------------------------------

    @api.model
    def _cron_run_sequences(self, batch_size=BATCH_SIZE, chunk_size=CHUNK_SIZE):
        """Run the due step of due enrollments, chunk by chunk, each chunk locked, run and committed on its own."""
        now = fields.Datetime.now()
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        # The cron's own state changes are not tracked in the chatter: its events (the timeline) say what happened.
        self = self.with_context(mail_notrack=True)  # noqa: PLW0642 - the whole run works in this context
        self.env["sales.sequence.touch"]._fail_lost_sends()
        done = retries = 0
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
            enrollments._run_due_step(now)
            done += len(enrollments)
            if auto_commit:
                # Progress with each chunk: a worker killed later has not run "without progress" for Odoo, which
                # would otherwise take it for a timeout and postpone the job.
                self.env["ir.cron"]._notify_progress(done=done, remaining=1)
                # Commit per chunk releases the row locks and makes each chunk's sends final on their own.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        remaining = self._count_due(now)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

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
        """Dispatch the due enrollments, per sequence and step, to the step type's executor (`_run_<type>`)."""
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

    def _run_step(self, step, now, schedules):
        """The checks every step type shares (approval, window, owner's leave, rules, exit criteria, conditions),
        then the type's executor on those still due."""
        sequence = step.sequence_id
        schedule = schedules[sequence]
        waiting = self._hold_for_approval(step, now) if step._needs_approval() else self.browse()
        on_time = (self - waiting)._defer_missed_windows(schedule, now)
        if on_time._hold_for_absent_owner(sequence, schedule, now):
            return
        ready = on_time._exclude_by_rules(sequence)._exit_by_criteria(sequence)
        if sequence.sequence_type == "classic":
            ready = ready._skip_unmet_conditions(step, now, schedules)
        if ready:
            getattr(ready, f"_run_{step.step_type}")(step, now, schedules)
        self._wake_cron_for_due()

    # ------------------------------------------------------------------
    # Step conditions and smart sequences
    # ------------------------------------------------------------------

    def _previous_email_facts(self):
        """{enrollment id: {"opened", "clicked", "replied"} about its latest email}, in one query; enrollments
        that have not been emailed yet map to an empty set."""
        facts = {enrollment_id: set() for enrollment_id in self.ids}
        if not self:
            return facts
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT t.enrollment_id, ev.event_type
                  FROM (SELECT DISTINCT ON (enrollment_id) id, enrollment_id, date
                          FROM sales_sequence_touch
                         WHERE enrollment_id = ANY(%s) AND kind IN ('email', 'email_reminder')
                           AND failed IS NOT TRUE
                      ORDER BY enrollment_id, date DESC, id DESC) t
                  JOIN sales_sequence_event ev ON ev.enrollment_id = t.enrollment_id
                   AND ((ev.event_type IN ('open', 'click') AND ev.touch_id = t.id)
                        OR (ev.event_type = 'reply' AND ev.date >= t.date))
                """,
                self.ids,
            )
        )
        names = {"open": "opened", "click": "clicked", "reply": "replied"}
        for enrollment_id, event_type in self.env.cr.fetchall():
            facts[enrollment_id].add(names[event_type])
        return facts

    def _contacts_matching(self, conditions):
        """The contacts of these enrollments that match the contact conditions among `conditions`."""
        owner = conditions.sequence_id[:1].user_id
        domain = conditions._contact_domain(owner)
        if not domain:
            return self.partner_id
        # As the owner: a condition must not answer, by the step it runs, what the owner could not ask.
        found = conditions._partners_as(owner).search([("id", "in", self.partner_id.ids), *domain])
        return self.partner_id.browse(found.ids)

    def _skip_unmet_conditions(self, step, now, schedules):
        """Classic: the enrollments whose step conditions fail skip the step, with the condition as the reason, and
        the next step keeps its own day (its delay counts from this step's slot). Returns the others."""
        conditions = step.condition_ids
        if not conditions or not self:
            return self
        types = conditions.mapped("condition_type")
        facts = self._previous_email_facts()
        matching = self._contacts_matching(conditions)
        labels = dict(conditions._fields["condition_type"]._description_selection(self.env))
        skipped = defaultdict(lambda: self.browse())  # (failed condition, slot): enrollments, skipped together
        for enrollment in self:
            failed = failed_condition(types, facts[enrollment.id])
            if failed is None and enrollment.partner_id not in matching:
                failed = "contact"
            if failed:
                skipped[(failed, enrollment.next_run_at or now)] |= enrollment
        for (failed, at), enrollments in skipped.items():
            reason = _("Condition not met: %(condition)s. Step skipped.", condition=labels[failed])
            enrollments._skip_step(step, reason, at, schedules)
        return self.filtered(lambda e: not any(e in group for group in skipped.values()))

    def _skip_step(self, step, reason, at, schedules=None):
        """Skip `step` with the reason: the next step is scheduled from `at` as if the step had run then."""
        schedules = {} if schedules is None else schedules
        self.env["sales.sequence.event"]._record(self, "skip", reason, step=step)
        for enrollment in self:
            if enrollment.step_id != step:
                continue  # the sequence already moved on (a manual step that did not wait)
            if enrollment.sequence_id.sequence_type == "smart":
                enrollment._advance_smart(at, schedules, reason)
                continue
            next_step = step._get_next_step(done_steps=enrollment._done_touches().step_id)
            if not next_step:
                enrollment.write({**enrollment._get_finish_values(), "state_reason": reason})
                continue
            values = enrollment._schedule_step(next_step, at, schedules)
            if values["state"] == "active":
                values["state_reason"] = _("%(reason)s Next: '%(next)s'.", reason=reason, next=next_step.name)
            enrollment.write(values)
        self._wake_cron_for_due()

    def _pick_smart_steps(self, now, schedules):
        """Smart: {(sequence, step): enrollments} running the first not-yet-run step whose conditions match now.
        The enrollments no step matches wait for the next run, or finish when none ever can."""
        groups = defaultdict(lambda: self.browse())
        facts = self._previous_email_facts()
        for sequence, enrollments in self.grouped("sequence_id").items():
            steps = sequence.step_ids
            contact_ok = {step: enrollments._contacts_matching(step.condition_ids) for step in steps}
            for enrollment in enrollments:
                done = set(enrollment._done_touches().step_id.ids)
                options = [
                    (step.id, step.condition_ids.mapped("condition_type"), enrollment.partner_id in contact_ok[step])
                    for step in steps
                ]
                picked = pick_step(options, done, facts[enrollment.id])
                if picked:
                    step = self.env["sales.sequence.step"].browse(picked)
                    if enrollment.step_id != step:
                        enrollment.step_id = step
                    groups[(sequence, step)] |= enrollment
                elif is_exhausted(options, done, facts[enrollment.id]):
                    enrollment.write(
                        {**enrollment._get_finish_values(), "state_reason": _("No step can match any more.")}
                    )
                else:
                    enrollment._advance_smart(now, schedules, _("No step matched at this run."))
        return groups

    def _advance_smart(self, after, schedules, reason):
        """Smart: the next run is one interval after `after`, at the first allowed slot."""
        self.ensure_one()
        sequence = self.sequence_id
        remaining = sequence.step_ids - self._done_touches().step_id
        if not remaining:
            self.write({**self._get_finish_values(), "last_touch_at": self.last_touch_at or after})
            return
        schedule = cached_schedule(schedules, sequence)
        not_before = after + timedelta(hours=max(sequence.smart_interval_hours, 1))
        try:
            slot = self._next_allowed_slot(schedule, not_before)
        except ScheduleError as error:
            self._block(str(error))
            return
        self.write(
            {
                "state": "active",
                "step_id": remaining[:1].id,
                "next_run_at": slot,
                "state_reason": _(
                    "%(reason)s Next run: %(date)s.", reason=reason, date=fields.Datetime.to_string(slot)
                ),
            }
        )

    def _defer_missed_windows(self, schedule, now):
        """Queue for the next slot the enrollments whose window closed since they fell due (the cron was late,
        stopped, or the enrollment was resumed out of hours): nothing leaves outside the send schedule.
        Return the others."""
        missed = self.filtered(
            lambda e: now - e.next_run_at > LATE_GRACE and not schedule.is_open(now, tz=e._get_contact_tz())
        )
        for enrollment in missed:
            enrollment.write(
                {
                    "state": "queued",
                    "state_reason": _("The send window closed before this step could go; it goes at the next slot."),
                    "next_run_at": enrollment._next_allowed_slot(schedule, now),
                }
            )
        return self - missed

    def _block(self, reason):
        self.write({"state": "blocked", "state_reason": reason})

    def _hold_for_absent_owner(self, sequence, schedule, now):
        """While the owner is on leave, their sequence's sends wait for the first slot after the leave (unless
        the rules say to send anyway). True when held."""
        if not self or sequence.ruleset_id.send_when_owner_absent:
            return False
        back = sequence._owner_absent_until(now)
        if not back:
            return False
        reason = _(
            "%(owner)s is on leave until %(date)s: the sequence's emails wait until they are back.",
            owner=sequence.user_id.name,
            date=fields.Datetime.to_string(back),
        )
        self._queue_from(schedule, back, reason)
        self._wake_cron_for_due()
        return True

    def _exit_by_criteria(self, sequence):
        """End `completed` the enrollments whose contact meets an exit criterion of the sequence (matches its exit
        conditions, booked a meeting); return the rest. Checked before every send."""
        ended = self.browse()
        if sequence.exit_domain and not sequence._is_empty_domain(sequence.exit_domain):
            try:
                # As the owner: the enrollment's state must not answer a question the owner could not ask.
                matching = sequence._search_matching(sequence.exit_domain, sequence.user_id, self.partner_id)
            except Exception as error:  # noqa: BLE001 - the owner lost a right the domain needs: hold, say why
                self._block(
                    _(
                        "The exit conditions cannot be checked as the owner %(owner)s (%(error)s): fix them in "
                        "the sequence, then resume.",
                        owner=sequence.user_id.name,
                        error=str(error).split("\n", 1)[0],
                    )
                )
                return self.browse()
            met = self.filtered(lambda e: e.partner_id in matching)
            met._end("completed", _("Exit criterion met: the contact matches the sequence's exit conditions."))
            ended |= met
        if sequence.exit_on_meeting:
            booked = (self - ended)._with_meeting_since_enrollment()
            booked._end_for_meeting()
            ended |= booked
        return self - ended

    def _with_meeting_since_enrollment(self):
        """The enrollments whose contact is attendee of a meeting created after the enrollment, in one query."""
        if not self:
            return self
        # sudo: whether a meeting exists decides, not what it is; nothing of it is returned.
        events = (
            self.env["calendar.event"]
            .sudo()
            .search(
                [("partner_ids", "in", self.partner_id.ids), ("create_date", ">=", min(self.mapped("date_enrolled")))]
            )
        )
        return self.filtered(
            lambda e: any(
                e.partner_id in event.partner_ids and event.create_date >= e.date_enrolled for event in events
            )
        )

    def _end_for_meeting(self):
        self.env["sales.sequence.event"]._record(self, "skip", _("Meeting booked."))
        self._end("completed", _("Meeting booked on %(date)s.", date=fields.Date.to_string(fields.Date.today())))

    @api.model
    def _exit_on_meetings(self, partners):
        """A meeting was just booked with `partners`: end their running enrollments in sequences that exit on it."""
        if not partners:
            return
        running = self.search(
            [("partner_id", "in", partners.ids), ("state", "in", ("active", "queued", "paused", "blocked"))]
        ).filtered(lambda e: e.sequence_id.exit_on_meeting)
        running |= running._account_mates()
        running._end_for_meeting()

    def _account_mates(self):
        """The open enrollments, in the same sequences, of the other contacts of these contacts' companies, for the
        sequences that end the whole account."""
        wide = self.filtered(
            lambda e: e.sequence_id.exit_account_wide and e.partner_id.commercial_partner_id.is_company
        )
        if not wide:
            return self.browse()
        return self.search(
            [
                ("sequence_id", "in", wide.sequence_id.ids),
                ("partner_id.commercial_partner_id", "in", wide.partner_id.commercial_partner_id.ids),
                ("state", "in", OPEN_ENROLLMENT_STATES),
                ("id", "not in", wide.ids),
            ]
        )

    def _exclude_by_rules(self, sequence):
        """End `excluded` the enrollments an exclusion rule of the sequence's ruleset now matches; return the rest."""
        excluded = sequence.ruleset_id._excluded_at_send(self.partner_id)
        if not excluded:
            return self
        matched = self.filtered(lambda e: e.partner_id in excluded)
        self.env["sales.sequence.event"]._record(matched, "skip", _("Excluded by a rule before sending."))
        for enrollment in matched:
            enrollment._end(
                "excluded",
                _("Excluded by the rule '%(rule)s'.", rule=excluded[enrollment.partner_id].name),
            )
        return self - matched

    def _block_unsendable(self):
        """Block enrollments whose contact has no valid email address, end those whose address is blacklisted
        (unsubscribed here, from a newsletter, or by an admin: mail.blacklist); return the others."""
        blocked_emails = self._blacklisted_emails(self.partner_id.mapped("email_normalized"))
        blacklisted = self.filtered(lambda e: e.partner_id.email_normalized in blocked_emails)
        blacklisted._complete_blacklisted()
        remaining = self - blacklisted
        invalid = remaining.filtered(lambda e: not e.partner_id.email_normalized)
        missing = invalid.filtered(lambda e: not e.partner_id.email)
        missing._block(
            _("The contact has no email address: fill the contact's Email field, then resume the enrollment.")
        )
        for enrollment in invalid - missing:
            enrollment._block(
                _(
                    "The contact's email address '%(email)s' is invalid: correct the contact's Email field, "
                    "then resume the enrollment.",
                    email=enrollment.partner_id.email,
                )
            )
        return remaining - invalid

    @api.model
    def _blacklisted_emails(self, emails):
        """The addresses among `emails` on mail.blacklist, whatever put them there, in one query."""
        emails = [email for email in emails if email]
        if not emails:
            return set()
        # sudo: the blacklist is technical; only membership of addresses we already hold comes back.
        return set(self.env["mail.blacklist"].sudo().search([("email", "in", emails)]).mapped("email"))

    def _complete_blacklisted(self):
        self.env["sales.sequence.event"]._record(self, "skip", _("Blacklisted address: not sent."))
        for enrollment in self:
            enrollment._end(
                "completed",
                _(
                    "%(email)s is on the blacklist (unsubscribed): no sequence email goes to it.",
                    email=enrollment.partner_id.email_normalized,
                ),
            )

    def _end(self, state, reason):
        """End open enrollments in `state` (completed, bounced, ...) with the reason."""
        self.filtered(lambda e: e.state in OPEN_ENROLLMENT_STATES).write(
            {
                "state": state,
                "state_reason": reason,
                "step_id": False,
                "next_run_at": False,
                "date_done": fields.Datetime.now(),
            }
        )

    def _get_mailbox(self):
        """The normalized address this enrollment's emails leave from: the unit of the daily limit."""
        self.ensure_one()
        return self.sequence_id._get_mailbox(self.partner_id)

    def _split_by_user_limit(self, sequence, schedule, now):
        """(sendable, over the limit) given what the owner's sequences already sent today, all mailboxes together
        (Settings > CRM > Sales Sequences)."""
        limit = int(self.env["ir.config_parameter"].sudo().get_param("sales_sequence.max_emails_per_user", 0))
        if not limit or not self:
            return self, self.browse()
        owner = sequence.user_id
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(hashtext(%s))", f"sales_sequence:user:{owner.id}"))
        start, end = schedule.day_bounds(now)
        self.env.cr.execute(
            SQL(
                "SELECT count(*) FROM sales_sequence_touch WHERE user_id = %s AND date >= %s AND date < %s "
                "AND failed IS NOT TRUE",
                owner.id,
                start,
                end,
            )
        )
        available = max(limit - self.env.cr.fetchone()[0], 0)
        return self[:available], self[available:]

    def _queue_for_user_limit(self, sequence, schedule, now):
        if not self:
            return
        limit = int(self.env["ir.config_parameter"].sudo().get_param("sales_sequence.max_emails_per_user", 0))
        reason = _(
            "Daily limit of %(limit)s sequence emails per user reached for %(owner)s; sends at the next allowed slot.",
            limit=limit,
            owner=sequence.user_id.name,
        )
        self._queue_from(schedule, schedule.next_day_start(now), reason)

    def _queue_from(self, schedule, not_before, reason):
        """Queue these enrollments with the reason, each at its first allowed slot from `not_before`: one write per
        distinct slot."""
        by_slot = defaultdict(list)
        for enrollment in self:
            by_slot[enrollment._next_allowed_slot(schedule, not_before)].append(enrollment.id)
        for slot, ids in by_slot.items():
            self.browse(ids).write({"state": "queued", "state_reason": reason, "next_run_at": slot})

    def _split_by_daily_limit(self, sequence, schedule, now):
        """(sendable, over the limit) given what each sending mailbox already sent today across all sequences."""
        limit = sequence.daily_limit
        if not limit:
            return self, self.browse()
        sendable = over = self.browse()
        for mailbox, enrollments in sorted(self.grouped(lambda e: e._get_mailbox()).items(), key=lambda i: i[0] or ""):
            # Serialize the count-then-send of a mailbox across workers, so two cannot both take its last slot.
            self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(hashtext(%s))", f"sales_sequence:{mailbox}"))
            sent_today = self.env["sales.sequence.touch"]._count_sent_by_mailbox(mailbox, *schedule.day_bounds(now))
            available = max(limit - sent_today, 0)
            sendable |= enrollments[:available]
            over |= enrollments[available:]
        return sendable, over

    def _queue_for_daily_limit(self, sequence, mailbox, schedule, now):
        if not self:
            return
        reason = _(
            "Daily limit of %(limit)s emails reached for mailbox %(mailbox)s; sends at the next allowed slot.",
            limit=sequence.daily_limit,
            mailbox=mailbox,
        )
        self._queue_from(schedule, schedule.next_day_start(now), reason)

    def _done_touches(self):
        """The step runs that went out (a failed send is sent again on resume)."""
        return self.touch_ids.filtered(lambda touch: not touch.failed)

    def _get_list_unsubscribe(self, reply_to):
        """RFC 8058 one-click unsubscribe: an https URL and a mailto, both carrying the enrollment's token."""
        self.ensure_one()
        token = self._get_token("unsubscribe")
        url = self._get_unsubscribe_url()
        mailbox = email_normalize(reply_to or "") or self._get_mailbox()
        return f"<{url}>, <mailto:{mailbox}?subject=unsubscribe-{self.id}-{token}>"

    def _get_unsubscribe_url(self):
        self.ensure_one()
        return f"{self.get_base_url()}/sales_sequence/unsubscribe/{self.id}/{self._get_token('unsubscribe')}"

    def _get_token(self, purpose, record_id=None):
        """HMAC of the record id and the purpose, keyed with the database secret: a token opens one door only."""
        return hmac(self.env(su=True), f"sales_sequence.{purpose}", record_id or self.id)

    def _advance_batch(self, step, sent_at, schedules):
        """`_advance_after` for a batch: the values computed per enrollment, written once per distinct value set
        (a batch of one sequence shares its next slot unless times are randomized)."""
        smart = self.filtered(lambda e: e.sequence_id.sequence_type == "smart")
        for enrollment in smart:
            enrollment._advance_after(step, sent_at, schedules)
        by_values = defaultdict(list)
        for enrollment in self - smart:
            values = {"last_touch_at": sent_at, **enrollment._values_after(step, sent_at, schedules)}
            by_values[tuple(sorted(values.items()))].append(enrollment.id)
        for values, ids in by_values.items():
            self.browse(ids).write(dict(values))

    def _values_after(self, step, sent_at, schedules):
        """The classic enrollment's values once `step` ran at `sent_at`: the next step at its slot, or finished."""
        self.ensure_one()
        next_step = step._get_next_step(done_steps=self._done_touches().step_id)
        if not next_step:
            return self._get_finish_values()
        values = self._schedule_step(next_step, sent_at, schedules)
        if values["state"] == "active":
            values["state_reason"] = _("Step '%(step)s' sent; next: '%(next)s'.", step=step.name, next=next_step.name)
        return values

    def _advance_after(self, step, sent_at, schedules):
        """After `step` ran at `sent_at`: the next step at its slot, or finished."""
        self.ensure_one()
        if self.sequence_id.sequence_type == "smart":
            self.last_touch_at = sent_at
            self._advance_smart(sent_at, schedules, _("Step '%(step)s' done.", step=step.name))
            return
        self.write({"last_touch_at": sent_at, **self._values_after(step, sent_at, schedules)})

    # ------------------------------------------------------------------
    # Views
    # ------------------------------------------------------------------

    def action_view_touches(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_touch")
        action["domain"] = [("enrollment_id", "=", self.id)]
        return action
