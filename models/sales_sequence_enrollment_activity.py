import logging

from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models

_logger = logging.getLogger(__name__)

ACTIVITY_TYPE_XMLIDS = {"task": "mail.mail_activity_data_todo", "call": "mail.mail_activity_data_call"}


class SalesSequenceEnrollment(models.Model):
    """The task and call executors: an activity on the contact for a person, then wait for it or move on."""

    _inherit = "sales.sequence.enrollment"

    def _run_task(self, step, now, schedules):
        self._run_activity_step(step, now, schedules)

    def _run_call(self, step, now, schedules):
        self._run_activity_step(step, now, schedules)

    def _run_activity_step(self, step, now, schedules):
        """One activity per contact, created in one batch, with its step run; a step already run (a retry, a
        resume) is not created again."""
        done_before = self._touches_of(step)
        new = self.filtered(lambda e: e.id not in done_before)
        activities = new._create_step_activities(step, now)
        # sudo: step runs are engine history.
        self.env["sales.sequence.touch"].sudo().create(
            [
                {
                    "enrollment_id": enrollment.id,
                    "step_id": step.id,
                    "date": now,
                    "kind": step.step_type,
                    "activity_id": activity.id,
                    "subject": step.activity_summary,
                    "mailbox": False,
                }
                for enrollment, activity in zip(new, activities, strict=True)
            ]
        )
        self.env["sales.sequence.event"]._record(new, "activity", step.activity_summary, step=step)
        finished = self.filtered(lambda e: done_before.get(e.id) and done_before[e.id].done_at)
        waiting = (self - finished) if step.wait_for_done else self.browse()
        waiting._wait_for_person(
            _(
                "Waiting for the %(type)s '%(summary)s' to be marked done.",
                type=dict(step._fields["step_type"]._description_selection(self.env))[step.step_type].lower(),
                summary=step.activity_summary,
            )
        )
        moving = self - waiting
        for enrollment in moving & finished:  # the activity was done before: the next delay counts from then
            enrollment._advance_after(step, done_before[enrollment.id].done_at, schedules)
        (moving - finished)._advance_batch(step, now, schedules)
        (new & waiting).last_touch_at = now

    def _touches_of(self, step):
        """{enrollment id: its run of `step`} for those that already ran it."""
        # sudo: step runs are engine history; only those of these enrollments are read.
        touches = (
            self.env["sales.sequence.touch"]
            .sudo()
            .search([("enrollment_id", "in", self.ids), ("step_id", "=", step.id), ("failed", "=", False)])
        )
        return {touch.enrollment_id.id: touch for touch in touches}

    def _create_step_activities(self, step, now):
        """The step's activities on the contacts, one create; in the order of self."""
        activity_type = self.env.ref(ACTIVITY_TYPE_XMLIDS[step.step_type])
        deadline = fields.Date.to_date(now) + relativedelta(days=step.activity_due_days)
        partner_model = self.env["ir.model"]._get_id("res.partner")
        values = [
            {
                "res_model_id": partner_model,
                "res_id": enrollment.partner_id.id,
                "activity_type_id": activity_type.id,
                "summary": step.activity_summary,
                "note": step.activity_note or False,
                "user_id": enrollment._activity_assignee(step).id,
                "date_deadline": deadline,
            }
            for enrollment in self
        ]
        # sudo: the engine assigns activities to the owner or the salesperson, whoever runs the cron.
        return self.env["mail.activity"].sudo().with_context(mail_activity_quick_update=True).create(values)

    def _activity_assignee(self, step):
        """The contact's salesperson (when the step says so and they are an internal user), else the owner."""
        self.ensure_one()
        salesperson = self.partner_id.user_id
        if step.activity_assignee == "salesperson" and salesperson and not salesperson.share and salesperson.active:
            return salesperson
        return self.sequence_id.user_id

    def _wait_for_person(self, reason):
        """Wait, out of the due set, until a person finishes the step (done activity, reminder sent)."""
        if self:
            self._activate(reason, next_run_at=False)

    @api.model
    def _on_activities_done(self, activities, canceled=False):
        """Activities of sequence steps were marked done (or canceled): record it, and move on the enrollments
        waiting for them. Pending email reminders whose activity is closed without sending are skipped."""
        # sudo: whoever marks the activity done (the assignee) moves the sequence on; engine history is written.
        Touch = self.env["sales.sequence.touch"].sudo()
        touches = Touch.search([("activity_id", "in", activities.ids), ("done_at", "=", False)])
        reminders = activities.filtered(lambda a: a.res_model == "sales.sequence.draft")
        drafts = self.env["sales.sequence.draft"].sudo().browse(reminders.mapped("res_id")).exists()
        drafts = drafts.filtered(lambda d: d.state == "pending" and d.kind == "reminder")
        if not touches and not drafts:
            return
        now = fields.Datetime.now()
        schedules = {}
        touches.write({"done_at": now})
        for touch in touches:
            enrollment = touch.enrollment_id.sudo()
            if canceled:
                self.env["sales.sequence.event"]._record(
                    enrollment, "skip", _("Activity canceled: %(summary)s", summary=touch.subject), step=touch.step_id
                )
            else:
                self.env["sales.sequence.event"]._record(
                    enrollment, "activity_done", touch.subject, step=touch.step_id, touch_id=touch.id
                )
            if enrollment.step_id == touch.step_id and enrollment.state == "active" and not enrollment.next_run_at:
                enrollment._advance_after(touch.step_id, now, schedules)
        for draft in drafts:
            draft.write({"state": "skipped", "decided_at": now, "decided_by_id": self.env.uid})
            draft.enrollment_id.sudo()._skip_step(
                draft.step_id, _("The email reminder was closed without sending it."), now, schedules
            )
