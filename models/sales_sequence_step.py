from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

MAX_DELAY_DAYS = 365


class SalesSequenceStep(models.Model):
    """One step of a sequence. Its own subject and body are rendered like a mail.template on the contact."""

    _name = "sales.sequence.step"
    _description = "Sales Sequence Step"
    _inherit = ["mail.render.mixin"]
    _order = "sequence, id"

    sequence_id = fields.Many2one(
        "sales.sequence", string="Sales Sequence", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="sequence_id.company_id", store=True)
    sequence = fields.Integer(string="Order", default=10)
    name = fields.Char(required=True, default=lambda self: _("Email"))
    step_type = fields.Selection([("email", "Email")], string="Type", default="email", required=True)
    delay_days = fields.Integer(
        string="Delay (days)",
        default=0,
        help="Days to wait after the previous step (after enrollment for the first step), "
        "then the next allowed slot of the send schedule.",
    )
    mail_template_id = fields.Many2one(
        "mail.template",
        string="Email Template",
        domain="[('model', '=', 'res.partner')]",
        ondelete="restrict",
        help="When set, the template's subject and body are sent; otherwise the step's own.",
    )
    subject = fields.Char(translate=True, prefetch=True)
    body_html = fields.Html(
        string="Body",
        translate=True,
        prefetch=True,
        sanitize="email_outgoing",
        render_engine="qweb",
        render_options={"post_process": True},
    )
    thread_mode = fields.Selection(
        [("reply", "Reply in thread"), ("new", "New thread")],
        default="reply",
        required=True,
        help="Reply: sent as 'Re: <first subject>' in the same thread as the earlier emails. New: its own subject.",
    )
    render_model = fields.Char(compute="_compute_render_model")
    lang = fields.Char(default="{{ object.lang }}")

    _sql_constraints = [
        (
            "delay_days_range",
            f"CHECK(delay_days >= 0 AND delay_days <= {MAX_DELAY_DAYS})",
            "A step's delay must be between 0 and 365 days.",
        ),
    ]

    def _compute_render_model(self):
        self.render_model = "res.partner"

    @api.constrains("mail_template_id")
    def _check_mail_template_model(self):
        for step in self:
            if step.mail_template_id and step.mail_template_id.model != "res.partner":
                raise ValidationError(
                    _(
                        "Step '%(step)s': the template '%(template)s' is for %(model)s records; "
                        "choose a template on Contacts.",
                        step=step.name,
                        template=step.mail_template_id.name,
                        model=step.mail_template_id.model,
                    )
                )

    def _is_first_step(self):
        self.ensure_one()
        return self == self.sequence_id.step_ids[:1]

    def _reuses_thread_subject(self):
        """A reply step after the first sends 'Re: <first subject>', so it needs no subject of its own."""
        self.ensure_one()
        return self.thread_mode == "reply" and not self._is_first_step()

    def _get_activation_problems(self):
        self.ensure_one()
        problems = []
        if self.step_type != "email" or self.mail_template_id:
            return problems
        label = _("Step %(position)s '%(name)s'", position=self._get_position(), name=self.name)
        if not self.subject and not self._reuses_thread_subject():
            problems.append(_("%(step)s: fill the Subject or choose an Email Template.", step=label))
        if not self._has_body():
            problems.append(_("%(step)s: write the Body or choose an Email Template.", step=label))
        return problems

    def _has_body(self):
        self.ensure_one()
        body = self.body_html or ""
        return bool(body and (body.striptags().strip() or "<img" in body))

    def _get_position(self):
        return list(self.sequence_id.step_ids).index(self) + 1

    def _get_next_step(self, done_steps=None):
        """The step after this one in the current order that has not run yet for the enrollment."""
        self.ensure_one()
        steps = list(self.sequence_id.step_ids)
        done_steps = done_steps or self.browse()
        for step in steps[steps.index(self) + 1 :]:
            if step not in done_steps:
                return step
        return self.browse()

    def _render_email(self, partner_ids):
        """{partner_id: (subject, body)} from the template or the step's own content, rendered in batch."""
        self.ensure_one()
        source = self.mail_template_id or self
        subjects = source._render_field("subject", partner_ids, compute_lang=True)
        bodies = source._render_field("body_html", partner_ids, compute_lang=True)
        return {pid: (subjects.get(pid) or "", bodies.get(pid) or "") for pid in partner_ids}

    # ------------------------------------------------------------------
    # Changes to a running sequence apply to the steps not yet run
    # ------------------------------------------------------------------

    def write(self, vals):
        result = super().write(vals)
        if "delay_days" in vals:
            waiting = self.env["sales.sequence.enrollment"].search(
                [("step_id", "in", self.ids), ("state", "in", ("active", "queued"))]
            )
            waiting._reschedule()
        return result

    def unlink(self):
        waiting = self.env["sales.sequence.enrollment"].search([("step_id", "in", self.ids)])
        moved = waiting.grouped(
            lambda enrollment: enrollment.step_id._get_next_step(done_steps=enrollment.touch_ids.step_id | self)
        )
        for next_step, enrollments in moved.items():
            enrollments.step_id = next_step
        result = super().unlink()
        waiting = waiting.exists()
        waiting.filtered(lambda e: not e.step_id and e.state in ("active", "queued"))._finish()
        waiting.filtered(lambda e: e.step_id and e.state in ("active", "queued"))._reschedule()
        return result
