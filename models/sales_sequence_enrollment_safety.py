from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

from .sales_sequence_step_safety import NEEDS_DATA


def hour_start(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def minute_start(moment):
    return moment.replace(second=0, microsecond=0)


class SalesSequenceEnrollment(models.Model):
    """The safety rules in the run: a mailbox's hourly and per-minute limits (beside the daily limit, under the
    same advisory lock), the bounce-rate hold of a sequence's first step, and what a step does when the contact
    lacks the data it needs. The forecast (lib/planner.py) applies the same limits in the same order."""

    _inherit = "sales.sequence.enrollment"

    held_by_limit = fields.Selection(
        selection_add=[
            ("hour", "Mailbox's hourly limit"),
            ("minute", "Mailbox's per-minute limit"),
            ("bounce", "Bounce-rate hold of the first step"),
        ],
        ondelete={"hour": "set null", "minute": "set null", "bounce": "set null"},
    )

    # ------------------------------------------------------------------
    # Hourly and per-minute limits of a mailbox
    # ------------------------------------------------------------------

    def _queue_over_limits(self, sequence, schedule, now):
        """The hourly and per-minute limits first (the planner checks them in this order too), then the daily
        ones; Send Now ignoring the limits skips them all, once."""
        if not (sequence.hourly_limit or sequence.minute_limit):
            return super()._queue_over_limits(sequence, schedule, now)
        overridden = self.filtered("limit_override")
        sendable = (self - overridden)._queue_over_rate_limits(sequence, schedule, now)
        return super(SalesSequenceEnrollment, sendable | overridden)._queue_over_limits(sequence, schedule, now)

    def _queue_over_rate_limits(self, sequence, schedule, now):
        sendable = self.browse()
        for mailbox, enrollments in sorted(self.grouped(lambda e: e._get_mailbox()).items(), key=lambda i: i[0] or ""):
            # The daily limit's lock: one count-then-send per mailbox at a time, across workers.
            self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(hashtext(%s))", f"sales_sequence:{mailbox}"))
            enrollments = enrollments.sorted("id")  # the lowest id first, as the forecast hands the slots out
            for limit, bucket, size, held_by in (
                (sequence.hourly_limit, hour_start(now), timedelta(hours=1), "hour"),
                (sequence.minute_limit, minute_start(now), timedelta(minutes=1), "minute"),
            ):
                if not limit or not enrollments:
                    continue
                sent = self.env["sales.sequence.touch"]._count_sent_by_mailbox(mailbox, bucket, bucket + size)
                available = max(limit - sent, 0)
                enrollments[available:]._queue_for_rate_limit(sequence, mailbox, schedule, bucket + size, held_by)
                enrollments = enrollments[:available]
            sendable |= enrollments
        return sendable

    def _queue_for_rate_limit(self, sequence, mailbox, schedule, not_before, held_by):
        if not self:
            return
        if held_by == "hour":
            reason = _(
                "Hourly limit of %(limit)s emails reached for mailbox %(mailbox)s; sends in the next hour.",
                limit=sequence.hourly_limit,
                mailbox=mailbox,
            )
        else:
            reason = _(
                "Per-minute limit of %(limit)s emails reached for mailbox %(mailbox)s; sends in the next minute.",
                limit=sequence.minute_limit,
                mailbox=mailbox,
            )
        self._queue_from(schedule, not_before, reason, held_by_limit=held_by)
        self._wake_cron_at_slots()

    def _wake_cron_at_slots(self):
        """Wake the run cron at these enrollments' exact slots (not rounded up to the 5-minute bucket): a per-minute
        limit hands out minutes, and the forecast counts on the next one."""
        horizon = fields.Datetime.now() + timedelta(hours=2)
        moments = sorted({e.next_run_at for e in self if e.next_run_at and e.next_run_at <= horizon})
        if moments:
            # As `_wake_cron_for_due`: every run job (Parallel Senders), or the first alone with queue_job.
            crons = self._run_crons()
            for cron in crons[:1] if self._run_with_queue_job() else crons:
                cron._trigger(moments)

    # ------------------------------------------------------------------
    # Bounce-rate hold of the first step
    # ------------------------------------------------------------------

    @api.model
    def _before_run_chunks(self, now):
        # One bounce-rate query per run, before the chunks: it decides which first steps wait.
        result = super()._before_run_chunks(now)
        self.env["sales.sequence"]._apply_bounce_rules(now)
        return result

    def _hold_before_step(self, step, now):
        held = super()._hold_before_step(step, now)
        sequence = step.sequence_id
        if sequence.bounce_hold and step == sequence.step_ids[:1]:
            holding = self - held
            if holding:
                reason = sequence.bounce_hold_reason or _("The sequence's first step is held by its bounce rate.")
                self.env["sales.sequence.event"]._record(holding, "safety_hold", reason, step=step)
                holding._queue(reason, False, held_by_limit="bounce")
            held |= holding
        return held

    # ------------------------------------------------------------------
    # Missing data
    # ------------------------------------------------------------------

    def _gate_missing_data(self, step, now, schedules):
        """The enrollments whose contact lacks what `step` needs are held (blocked with the reason) or skip the step
        (the timeline says why), as the step says; return the others."""
        need = NEEDS_DATA.get(step.step_type)
        if not need or step.on_missing_data not in ("hold", "skip") or not self:
            return self
        missing = self.filtered(lambda e: not self._partner_has_data(e.partner_id, need))
        if not missing:
            return self
        if step.on_missing_data == "skip":
            for at, enrollments in missing.grouped(lambda e: e.next_run_at or now).items():
                enrollments._skip_step(step, self._missing_data_skip_label(need), at, schedules)
        else:
            for enrollment in missing:
                enrollment._block(enrollment._missing_data_reason(need))
        return self - missing

    @api.model
    def _missing_data_outcome(self, step, partner):
        """What the run does with `step` for `partner` lacking its data, as the timeline says it: the skip's label,
        the hold's reason, or False when the step runs (the forecast shows the same)."""
        need = NEEDS_DATA.get(step.step_type)
        if not need or step.on_missing_data not in ("hold", "skip") or self._partner_has_data(partner, need):
            return False
        if step.on_missing_data == "skip":
            return self._missing_data_skip_label(need)
        return self.new({"partner_id": partner.id})._missing_data_reason(need)

    @api.model
    def _missing_data_skip_label(self, need):
        return {
            "email": _("Skipped: no email address on the contact."),
            "mobile": _("Skipped: no valid mobile number on the contact."),
            "phone": _("Skipped: no phone number on the contact."),
        }[need]

    @api.model
    def _partner_has_data(self, partner, need):
        if need == "email":
            return bool(partner.email)
        if need == "mobile":
            return bool(partner.phone_sanitized)
        return bool(partner.phone or partner.mobile)

    def _missing_data_reason(self, need):
        """The reason a held enrollment shows: as the executors said it before the option existed."""
        if need == "email":
            return _("The contact has no email address: fill the contact's Email field, then resume the enrollment.")
        if need == "mobile":
            return self._sms_number_problem(self.partner_id)
        return _("The contact has no phone number: fill the contact's Phone or Mobile, then resume the enrollment.")
