from odoo import _, models
from odoo.tools import format_date


class SalesSequenceEnrollment(models.Model):
    """A contact who replied since an email was drafted or queued is not sent it: a reply elsewhere (another
    sequence, another address of the contact) while this enrollment waited would otherwise go unheard. Joins the
    email executor through `_take_approved` (super()), after approval chose what may go."""

    _inherit = "sales.sequence.enrollment"

    def _take_approved(self, step, now):
        sendable, drafts = super()._take_approved(step, now)
        replied = sendable._replied_since_queued(drafts)
        if not replied:
            return sendable, drafts
        held = self.browse([enrollment.id for enrollment in replied])
        held_drafts = drafts.filtered(lambda d: d.enrollment_id in held)
        for enrollment, reply in replied.items():  # one reason per contact (its sequence, its date)
            reason = _(
                "Not sent: %(contact)s replied to %(sequence)s on %(date)s, after this email was queued. Read the "
                "reply; resume the enrollment to send it anyway.",
                contact=enrollment.partner_id.display_name,
                sequence=reply.sequence_id.name,
                date=format_date(self.env, reply.date),
            )
            self.env["sales.sequence.event"]._record(enrollment, "reply_hold", reason, step=step)
            enrollment._pause(reason, next_run_at=False)
            # sudo: drafts are the engine's; skipped, with the reason the approver sees.
            drafts.filtered(lambda d, e=enrollment: d.enrollment_id == e).sudo().write(
                {"state": "skipped", "reason": reason, "decided_at": now}
            )
        return sendable - held, drafts - held_drafts

    def _replied_since_queued(self, drafts):
        """{enrollment: reply event} for the enrollments whose contact replied, in any sequence, after this email
        was queued: after its draft, its last send (or its enrollment), and any resume after an earlier hold."""
        if not self:
            return {}
        since = {}
        for enrollment in self:
            since[enrollment.id] = enrollment.last_touch_at or enrollment.date_enrolled
        for draft in drafts:
            since[draft.enrollment_id.id] = max(since[draft.enrollment_id.id], draft.create_date)
        # A person who resumed the enrollment since read the reply (this one's, or the one that held it) and chose
        # to go on; a resume of the whole sequence is no such choice.
        resumes = (
            self.env["sales.sequence.event"]
            .sudo()
            .search(  # sudo: engine history, only dates are read
                [("enrollment_id", "in", self.ids), ("event_type", "=", "resume"), ("by_sequence", "=", False)]
            )
        )
        for resume in resumes:
            since[resume.enrollment_id.id] = max(since[resume.enrollment_id.id], resume.date)
        Event = self.env["sales.sequence.event"]
        last_replies = Event._last_replies(self.partner_id, min(since.values()))
        replied = {}
        for enrollment in self:
            reply = last_replies.get(enrollment.partner_id)
            if reply and reply.date > since[enrollment.id]:
                replied[enrollment] = reply
        return replied
