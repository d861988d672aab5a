import logging
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

from odoo import _, api, fields, models
from odoo.tools import SQL

from .sales_sequence_enrollment import OPEN_STATES

_logger = logging.getLogger(__name__)


class SalesSequence(models.Model):
    """The audience: who belongs in the sequence, enrolled as they appear. The candidates in one SQL query, the
    sync (Sync Now, or the cron at the sequence's rhythm) and the preview of the new matches."""

    _inherit = "sales.sequence"

    def _audience_candidates(self):
        """Ids of the audience's persons not yet in the sequence, one per normalized email (the lowest id), none
        whose email already has an open enrollment here: two plain queries after the lines' searches, the set
        differences in Python. Not an anti-join in SQL: with the estimates of a fresh audience (100,000 rows the
        statistics do not know yet) PostgreSQL picked a nested loop, and a second sync ran for minutes."""
        self.ensure_one()
        ids = set().union(*(line._partner_ids() for line in self.audience_ids)) if self.audience_ids else set()
        if not ids:
            return []
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT e.partner_id, q.email_normalized FROM sales_sequence_enrollment e "
                "JOIN res_partner q ON q.id = e.partner_id WHERE e.sequence_id = %s AND e.state IN %s",
                self.id,
                OPEN_STATES,
            )
        )
        enrolled = self.env.cr.fetchall()
        enrolled_partners = {partner_id for partner_id, _email in enrolled}
        enrolled_emails = {email for _partner_id, email in enrolled if email is not None}
        self.env.cr.execute(
            SQL("SELECT id, email_normalized FROM res_partner WHERE id = ANY(%s) ORDER BY id", list(ids))
        )
        candidates, seen = [], set()
        for partner_id, email in self.env.cr.fetchall():
            if partner_id in enrolled_partners or email in enrolled_emails:
                continue
            key = email if email is not None else ("id", partner_id)  # no email: each contact on its own
            if key not in seen:
                seen.add(key)
                candidates.append(partner_id)
        return candidates

    def _sync_audience(self):
        """Enroll the audience's new matches; refusals are recorded once per contact and rule. Safe to run twice
        and from two workers at once: the unique index drops a second enrollment without an error."""
        self.ensure_one()
        # One sync of a sequence at a time: a second worker (the cron, Sync Now) skips it rather than racing the
        # first, which would end in a serialization failure under Odoo's repeatable-read transactions.
        self.env.cr.execute(SQL("SELECT pg_try_advisory_xact_lock(hashtext(%s))", f"sales_sequence:sync:{self.id}"))
        if not self.env.cr.fetchone()[0]:
            return self.env["sales.sequence.enrollment"]
        candidates = self.env["res.partner"].browse(self._audience_candidates())
        refusals = self._builtin_refusals(candidates)
        refusals.update(self.ruleset_id._refusals(self, self._not_refused(candidates, refusals)))
        self.env["sales.sequence.refusal"]._record(self, self._new_refusals(refusals), "audience")
        to_enroll = self._not_refused(candidates, refusals)
        # No tracking message per started enrollment: an audience brings thousands at once.
        Enrollment = self.env["sales.sequence.enrollment"].with_context(tracking_disable=True)
        if self.state == "active":
            # Inserted already started, in set-based SQL: 100,000 contacts are not inserted, then updated.
            enrollments = Enrollment._insert_started(self, to_enroll.ids)
        else:
            enrollments = Enrollment._insert_open(self, to_enroll)
            if self.state == "paused":
                enrollments._pause_for_sequence()
        now = fields.Datetime.now()
        self.write({"audience_last_sync": now, "audience_next_sync": self._next_audience_sync(now)})
        return enrollments

    @staticmethod
    def _not_refused(partners, refusals):
        """`partners` (in their order) but those in `refusals`: by ids, an audience holds 100,000."""
        refused = {partner.id for partner in refusals}
        return partners.browse([pid for pid in partners._ids if pid not in refused])

    def _new_refusals(self, refusals):
        """The refusals not yet recorded for this sequence with the same rule (a sync runs again and again)."""
        if not refusals:
            return {}
        known = set(
            self.env["sales.sequence.refusal"]
            .sudo()
            .search_fetch([("sequence_id", "=", self.id), ("partner_id", "in", [p.id for p in refusals])], ["rule"])
            .mapped(lambda refusal: (refusal.partner_id.id, refusal.rule))
        )
        return {partner: refusal for partner, refusal in refusals.items() if (partner.id, refusal[0]) not in known}

    def _next_audience_sync(self, now):
        self.ensure_one()
        if self.audience_sync == "manual" or not self.audience_ids:
            return False
        if self.audience_sync == "hours":
            return now + timedelta(hours=max(self.audience_sync_interval, 1))
        tz = ZoneInfo(self.tz or "UTC")
        local_now = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
        hours, minutes = divmod(round(self.audience_sync_hour * 60), 60)
        at = local_now.replace(hour=min(hours, 23), minute=minutes, second=0, microsecond=0)
        if at <= local_now:
            at += timedelta(days=1)
        return at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    def action_sync_audience(self):
        self.check_access("write")
        enrolled = self.env["sales.sequence.enrollment"]
        for sequence in self:
            enrolled |= sequence._sync_audience()
        return self._notify_done(
            _(
                "%(count)s new contact(s) enrolled from the audience of %(names)s.",
                count=len(enrolled),
                names=self._names_for_message(),
            )
        )

    def action_preview_audience(self):
        """The audience's new matches, before anything is enrolled."""
        self.ensure_one()
        self.check_access("read")
        ids = self._audience_candidates()
        return {
            "type": "ir.actions.act_window",
            "name": _("Audience preview: %(count)s new contact(s)", count=len(ids)),
            "res_model": "res.partner",
            "view_mode": "list,form",
            "domain": [("id", "in", ids)],
            "target": "current",
        }

    @api.model
    def _cron_sync_audiences(self, batch_size=20):
        """Sync the audiences that are due, each sequence committed on its own; reports progress so Odoo calls it
        again while some remain."""
        now = fields.Datetime.now()
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        due = self.search(self._audience_due_domain(now), limit=batch_size)
        for sequence in due:
            try:
                with self.env.cr.savepoint():
                    sequence._sync_audience()
            except Exception:  # noqa: BLE001 - one broken audience must not stop the others
                _logger.exception("Sequence %s: the audience sync failed", sequence.id)
                sequence.audience_next_sync = sequence._next_audience_sync(now)
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        remaining = self.search_count(self._audience_due_domain(now))
        self.env["ir.cron"]._notify_progress(done=len(due), remaining=remaining)

    @api.model
    def _audience_due_domain(self, now):
        return [
            ("state", "=", "active"),
            ("audience_ids", "!=", False),
            ("audience_sync", "!=", "manual"),
            "|",
            ("audience_next_sync", "=", False),
            ("audience_next_sync", "<=", now),
        ]
