import logging
from collections import defaultdict

from odoo import _, api, fields, models
from odoo.tools import SQL

from ..lib.conditions import is_exhausted, pick_step, unmet_condition
from .sales_sequence_enrollment import OPEN_STATES, RUNNING_STATES
from .sales_sequence_enrollment_run import LATE_GRACE

_logger = logging.getLogger(__name__)


class SalesSequenceEnrollment(models.Model):
    """The gates before a step runs: the send window, the owner's leave, the ruleset's exclusion rules, the sequence's
    exit criteria (contact conditions, a booked meeting), the step's conditions (classic) and the choice of the next
    step (smart). Each takes enrollments and returns those that may go on; the others leave through a transition."""

    _inherit = "sales.sequence.enrollment"

    # ------------------------------------------------------------------
    # Send window and the owner's leave
    # ------------------------------------------------------------------

    def _defer_missed_windows(self, schedule, now):
        """Queue for the next slot the enrollments whose window closed since they fell due (the cron was late,
        stopped, or the enrollment was resumed out of hours): nothing leaves outside the send schedule.
        Return the others."""
        missed = self.filtered(
            lambda e: now - e.next_run_at > LATE_GRACE and not schedule.is_open(now, tz=e._get_contact_tz())
        )
        for enrollment in missed:
            enrollment._queue(
                _("The send window closed before this step could go; it goes at the next slot."),
                enrollment._next_allowed_slot(schedule, now),
            )
        return self - missed

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

    # ------------------------------------------------------------------
    # Rules and exit criteria
    # ------------------------------------------------------------------

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
        running = self.search([("partner_id", "in", partners.ids), ("state", "in", RUNNING_STATES)]).filtered(
            lambda e: e.sequence_id.exit_on_meeting
        )
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
                ("state", "in", OPEN_STATES),
                ("id", "not in", wide.ids),
            ]
        )

    # ------------------------------------------------------------------
    # Step conditions (classic) and the choice of the step (smart)
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

    def _leads_matching(self, conditions):
        """The opportunities of these enrollments that match the opportunity conditions among `conditions`, searched
        as the sequence's owner (as contact conditions are)."""
        leads = self.lead_id if "lead_id" in self._fields else self.env["crm.lead"]
        if not leads or not conditions._has_lead_conditions():
            return leads.browse()
        owner = conditions.sequence_id[:1].user_id
        domain = conditions._lead_domain(owner)
        found = conditions._records_as(owner, "crm.lead").search([("id", "in", leads.ids), *domain])
        return leads.browse(found.ids)

    def _skip_unmet_conditions(self, step, now, schedules):
        """Classic: the enrollments whose step conditions fail skip the step, with the condition as the reason, and
        the next step keeps its own day (its delay counts from this step's slot). Returns the others."""
        conditions = step.condition_ids
        if not conditions or not self or step.step_type == "branch":  # a branch's conditions choose its path
            return self
        unmet = self._unmet_conditions(conditions)
        labels = dict(conditions._fields["condition_type"]._description_selection(self.env))
        skipped = defaultdict(lambda: self.browse())  # (failed condition, slot): enrollments, skipped together
        for enrollment in self:
            failed = unmet[enrollment.id]
            if failed:
                skipped[(failed, enrollment.next_run_at or now)] |= enrollment
        for (failed, at), enrollments in skipped.items():
            reason = _("Condition not met: %(condition)s. Step skipped.", condition=labels[failed])
            enrollments._skip_step(step, reason, at, schedules)
        return self.filtered(lambda e: not any(e in group for group in skipped.values()))

    def _pick_smart_steps(self, now, schedules):
        """Smart: {(sequence, step): enrollments} running the first not-yet-run step whose conditions match now.
        The enrollments no step matches wait for the next run, or finish when none ever can."""
        groups = defaultdict(lambda: self.browse())
        facts = self._behaviour_facts()
        for sequence, enrollments in self.grouped("sequence_id").items():
            steps = sequence.step_ids
            contact_ok = {step: enrollments._contacts_matching(step.condition_ids) for step in steps}
            lead_ok = {step: enrollments._leads_matching(step.condition_ids) for step in steps}
            outcomes = {step: [s for s in step.condition_ids._specs() if s[0] == "call_outcome"] for step in steps}
            for enrollment in enrollments:
                done = set(enrollment._done_touches().step_id.ids)
                options = [
                    (
                        step.id,
                        step.condition_ids.mapped("condition_type"),
                        enrollment.partner_id in contact_ok[step]
                        and (not step.condition_ids._has_lead_conditions() or enrollment.lead_id in lead_ok[step])
                        and unmet_condition(outcomes[step], facts[enrollment.id]) is None,
                    )
                    for step in steps
                ]
                picked = pick_step(options, done, facts[enrollment.id])
                if picked:
                    step = self.env["sales.sequence.step"].browse(picked)
                    if enrollment.step_id != step:
                        enrollment.step_id = step
                    groups[(sequence, step)] |= enrollment
                elif is_exhausted(options, done, facts[enrollment.id]):
                    enrollment._finish(_("No step can match any more."))
                else:
                    enrollment._advance_smart(now, schedules, _("No step matched at this run."))
        return groups
