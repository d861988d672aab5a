import logging

from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models

_logger = logging.getLogger(__name__)

ACTIVITY_TYPE_XMLIDS = {"task": "mail.mail_activity_data_todo", "call": "mail.mail_activity_data_call"}


class SalesSequenceEnrollment(models.Model):
    """The task, call and email-reminder executors: an activity for a person (on the contact, or on the reminder's
    draft), then wait for it or move on."""

    _inherit = "sales.sequence.enrollment"

    def _run_task(self, step, now, schedules):
        self._run_activity_step(step, now, schedules)

    def _run_call(self, step, now, schedules):
        self._run_activity_step(step, now, schedules)

    def _run_activity_step(self, step, now, schedules):
        """One activity per contact, created in one batch, with its step run; a step already run (a retry, a
        resume) is not created again."""
        done_before = self._touches_of(step)
        fresh = self.filtered(lambda e: e.id not in done_before)
        new = fresh._hold_empty_merge_fields(step)
        if new != fresh:
            return (self - (fresh - new))._run_activity_step(step, now, schedules)
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
                    "subject": activity.summary,
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
        texts = step._render_activity(self.partner_id.ids)  # merge fields in the summary and the note
        values = [
            {
                "res_model_id": partner_model,
                "res_id": enrollment.partner_id.id,
                "activity_type_id": activity_type.id,
                "summary": texts[enrollment.partner_id.id][0],
                "note": texts[enrollment.partner_id.id][1],
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
        if not canceled:
            touches._record_call_outcomes()
        for touch in touches:
            enrollment = touch.enrollment_id.sudo()
            if canceled:
                self.env["sales.sequence.event"]._record(
                    enrollment, "skip", _("Activity canceled: %(summary)s", summary=touch.subject), step=touch.step_id
                )
            else:
                outcome = touch.call_outcome_id
                description = (
                    _("%(summary)s: %(outcome)s", summary=touch.subject, outcome=outcome.name)
                    if outcome
                    else touch.subject
                )
                self.env["sales.sequence.event"]._record(
                    enrollment,
                    "activity_done",
                    description,
                    step=touch.step_id,
                    touch_id=touch.id,
                    call_outcome_id=outcome.id,
                )
            if enrollment.step_id == touch.step_id and enrollment.state == "active" and not enrollment.next_run_at:
                enrollment._advance_after(touch.step_id, now, schedules)
        for draft in drafts:
            draft.write({"state": "skipped", "decided_at": now, "decided_by_id": self.env.uid})
            draft.enrollment_id.sudo()._skip_step(
                draft.step_id, _("The email reminder was closed without sending it."), now, schedules
            )

    # ------------------------------------------------------------------
    # Email reminders
    # ------------------------------------------------------------------

    def _run_email_reminder(self, step, now, schedules):
        """Prepare the rendered email as a reminder for the assignee, who reviews, edits and sends it from its
        activity (or Needs Attention); the sequence waits for the send, or moves on, as the step says."""
        sendable = self._block_unsendable()
        existing = sendable._open_drafts(step)
        new = sendable - existing.enrollment_id
        contents = new._email_contents(step, self.env["sales.sequence.draft"])
        new = new.filtered(lambda e: e.id in contents)
        drafts = new._create_drafts(step, contents, "reminder", now)
        activity_type = self.env.ref("mail.mail_activity_data_email")
        for draft in drafts:
            draft.sudo().activity_schedule(  # sudo: the assignee gets the activity whatever the cron's user
                activity_type_id=activity_type.id,
                summary=_("Review and send: %(subject)s", subject=draft.subject),
                user_id=draft.enrollment_id._activity_assignee(step).id,
                date_deadline=fields.Date.to_date(now) + relativedelta(days=step.activity_due_days),
            )
        waiting = existing.enrollment_id | new
        if step.wait_for_done:
            waiting._wait_for_person(
                _("Waiting for the email reminder of step '%(step)s' to be reviewed and sent.", step=step.name)
            )
        else:
            for enrollment in waiting.filtered(lambda e: e.step_id == step):
                enrollment._advance_after(step, now, schedules)

    def _send_drafts(self, drafts, now):
        """Send reviewed email reminders now (the person sends them, not the schedule); the enrollment then goes
        on if it was waiting for them."""
        schedules = {}
        for step, step_drafts in drafts.grouped("step_id").items():
            enrollments = step_drafts.enrollment_id
            contents = enrollments._email_contents(step, step_drafts)
            sent = enrollments.filtered(lambda e, c=contents: e.id in c)._send_emails(
                step, contents, now, schedules, advance=False
            )
            for draft in step_drafts:
                if draft.enrollment_id not in sent:
                    continue
                draft.state = "sent"
                enrollment = draft.enrollment_id
                if enrollment.step_id == step and enrollment.state == "active":
                    enrollment._advance_after(step, now, schedules)
