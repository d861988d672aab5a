import logging

from odoo import _, models

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
        self.env["sales.sequence.touch"].sudo().create(  # sudo: step runs are engine history
            [
                {
                    "enrollment_id": enrollment.id,
                    "step_id": step.id,
                    "date": now,
                    "kind": "sms",
                    "subject": texts[enrollment.partner_id.id][:100],
                    "mailbox": False,
                }
                for enrollment in textable
            ]
        )
        self.env["sales.sequence.event"]._record(textable, "sms", step.name, step=step)
        bodies = {}
        for enrollment in textable:  # not a comprehension: _() finds the language in the caller's frame
            bodies[enrollment.partner_id.id] = _(
                "Sequence %(sequence)s, step '%(step)s': SMS to %(number)s: %(text)s",
                sequence=enrollment.sequence_id.name,
                step=step.name,
                number=enrollment.partner_id.phone_sanitized,
                text=texts[enrollment.partner_id.id],
            )
        textable.partner_id._message_log_batch(bodies=bodies, author_id=step.sequence_id.user_id.partner_id.id)
        textable._advance_batch(step, now, schedules)
        cron = self.env.ref("sms.ir_cron_sms_scheduler_action", raise_if_not_found=False)
        if cron and sms:
            cron._trigger()

    def _block_without_mobile(self):
        """Block the enrollments whose contact has no valid mobile number, end those whose number is on the SMS
        blacklist; return the others."""
        missing = self.filtered(lambda e: not e.partner_id.phone_sanitized)
        for enrollment in missing:
            number = enrollment.partner_id.mobile or enrollment.partner_id.phone
            if number:
                reason = _(
                    "The contact's number '%(number)s' is not a valid mobile number: correct the contact's Mobile "
                    "(with the country code, or the contact's country), then resume the enrollment.",
                    number=number,
                )
            else:
                reason = _("The contact has no mobile number: fill the contact's Mobile, then resume the enrollment.")
            enrollment._block(reason)
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
