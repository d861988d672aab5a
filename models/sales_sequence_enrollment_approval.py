import logging

from odoo import _, fields, models

from .sales_sequence_draft import OPEN_DRAFT_STATES
from .sales_sequence_enrollment import DUE_STATES, cached_schedule

_logger = logging.getLogger(__name__)


class SalesSequenceEnrollment(models.Model):
    """Ask Before Sending: the email steps that ask for approval hold the run loop (`_hold_before_step`) and the
    email executor (`_take_approved`) until their draft is approved, by a person or the step's auto-approve rule."""

    _inherit = "sales.sequence.enrollment"

    # ------------------------------------------------------------------
    # Ask before sending
    # ------------------------------------------------------------------

    def _hold_before_step(self, step, now):
        held = super()._hold_before_step(step, now)
        if step._needs_approval():
            held |= (self - held)._hold_for_approval(step, now)
        return held

    def _take_approved(self, step, now):
        """The approved drafts go; the others are drafted for approval (the auto-approve rule may approve some)."""
        if not step._needs_approval():
            return super()._take_approved(step, now)
        drafts = self._open_drafts(step).filtered(lambda d: d.state == "approved")
        sendable = drafts.enrollment_id | self._draft_for_approval(step, now, drafts.enrollment_id)
        drafts = sendable._open_drafts(step).filtered(lambda d: d.state == "approved")
        return sendable, drafts

    def _open_drafts(self, step):
        # sudo: drafts are the engine's; only those of these enrollments and this step are read.
        return (
            self.env["sales.sequence.draft"]
            .sudo()
            .search([("enrollment_id", "in", self.ids), ("step_id", "=", step.id), ("state", "in", OPEN_DRAFT_STATES)])
        )

    def _hold_for_approval(self, step, now):
        """The enrollments whose draft of `step` still waits for approval: kept waiting, or paused when the draft
        has waited past its expiry."""
        pending = self._open_drafts(step).filtered(lambda d: d.state == "pending")
        expired = pending.filtered(lambda d: d.expires_at and d.expires_at <= now)
        if expired:
            days = step.sequence_id.approval_expiry_days
            reason = _(
                "The draft of step '%(step)s' waited %(days)s days without approval and expired. Resume the "
                "enrollment to draft it again.",
                step=step.name,
                days=days,
            )
            expired.write({"state": "expired", "reason": reason, "decided_at": now})
            expired.activity_ids.unlink()
            self.env["sales.sequence.event"]._record(expired.enrollment_id, "expire", reason, step=step)
            expired.enrollment_id._pause(reason, next_run_at=False)
        for draft in pending - expired:
            if draft.enrollment_id.next_run_at != draft.expires_at:
                draft.enrollment_id.next_run_at = draft.expires_at
        return pending.enrollment_id

    def _draft_for_approval(self, step, now, approved):
        """Draft `step` for the enrollments that have no approved draft; the step's auto-approve rule may approve
        some at once (up to its daily cap). Returns the enrollments approved automatically."""
        to_draft = self - approved
        if not to_draft:
            return self.browse()
        contents = to_draft._email_contents(step, self.env["sales.sequence.draft"])
        to_draft = to_draft.filtered(lambda e: e.id in contents)
        drafts = to_draft._create_drafts(step, contents, "approval", now)
        automatic = drafts[: self.env["sales.sequence.draft"]._auto_approvable(step, len(drafts))]
        automatic.write({"state": "approved", "auto_approved": True, "decided_at": now})
        self.env["sales.sequence.event"]._record(
            automatic.enrollment_id, "approve", _("Approved by the step's auto-approve rule."), step=step
        )
        pending = drafts - automatic
        self.env["sales.sequence.event"]._record(
            pending.enrollment_id, "draft", _("Waiting for approval in Needs Attention."), step=step
        )
        for expires_at, group in pending.grouped("expires_at").items():
            group.enrollment_id.write(
                {
                    "next_run_at": expires_at,
                    "state_reason": _(
                        "Step '%(step)s' waits for approval in Needs Attention (until %(date)s).",
                        step=step.name,
                        date=fields.Datetime.to_string(expires_at),
                    ),
                }
            )
        return automatic.enrollment_id

    def _create_drafts(self, step, contents, kind, now):
        expires_at = self.env["sales.sequence.draft"]._expiry(step.sequence_id, now) if kind == "approval" else False
        values = []
        for enrollment in self:
            subject, body, variant = contents[enrollment.id]
            values.append(
                {
                    "enrollment_id": enrollment.id,
                    "step_id": step.id,
                    "variant_id": variant.id if variant else False,
                    "kind": kind,
                    "subject": subject,
                    "body_html": body,
                    "expires_at": expires_at,
                }
            )
        # sudo: drafts are written by the engine (their status fields are engine-owned).
        return self.env["sales.sequence.draft"].sudo().with_context(mail_create_nolog=True).create(values)

    def _record_approval(self, drafts, now):
        """Approved by hand: each enrollment goes at its sequence's next allowed slot."""
        schedules = {}
        self.env["sales.sequence.event"]._record(
            drafts.enrollment_id, "approve", _("Approved by %(user)s.", user=self.env.user.name)
        )
        for draft in drafts:
            enrollment = draft.enrollment_id.sudo()  # sudo: the approver's right on the draft was checked
            if enrollment.state not in DUE_STATES or enrollment.step_id != draft.step_id:
                continue
            schedule = cached_schedule(schedules, enrollment.sequence_id)
            enrollment.write(
                {
                    "next_run_at": enrollment._next_allowed_slot(schedule, now),
                    "state_reason": _(
                        "Step '%(step)s' approved by %(user)s: it goes at the next allowed slot.",
                        step=draft.step_id.name,
                        user=self.env.user.name,
                    ),
                }
            )
            enrollment._wake_cron_for_due()
