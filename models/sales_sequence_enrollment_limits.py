import logging
from collections import defaultdict

from odoo import _, api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)


class SalesSequenceEnrollment(models.Model):
    """The daily limits: per sending mailbox (the sequence's Daily Limit) and per owner (Settings), each counted under
    an advisory lock so two workers cannot both take the last slot; what is over a limit is queued to the next day."""

    _inherit = "sales.sequence.enrollment"

    def _queue_over_limits(self, sequence, schedule, now):
        """Queue, to the next day, the enrollments over the mailbox's or the owner's daily limit; return the rest.
        Those a person released with Send Now (ignoring the limits) go regardless, once."""
        overridden = self.filtered("limit_override")
        overridden.write({"limit_override": False})
        self -= overridden  # noqa: PLW0642 - the limits apply to the others only
        sendable, over_limit = self._split_by_daily_limit(sequence, schedule, now)
        for mailbox, enrollments in over_limit.grouped(lambda e: e._get_mailbox()).items():
            enrollments._queue_for_daily_limit(sequence, mailbox, schedule, now)
        sendable, over_user_limit = sendable._split_by_user_limit(sequence, schedule, now)
        over_user_limit._queue_for_user_limit(sequence, schedule, now)
        return sendable | overridden

    def _get_mailbox(self):
        """The normalized address this enrollment's emails leave from: the unit of the daily limit."""
        self.ensure_one()
        return self.sequence_id._get_mailbox(self.partner_id)

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
        self._queue_from(schedule, schedule.next_day_start(now), reason, held_by_limit="mailbox")

    def _split_by_user_limit(self, sequence, schedule, now):
        """(sendable, over the limit) given what the owner's sequences already sent today, all mailboxes together
        (Settings > CRM > Sales Sequences)."""
        limit = self._max_emails_per_user()
        if not limit or not self:
            return self, self.browse()
        owner = sequence.user_id
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(hashtext(%s))", f"sales_sequence:user:{owner.id}"))
        available = max(limit - self._count_sent_by_user(owner, *schedule.day_bounds(now)), 0)
        return self[:available], self[available:]

    @api.model
    def _max_emails_per_user(self):
        """Settings > CRM > Sales Sequences: emails per day of one owner's sequences, 0 for no limit. The run cron
        and the forecast (lib/planner.py) both apply it."""
        # sudo: a technical setting, read by whoever runs the cron or the forecast.
        return int(self.env["ir.config_parameter"].sudo().get_param("sales_sequence.max_emails_per_user", 0))

    @api.model
    def _count_sent_by_user(self, owner, start, end):
        """Emails the owner's sequences sent in [start, end), all mailboxes together."""
        self.env["sales.sequence.touch"].flush_model(["user_id", "date", "failed"])
        self.env.cr.execute(
            SQL(
                "SELECT count(*) FROM sales_sequence_touch WHERE user_id = %s AND date >= %s AND date < %s "
                "AND failed IS NOT TRUE",
                owner.id,
                start,
                end,
            )
        )
        return self.env.cr.fetchone()[0]

    def _queue_for_user_limit(self, sequence, schedule, now):
        if not self:
            return
        limit = self._max_emails_per_user()
        reason = _(
            "Daily limit of %(limit)s sequence emails per user reached for %(owner)s; sends at the next allowed slot.",
            limit=limit,
            owner=sequence.user_id.name,
        )
        self._queue_from(schedule, schedule.next_day_start(now), reason, held_by_limit="user")

    def _queue_from(self, schedule, not_before, reason, held_by_limit=False):
        """Queue these enrollments with the reason, each at its first allowed slot from `not_before`: one write per
        distinct slot."""
        for slot, enrollments in self._by_next_slot(schedule, not_before).items():
            enrollments._queue(reason, slot, held_by_limit=held_by_limit)

    def _by_next_slot(self, schedule, not_before):
        """{first allowed slot from `not_before`: enrollments}, for one write per distinct slot."""
        by_slot = defaultdict(list)
        for enrollment in self:
            by_slot[enrollment._next_allowed_slot(schedule, not_before)].append(enrollment.id)
        return {slot: self.browse(ids) for slot, ids in by_slot.items()}

    # ------------------------------------------------------------------
    # Releasing what a limit holds: a changed limit, Send Now
    # ------------------------------------------------------------------

    def _release(self, reason):
        """Due again at the next allowed slot from now, with `reason`: the run cron then applies the limits as they
        are now (and queues again, citing the current limit, what is still over)."""
        now = fields.Datetime.now()
        for sequence, enrollments in self.grouped("sequence_id").items():
            schedule = sequence._get_send_schedule()
            for slot, same_slot in enrollments._by_next_slot(schedule, now).items():
                same_slot._activate(reason, next_run_at=slot, held_by_limit=False)
        self._wake_cron_for_due()

    @api.model
    def _release_held_by_limit(self, held_by_limit, domain):
        """A daily limit changed: the enrollments it queued (within `domain`) are evaluated again at the next slot,
        never waiting for the day the old limit set."""
        held = self.sudo().search([("state", "=", "queued"), ("held_by_limit", "=", held_by_limit), *domain])
        # sudo: a limit change concerns every enrollment it held, whoever changed it; only their timing changes.
        held._release(_("The daily limit changed: sends at the next allowed slot, within the limit."))

    def action_send_now(self):
        """Send Now: the queued enrollments go at the next run within the send window, the limits still apply."""
        return self._send_now(override=False)

    def action_send_now_ignore_limits(self):
        """Send Now ignoring the daily limits: the next email of each goes at the next run within the window."""
        return self._send_now(override=True)

    def _send_now(self, override):
        self.check_access("write")
        queued = self.filtered(lambda e: e.state == "queued" and e.sequence_id.state == "active")
        if override:
            reason = _("Send Now by %(user)s, ignoring the daily limits.", user=self.env.user.name)
        else:
            reason = _("Send Now by %(user)s: sends at the next run within the limits.", user=self.env.user.name)
        self.env["sales.sequence.event"]._record(queued, "resume", reason)
        queued._release(reason)
        if override:
            queued.write({"limit_override": True})
        return self.env["sales.sequence"]._notify_done(
            _("%(count)s enrollment(s) released: they go at the next run within the send window.", count=len(queued))
        )
