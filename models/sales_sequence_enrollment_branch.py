from collections import defaultdict

from odoo import _, models
from odoo.tools import SQL

from ..lib.conditions import branch_target, next_in_order, outcome_fact, unmet_condition


class SalesSequenceEnrollment(models.Model):
    """Branch steps: the executor that answers a branch's conditions and sends the enrollment down one of two paths
    (no email, an event in the timeline), and the choice of the step after any step for an enrollment that took
    branches. The forecast answers branches with the same facts (wizards/sales_sequence_forecast.py)."""

    _inherit = "sales.sequence.enrollment"

    # ------------------------------------------------------------------
    # What conditions read
    # ------------------------------------------------------------------

    def _behaviour_facts(self):
        """{enrollment id: facts} as lib/conditions.py reads them: the latest email's opened/clicked/replied, any
        earlier email's (any_opened, ...), the last call's outcome (outcome:<id>). Three queries for the batch."""
        facts = self._previous_email_facts()
        if not self:
            return facts
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT ev.enrollment_id, ev.event_type
                  FROM sales_sequence_event ev
                 WHERE ev.enrollment_id = ANY(%s) AND ev.event_type IN ('open', 'click', 'reply')
                """,
                self.ids,
            )
        )
        names = {"open": "any_opened", "click": "any_clicked", "reply": "any_replied"}
        for enrollment_id, event_type in self.env.cr.fetchall():
            facts[enrollment_id].add(names[event_type])
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT ON (enrollment_id) enrollment_id, call_outcome_id
                  FROM sales_sequence_touch
                 WHERE enrollment_id = ANY(%s) AND kind = 'call' AND failed IS NOT TRUE
              ORDER BY enrollment_id, date DESC, id DESC
                """,
                self.ids,
            )
        )
        for enrollment_id, outcome_id in self.env.cr.fetchall():
            if outcome_id:
                facts[enrollment_id].add(outcome_fact(outcome_id))
        return facts

    def _unmet_conditions(self, conditions, facts=None):
        """{enrollment id: the first of `conditions` it does not meet, or None}, judged as the run cron does."""
        facts = self._behaviour_facts() if facts is None else facts
        matching = self._contacts_matching(conditions)
        leads = self._leads_matching(conditions)
        return {
            enrollment.id: unmet_condition(
                conditions._specs(
                    contact_ok=enrollment.partner_id in matching,
                    lead_ok=bool(enrollment.lead_id) and enrollment.lead_id in leads,
                ),
                facts[enrollment.id],
            )
            for enrollment in self
        }

    # ------------------------------------------------------------------
    # The executor
    # ------------------------------------------------------------------

    def _run_branch(self, step, now, schedules):
        """Answer the branch for each enrollment, record the answer (step run, event), and schedule the path's
        step from the branch's slot, as the forecast does."""
        smart = self.filtered(lambda e: e.sequence_id.sequence_type == "smart")
        for enrollment in smart:  # smart sequences pick their steps by behaviour: a branch has nothing to do
            enrollment._skip_step(step, _("Branch steps run in classic sequences only."), now, schedules)
        classic = self - smart
        answered = classic._touches_of(step)  # a retry after a crash: the answer stands
        fresh = classic.filtered(lambda e: e.id not in answered)
        unmet = fresh._unmet_conditions(step.condition_ids)
        at = {enrollment.id: enrollment.next_run_at or now for enrollment in classic}
        # sudo: step runs and events are engine history.
        touches = (
            self.env["sales.sequence.touch"]
            .sudo()
            .create(
                [
                    {
                        "enrollment_id": enrollment.id,
                        "step_id": step.id,
                        "date": at[enrollment.id],
                        "kind": "branch",
                        "subject": step.name,
                        "branch_answer": "no" if unmet[enrollment.id] else "yes",
                        "mailbox": False,
                    }
                    for enrollment in fresh
                ]
            )
        )
        answered.update({touch.enrollment_id.id: touch for touch in touches})
        by_answer = defaultdict(lambda: self.browse())
        for enrollment in classic:
            by_answer[answered[enrollment.id].branch_answer] |= enrollment
        for answer, enrollments in by_answer.items():
            target = step.branch_yes_step_id if answer == "yes" else step.branch_no_step_id
            description = _(
                "Branch '%(branch)s': %(answer)s -> %(target)s",
                branch=step.name,
                answer=_("yes") if answer == "yes" else _("no"),
                target=step._target_label(target),
            )
            self.env["sales.sequence.event"]._record(enrollments & fresh, "branch", description, step=step)
        for moment, enrollments in classic.grouped(lambda e: at[e.id]).items():
            enrollments._advance_batch(step, moment, schedules)

    # ------------------------------------------------------------------
    # The step after a step, along the path taken
    # ------------------------------------------------------------------

    def _next_step_after(self, step):
        """The step this enrollment runs after `step`: a branch's target by its recorded answer, else the next step
        in order not run yet, unless the path taken at an earlier branch ends there (lib/conditions.py)."""
        self.ensure_one()
        steps = list(step.sequence_id.step_ids)
        done = self._done_touches()
        if step.step_type == "branch":
            touch = done.filtered(lambda t: t.step_id == step)[:1]
            target, _stop = branch_target(step._branch_targets(), touch.branch_answer != "no")
        else:
            done_positions = {steps.index(s) for s in done.step_id if s in steps}
            target = next_in_order(steps.index(step), len(steps), self._path_stops(steps), done_positions)
        return steps[target] if target is not None else step.browse()

    def _path_stops(self, steps):
        """Positions where the paths this enrollment took at its branches end."""
        stops = set()
        for touch in self._done_touches().filtered(lambda t: t.kind == "branch" and t.step_id in steps):
            _target, stop = branch_target(touch.step_id._branch_targets(), touch.branch_answer != "no")
            if stop is not None:
                stops.add(stop)
        return stops
