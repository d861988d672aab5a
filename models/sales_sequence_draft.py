from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .sales_sequence_enrollment import RUNNING_STATES

DRAFT_STATES = [
    ("pending", "Needs Attention"),
    ("approved", "Approved"),
    ("sent", "Sent"),
    ("skipped", "Skipped"),
    ("expired", "Expired"),
]
OPEN_DRAFT_STATES = ("pending", "approved")


class SalesSequenceDraft(models.Model):
    """An email of a sequence waiting for a person: a draft to approve (Ask Before Sending) or an email reminder
    to review and send. The "Needs Attention" queue lists the pending ones of the owner."""

    _name = "sales.sequence.draft"
    _description = "Sales Sequence Draft"
    _inherit = ["mail.thread", "mail.activity.mixin", "sales.sequence.guard.mixin"]
    _order = "create_date, id"
    _rec_name = "subject"
    _immutable_fields = ("enrollment_id", "step_id", "kind")
    _guard_operation = "write"

    enrollment_id = fields.Many2one(
        "sales.sequence.enrollment", required=True, index=True, ondelete="cascade", readonly=True
    )
    step_id = fields.Many2one("sales.sequence.step", required=True, index=True, ondelete="cascade", readonly=True)
    variant_id = fields.Many2one("sales.sequence.step.variant", ondelete="set null", readonly=True)
    sequence_id = fields.Many2one(related="enrollment_id.sequence_id", store=True, index=True)
    partner_id = fields.Many2one(related="enrollment_id.partner_id", string="Contact", store=True)
    email = fields.Char(related="enrollment_id.partner_id.email", string="To")
    user_id = fields.Many2one(related="enrollment_id.user_id", string="Owner", store=True, index=True)
    company_id = fields.Many2one(related="enrollment_id.company_id", store=True)
    kind = fields.Selection(
        [("approval", "Approval"), ("reminder", "Email Reminder")], required=True, default="approval", readonly=True
    )
    subject = fields.Char()
    body_html = fields.Html(string="Body", sanitize="email_outgoing")
    state = fields.Selection(DRAFT_STATES, string="Status", default="pending", required=True, index=True, readonly=True)
    expires_at = fields.Datetime(string="Expires On", readonly=True)
    decided_by_id = fields.Many2one("res.users", readonly=True)
    decided_at = fields.Datetime(string="Decided On", readonly=True)
    auto_approved = fields.Boolean(readonly=True, help="Approved by the step's auto-approve rule, not by hand.")
    reason = fields.Char(readonly=True)

    def init(self):
        # One open draft per enrollment and step: a retry of the run cron never drafts the same email twice.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS sales_sequence_draft_open_uniq "
                "ON sales_sequence_draft (enrollment_id, step_id) WHERE state IN %s",
                OPEN_DRAFT_STATES,
            )
        )

    def write(self, vals):
        if not self.env.su:
            if set(vals) & {"state", "decided_by_id", "decided_at", "auto_approved", "expires_at", "reason"}:
                raise UserError(_("Use Approve, Skip or Send: a draft's status is set by those buttons only."))
            if set(vals) & {"subject", "body_html"} and any(d.state not in OPEN_DRAFT_STATES for d in self):
                raise UserError(_("This email was already sent, skipped or expired: it can no longer be edited."))
        return super().write(vals)

    # ------------------------------------------------------------------
    # Decisions
    # ------------------------------------------------------------------

    def action_approve(self):
        """Approve the pending drafts: each goes at its sequence's next allowed slot."""
        self.check_access("write")
        pending = self.filtered(lambda d: d.state == "pending" and d.kind == "approval")
        if not pending:
            raise UserError(_("Select drafts that need attention: the others were already decided."))
        now = fields.Datetime.now()
        # sudo: the status is engine-owned (see write); the user's right on each draft was checked above.
        pending.sudo().write({"state": "approved", "decided_by_id": self.env.uid, "decided_at": now})
        pending.enrollment_id._record_approval(pending, now)
        return self._notify(_("%(count)s email(s) approved: each goes at the next allowed slot.", count=len(pending)))

    def action_skip(self):
        """Do not send this step to the contact: the sequence goes on with the next step."""
        self.check_access("write")
        pending = self.filtered(lambda d: d.state in OPEN_DRAFT_STATES)
        now = fields.Datetime.now()
        # sudo: engine-owned status, the user's right was checked above.
        pending.sudo().write({"state": "skipped", "decided_by_id": self.env.uid, "decided_at": now})
        pending.activity_ids.sudo().unlink()  # sudo: the reminder's activity may be assigned to a salesperson
        for draft in pending:
            draft.enrollment_id._skip_step(
                draft.step_id, _("Skipped by %(user)s in Needs Attention.", user=self.env.user.name), now
            )
        return self._notify(_("%(count)s email(s) skipped.", count=len(pending)))

    def action_send(self):
        """Email reminder: send the reviewed email now, then the sequence goes on."""
        self.check_access("write")
        pending = self.filtered(lambda d: d.state == "pending" and d.kind == "reminder")
        if not pending:
            raise UserError(_("This reminder was already sent or skipped."))
        now = fields.Datetime.now()
        sent = self.env["sales.sequence.enrollment"].browse()
        for draft in pending:
            # sudo: the engine sends as the sequence's sender; the user's right on the draft was checked above.
            enrollment = draft.enrollment_id.sudo()
            if enrollment.state not in RUNNING_STATES:
                raise UserError(
                    _(
                        "%(contact)s's enrollment is %(state)s: the reminder can no longer be sent.",
                        contact=draft.partner_id.display_name,
                        state=enrollment.state,
                    )
                )
            enrollment._send_drafts(draft.sudo(), now)
            sent |= enrollment
        pending.sudo().write({"decided_by_id": self.env.uid, "decided_at": now})
        pending.activity_ids.sudo().action_feedback(feedback=_("Email sent."))  # sudo: see action_skip
        return self._notify(_("%(count)s email(s) sent.", count=len(pending)))

    def _notify(self, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": "success", "next": {"type": "ir.actions.act_window_close"}},
        }

    # ------------------------------------------------------------------
    # Auto-approve
    # ------------------------------------------------------------------

    @api.model
    def _approval_counts(self, steps):
        """{step id: (approved by hand ever, auto-approved today)}, in one query."""
        if not steps:
            return {}
        self.flush_model()
        today = fields.Datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
        self.env.cr.execute(
            SQL(
                """
                SELECT step_id,
                       count(*) FILTER (WHERE NOT coalesce(auto_approved, FALSE) AND decided_by_id IS NOT NULL
                                        AND state IN ('approved', 'sent')),
                       count(*) FILTER (WHERE auto_approved AND decided_at >= %s)
                  FROM sales_sequence_draft
                 WHERE step_id = ANY(%s) AND kind = 'approval'
              GROUP BY step_id
                """,
                today,
                steps.ids,
            )
        )
        return {step_id: (manual, automatic) for step_id, manual, automatic in self.env.cr.fetchall()}

    @api.model
    def _auto_approvable(self, step, count):
        """How many of `count` new drafts of `step` its auto-approve rule lets go today."""
        if not step.auto_approve or not count:
            return 0
        manual, automatic_today = self._approval_counts(step).get(step.id, (0, 0))
        if manual < step.auto_approve_after:
            return 0
        return max(min(count, step.auto_approve_daily_cap - automatic_today), 0)

    @api.model
    def _expiry(self, sequence, now):
        return now + timedelta(days=sequence.approval_expiry_days or 3)
