import logging

from odoo import _, api, fields, models

from .sales_sequence_enrollment import OPEN_STATES

_logger = logging.getLogger(__name__)


class SalesSequenceEnrollment(models.Model):
    """The SMS executor: texts rendered in batch and queued through Odoo's SMS queue (sms.sms, sent by its cron
    through IAP), one step run each."""

    _inherit = "sales.sequence.enrollment"

    def _run_sms(self, step, now, schedules):
        done_before = self._touches_of(step)
        for enrollment in self.filtered(lambda e: e.id in done_before):
            enrollment._advance_after(step, done_before[enrollment.id].date, schedules)
        textable = (self.filtered(lambda e: e.id not in done_before))._block_without_mobile()
        textable = textable._hold_empty_merge_fields(step)
        texts, failed = textable._render_sms_texts(step)
        textable = textable.filtered(lambda e: e.partner_id.id not in failed)
        if not textable:
            return
        # sudo: the engine queues the texts; sms.sms is technical.
        sms = (
            self.env["sms.sms"]
            .sudo()
            .create(
                [
                    {
                        "number": enrollment.partner_id.phone_sanitized,
                        "body": texts[enrollment.partner_id.id],
                        "partner_id": enrollment.partner_id.id,
                        "state": "outgoing",
                    }
                    for enrollment in textable
                ]
            )
        )
        # A tracker per text: Odoo's SMS queue and the provider's delivery reports tell it the verdict, which
        # `_on_sms_verdict` applies (sms.tracker is technical, created as Odoo's own sms_composer does).
        self.env["sms.tracker"].sudo().create([{"sms_uuid": text.uuid} for text in sms])
        uuids = dict(zip(textable.ids, sms.mapped("uuid"), strict=True))
        self.env["sales.sequence.touch"].sudo().create(  # sudo: step runs are engine history
            [
                {
                    "enrollment_id": enrollment.id,
                    "step_id": step.id,
                    "date": now,
                    "kind": "sms",
                    "subject": texts[enrollment.partner_id.id][:100],
                    "mailbox": False,
                    "sms_uuid": uuids[enrollment.id],
                }
                for enrollment in textable
            ]
        )
        # Not "sent" yet: the event and the contact's note wait for the SMS queue's verdict (`_on_sms_sent`).
        textable._advance_batch(step, now, schedules)
        cron = self.env.ref("sms.ir_cron_sms_scheduler_action", raise_if_not_found=False)
        if cron and sms:
            cron._trigger()

    # ------------------------------------------------------------------
    # The SMS queue's verdict (models/sms_tracker.py)
    # ------------------------------------------------------------------

    @api.model
    def _on_sms_verdict(self, uuids, sms_state, reason=None):
        """Odoo's SMS queue (or a delivery report) set the state of the texts `uuids`: sent ones are recorded as
        sent, failed ones handled as a failed email is (`_on_sms_failure`)."""
        if sms_state not in ("pending", "sent", "error") or not uuids:
            return
        # sudo: step runs are engine history, the verdict comes from the SMS queue or a public delivery report.
        touches = (
            self.env["sales.sequence.touch"].sudo().search([("sms_uuid", "in", list(uuids)), ("failed", "=", False)])
        )
        if sms_state == "error":
            touches.enrollment_id.sudo()._on_sms_failure(touches, reason)
        else:
            touches.filtered(lambda t: not t.sent_at).enrollment_id.sudo()._on_sms_sent(touches)

    def _on_sms_sent(self, touches):
        """The SMS provider took the texts: the step run counts as sent, the timeline and the contact say so."""
        touches = touches.filtered(lambda t: not t.sent_at)
        touches.write({"sent_at": fields.Datetime.now()})
        for step, step_touches in touches.grouped("step_id").items():
            self.env["sales.sequence.event"]._record(step_touches.enrollment_id, "sms", step.name, step=step)
        for sequence, seq_touches in touches.grouped("sequence_id").items():
            bodies = {}
            for touch in seq_touches:  # not a comprehension: _() finds the language in the caller's frame
                bodies[touch.partner_id.id] = _(
                    "Sequence %(sequence)s, step '%(step)s': SMS sent to %(number)s: %(text)s",
                    sequence=sequence.name,
                    step=touch.step_id.name,
                    number=touch.partner_id.phone_sanitized,
                    text=touch.subject,
                )
            seq_touches.partner_id._message_log_batch(bodies=bodies, author_id=sequence.user_id.partner_id.id)

    def _on_sms_failure(self, touches, reason):
        """The texts of `touches` could not be sent: as for a failed email (`_on_send_failure`), the step run no
        longer counts, and the enrollment pauses on that step with the reason and an activity for its owner.
        Batched: a whole SMS batch fails at once (no credit, the provider down)."""
        reason = reason or _("unknown error")
        touches.write({"failed": True})
        # Now, not at the next flush: the unique index must see it before the step's next run is inserted.
        touches.flush_recordset(["failed"])
        self.env["sales.sequence.event"].sudo().create(
            [
                {
                    "enrollment_id": touch.enrollment_id.id,
                    "event_type": "send_failure",
                    "description": reason[:200],
                    "step_id": touch.step_id.id,
                    "touch_id": touch.id,
                }
                for touch in touches
            ]
        )
        # An enrollment that ended since (a reply, an unsubscribe) stays ended; a finished one pauses on the step.
        touches = touches.filtered(lambda t: t.enrollment_id.state in (*OPEN_STATES, "finished"))
        for (step, owner), group in touches.grouped(lambda t: (t.step_id, t.enrollment_id.user_id)).items():
            enrollments = group.enrollment_id
            # Timed from the run before the failed one, as `_rewind_to` does for an email.
            previous = {}
            for touch in group:
                done = touch.enrollment_id._done_touches().filtered(lambda t, touch=touch: t.date <= touch.date)
                previous[touch.enrollment_id.id] = max(done.mapped("date"), default=False)
            for last_touch_at, same in enrollments.grouped(lambda e, previous=previous: previous.get(e.id)).items():
                same._pause(
                    _(
                        "Sending the SMS of step '%(step)s' failed: %(reason)s. Fix the cause, then resume: the SMS "
                        "is sent again.",
                        step=step.name,
                        reason=reason,
                    ),
                    step_id=step.id,
                    next_run_at=False,
                    last_touch_at=last_touch_at,
                    date_done=False,
                )
            enrollments.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("Sequence SMS not sent"),
                note=enrollments[:1].state_reason,
                user_id=owner.id,
            )

    @api.model
    def _sms_number_problem(self, partner):
        """Why an SMS cannot go to `partner` (no valid mobile), said the same by the cron, the forecast and the
        test run; False when it can."""
        if partner.phone_sanitized:
            return False
        number = partner.mobile or partner.phone
        if number:
            return _(
                "The contact's number '%(number)s' is not a valid mobile number: correct the contact's Mobile "
                "(with the country code, or the contact's country), then resume the enrollment.",
                number=number,
            )
        return _("The contact has no mobile number: fill the contact's Mobile, then resume the enrollment.")

    def _block_without_mobile(self):
        """Block the enrollments whose contact has no valid mobile number, end those whose number is on the SMS
        blacklist; return the others."""
        missing = self.filtered(lambda e: not e.partner_id.phone_sanitized)
        for enrollment in missing:
            enrollment._block(self._sms_number_problem(enrollment.partner_id))
        rest = self - missing
        # sudo: the phone blacklist is technical; only membership of numbers we already hold comes back.
        blocked = set(
            self.env["phone.blacklist"]
            .sudo()
            .search([("number", "in", rest.partner_id.mapped("phone_sanitized"))])
            .mapped("number")
        )
        blacklisted = rest.filtered(lambda e: e.partner_id.phone_sanitized in blocked)
        self.env["sales.sequence.event"]._record(blacklisted, "skip", _("Number on the SMS blacklist: not sent."))
        blacklisted._end("completed", _("The contact's number is on the SMS blacklist: no SMS goes to it."))
        return rest - blacklisted

    def _render_sms_texts(self, step):
        """({partner id: text}, {partner id: error}); an empty text or a failing placeholder blocks the enrollment."""
        texts, failed = {}, {}
        try:
            with self.env.cr.savepoint():
                texts = step._render_sms(self.partner_id.ids)
        except Exception:  # noqa: BLE001 - isolate the contacts whose data breaks the text
            for partner in self.partner_id:
                try:
                    with self.env.cr.savepoint():
                        texts.update(step._render_sms(partner.ids))
                except Exception as error:  # noqa: BLE001
                    failed[partner.id] = str(error).split("\n", 1)[0]
        for enrollment in self:
            partner_id = enrollment.partner_id.id
            if partner_id not in failed and not texts.get(partner_id):
                failed[partner_id] = _("the text is empty for this contact")
            if partner_id in failed:
                enrollment._block(
                    _(
                        "The SMS of step '%(step)s' could not be written: %(error)s. Fix the step or the contact, "
                        "then resume the enrollment.",
                        step=step.name,
                        error=failed[partner_id],
                    )
                )
        return texts, failed
