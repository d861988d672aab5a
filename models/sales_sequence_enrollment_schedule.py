import logging
from collections import defaultdict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

from ..lib.planner import slot_for_step
from ..lib.send_schedule import ScheduleError
from .sales_sequence_enrollment import DUE_STATES, cached_schedule

_logger = logging.getLogger(__name__)


class SalesSequenceEnrollment(models.Model):
    """Scheduling: when each enrollment's next step runs. The bulk start of an audience, rescheduling after a change
    of the steps or the send schedule, and advancing once a step ran or was skipped. Every value set it computes is
    written through the transitions of sales_sequence_enrollment.py."""

    _inherit = "sales.sequence.enrollment"

    # ------------------------------------------------------------------
    # Slots
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
            return self._plan_blocked(step, str(error))
        reason = _("Waiting for step %(position)s '%(step)s'.", position=step._get_position(), step=step.name)
        return self._plan_step(step, next_run, reason)

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
            enrollment._apply_plan(values)
        self._wake_cron_for_due()

    # ------------------------------------------------------------------
    # Bulk start
    # ------------------------------------------------------------------

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

    @api.model
    def _insert_started(self, sequence, partner_ids):
        """Enroll `partner_ids` in the active `sequence`, inserted already started at its first step: the same plans
        and slots as `_start` (ids taken beforehand, as a randomized slot is seeded with the enrollment's id), one
        INSERT per distinct plan, the run cron woken from the planned slots. Returns the new enrollments."""
        if not partner_ids:
            return self.browse()
        first_step = sequence.step_ids[:1]
        if not first_step:  # nothing to run: `_start` finishes them
            enrollments = self._insert_open(sequence, self.env["res.partner"].browse(partner_ids))
            enrollments._start()
            return enrollments
        self.env.cr.execute(
            SQL(
                "SELECT nextval(pg_get_serial_sequence('sales_sequence_enrollment', 'id')) FROM generate_series(1, %s)",
                len(partner_ids),
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        partner_of = dict(zip(ids, partner_ids, strict=True))
        contact_tz = {}
        if sequence.use_contact_tz:
            partner_tz = self._partner_timezones(partner_ids)
            contact_tz = {eid: partner_tz[pid] for eid, pid in partner_of.items() if pid in partner_tz}
        plans = self._first_step_plans(sequence, first_step, fields.Datetime.now(), ids, contact_tz)
        rows = defaultdict(lambda: ([], [], []))  # plan without next_run_at: (ids, partner ids, next_run_ats)
        for values, plan_ids in plans.items():
            values = dict(values)
            next_run_at = values.pop("next_run_at") or None
            enrollment_ids, partners, next_run_ats = rows[tuple(sorted(values.items()))]
            enrollment_ids.extend(plan_ids)
            partners.extend(partner_of[eid] for eid in plan_ids)
            next_run_ats.extend([next_run_at] * len(plan_ids))
        inserted, due = [], []
        for values, (enrollment_ids, partners, next_run_ats) in rows.items():
            values = dict(values)
            new = self._insert_planned(sequence, values, enrollment_ids, partners, next_run_ats)
            inserted.extend(new.ids)
            if values["state"] in DUE_STATES:
                next_run_of = dict(zip(enrollment_ids, next_run_ats, strict=True))
                due.extend(next_run_of[eid] for eid in new.ids)
        # Written in SQL: the cached lists and counts of the sequence and the contacts do not know the new rows.
        sequence.invalidate_recordset()
        self.env["res.partner"].invalidate_model(["sales_sequence_enrollment_ids"])
        self._wake_cron_at(due)
        return self.browse(sorted(inserted))

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

    @api.model
    def _partner_timezones(self, partner_ids):
        """{partner id: its timezone} for the contacts that have one, in one query."""
        self.env["res.partner"].flush_model(["tz"])
        self.env.cr.execute(
            SQL("SELECT id, tz FROM res_partner WHERE id = ANY(%s) AND tz IS NOT NULL", list(partner_ids))
        )
        return dict(self.env.cr.fetchall())

    def _first_step_values(self, sequence, step, now):
        """{values (as sorted items): enrollment ids} scheduling these enrollments of `sequence` at `step`."""
        contact_tz = self._contact_timezones() if sequence.use_contact_tz else {}
        return self._first_step_plans(sequence, step, now, self.ids, contact_tz)

    @api.model
    def _first_step_plans(self, sequence, step, now, enrollment_ids, contact_tz):
        """{values (as sorted items): enrollment ids} scheduling `enrollment_ids` of `sequence` at `step`, given
        {enrollment id: its contact's timezone} (used when the sequence follows the contact's timezone)."""
        try:
            schedule = sequence._get_send_schedule()
            schedule.next_slot(now)
        except ScheduleError as error:
            return {tuple(sorted(self._plan_blocked(step, str(error)).items())): list(enrollment_ids)}
        reason = _("Waiting for step %(position)s '%(step)s'.", position=1, step=step.name)
        slots = {}
        plans = {}  # slot: its plan (as sorted items), made once per distinct slot
        by_values = defaultdict(list)
        for enrollment_id in enrollment_ids:
            tz = contact_tz.get(enrollment_id)
            if sequence.randomize:
                slot = slot_for_step(schedule, step.delay_days, now, False, True, tz, enrollment_id)
            else:  # the same slot for every contact of a timezone
                if tz not in slots:
                    slots[tz] = slot_for_step(schedule, step.delay_days, now, False, False, tz, None)
                slot = slots[tz]
            if slot not in plans:
                plans[slot] = tuple(sorted(self._plan_step(step, slot, reason).items()))
            by_values[plans[slot]].append(enrollment_id)
        return by_values

    # ------------------------------------------------------------------
    # Advancing once a step ran (or was skipped)
    # ------------------------------------------------------------------

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
            self.browse(ids)._apply_plan(dict(values))

    def _values_after(self, step, sent_at, schedules):
        """The classic enrollment's values once `step` ran at `sent_at`: the next step at its slot, or finished."""
        self.ensure_one()
        next_step = self._next_step_after(step)
        if not next_step:
            return self._get_finish_values()
        values = self._schedule_step(next_step, sent_at, schedules)
        if values["state"] == "active":
            if step.step_type == "branch":
                values["state_reason"] = _("Branch '%(step)s'; next: '%(next)s'.", step=step.name, next=next_step.name)
            elif step.step_type in ("task", "call"):  # a person's step is done, not sent
                values["state_reason"] = _(
                    "Step '%(step)s' done; next: '%(next)s'.", step=step.name, next=next_step.name
                )
            else:
                values["state_reason"] = _(
                    "Step '%(step)s' sent; next: '%(next)s'.", step=step.name, next=next_step.name
                )
        return values

    def _advance_after(self, step, sent_at, schedules):
        """After `step` ran at `sent_at`: the next step at its slot, or finished."""
        self.ensure_one()
        if self.sequence_id.sequence_type == "smart":
            self.last_touch_at = sent_at
            self._advance_smart(sent_at, schedules, _("Step '%(step)s' done.", step=step.name))
            return
        self._apply_plan({"last_touch_at": sent_at, **self._values_after(step, sent_at, schedules)})

    def _advance_smart(self, after, schedules, reason):
        """Smart: the next run is one interval after `after`, at the first allowed slot."""
        self.ensure_one()
        sequence = self.sequence_id
        remaining = sequence.step_ids - self._done_touches().step_id
        if not remaining:
            self._finish(last_touch_at=self.last_touch_at or after)
            return
        schedule = cached_schedule(schedules, sequence)
        not_before = after + timedelta(hours=max(sequence.smart_interval_hours, 1))
        try:
            slot = self._next_allowed_slot(schedule, not_before)
        except ScheduleError as error:
            self._block(str(error))
            return
        next_reason = _("%(reason)s Next run: %(date)s.", reason=reason, date=fields.Datetime.to_string(slot))
        self._apply_plan(self._plan_step(remaining[:1], slot, next_reason))

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
            next_step = enrollment._next_step_after(step)
            if not next_step:
                enrollment._finish(reason)
                continue
            values = enrollment._schedule_step(next_step, at, schedules)
            if values["state"] == "active":
                values["state_reason"] = _("%(reason)s Next: '%(next)s'.", reason=reason, next=next_step.name)
            enrollment._apply_plan(values)
        self._wake_cron_for_due()
