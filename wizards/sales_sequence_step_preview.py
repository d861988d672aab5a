from markupsafe import Markup

from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError

from ..models.sales_sequence_step import TEST_SUBJECT_PREFIX


class SalesSequenceStepPreview(models.TransientModel):
    """A step's email as a chosen contact would receive it, and a test copy of it sent to oneself."""

    _name = "sales.sequence.step.preview"
    _description = "Sales Sequence Step Preview"

    step_id = fields.Many2one("sales.sequence.step", required=True, ondelete="cascade", readonly=True)
    partner_id = fields.Many2one(
        "res.partner",
        string="Preview For",
        default=lambda self: self._default_partner(),
        help="The contact whose data fills the placeholders.",
    )
    subject = fields.Char(compute="_compute_preview")
    body_html = fields.Html(string="Body", compute="_compute_preview", sanitize=False)
    error = fields.Text(compute="_compute_preview")

    @api.model
    def _default_partner(self):
        """The step's first enrolled contact, else the user: a preview shows real data from the start."""
        step = self.env["sales.sequence.step"].browse(self.env.context.get("default_step_id")).exists()
        return step.sequence_id.enrollment_ids[:1].partner_id or self.env.user.partner_id

    @api.depends("step_id", "partner_id")
    def _compute_preview(self):
        # Render everything first, assign after: a failed render rolls its savepoint back, which empties the
        # cache, values assigned before it included.
        results = {}
        for preview in self:
            subject = body = error = False
            if preview.step_id and preview.partner_id:
                try:
                    subject, body = preview.step_id._render_for_preview(preview.partner_id)
                    body = Markup(body)
                except UserError as failure:
                    error = str(failure)
            results[preview] = (subject, body, error)
        for preview, (subject, body, error) in results.items():
            preview.subject, preview.body_html, preview.error = subject, body, error

    def _as_the_prospect_gets_it(self, body):
        """The rendered body as the mail queue sends it: in the sequence layout with the sender's signature (when
        the step adds it) and the unsubscribe text at the end; its link leads nowhere (a test unsubscribes no one)."""
        step, partner = self.step_id, self.partner_id
        sequence = step.sequence_id
        author = sequence._get_author(partner).user_ids[:1]
        signature = author.signature if step.use_signature and author else ""
        lang = partner.lang or self.env.lang
        layout = self.env["sales.sequence.enrollment"]._render_layout(body, signature, lang)
        test_url = f"{sequence.get_base_url()}/sales_sequence/unsubscribe/0/test"
        footer = self.env["sales.sequence.touch"]._unsubscribe_html(sequence.unsubscribe_style, test_url)
        return tools.mail.append_content_to_html(layout, footer, plaintext=False, container_tag="div")

    def action_send_test(self):
        """Queue the previewed email to the current user through Odoo's mail queue, with a [TEST] subject.
        No enrollment, touch or contact note is written: a test is not a step run."""
        self.ensure_one()
        user = self.env.user
        if not user.email:
            raise UserError(_("Your user has no email address: fill Email in your preferences to receive tests."))
        if not self.partner_id:
            raise UserError(_("Preview For: choose a contact whose data fills the placeholders."))
        subject, body = self.step_id._render_for_preview(self.partner_id)
        sequence = self.step_id.sequence_id
        body_html = self._as_the_prospect_gets_it(body)
        # sudo: mail.mail is reserved to administrators; the test goes only to the user who asked for it.
        self.env["mail.mail"].sudo().create(
            {
                "subject": TEST_SUBJECT_PREFIX + (subject or ""),
                "body_html": body_html,
                "email_from": sequence._get_email_from(self.partner_id),
                "email_to": user.email_formatted,
                "auto_delete": True,
            }
        )
        self.env.ref("mail.ir_cron_mail_scheduler_action")._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _("Test email queued to %(email)s.", email=user.email),
            },
        }
