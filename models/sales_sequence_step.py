from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools.safe_eval import safe_eval

from ..lib import placeholders

MAX_DELAY_DAYS = 365
TEST_SUBJECT_PREFIX = "[TEST] "


class SalesSequenceStep(models.Model):
    """One step of a sequence. Its own subject and body are rendered like a mail.template on the contact."""

    _name = "sales.sequence.step"
    _description = "Sales Sequence Step"
    _inherit = ["mail.render.mixin", "sales.sequence.guard.mixin"]
    _order = "sequence, id"
    # Like mail.template: the cron renders steps later as superuser, so who may save dynamic code is checked when
    # the step is written (mail.group_mail_template_editor), not when it is rendered.
    _unrestricted_rendering = True
    _immutable_fields = ("sequence_id",)

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
        help=f"Days to wait after the previous step (after enrollment for the first step), from 0 to "
        f"{MAX_DELAY_DAYS}, then the next allowed slot of the send schedule.",
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
        help="Reply: sent as 'Re: <first subject>' in the same thread as the earlier emails. New: its own subject. "
        "The first step always starts the thread, whatever this says.",
    )
    email_cc = fields.Char(string="CC", help="Addresses in copy of this step's email, comma-separated.")
    email_bcc = fields.Char(string="BCC", help="Hidden copies of this step's email, comma-separated.")
    use_signature = fields.Boolean(
        string="Add Sender's Signature", default=True, help="End the email with the sender's Odoo signature."
    )
    is_first_step = fields.Boolean(compute="_compute_is_first_step")
    render_model = fields.Char(compute="_compute_render_model")

    _sql_constraints = [
        (
            "delay_days_range",
            f"CHECK(delay_days >= 0 AND delay_days <= {MAX_DELAY_DAYS})",
            "A step's delay must be between 0 and 365 days.",
        ),
    ]

    @api.depends("sequence_id.step_ids", "sequence")
    def _compute_is_first_step(self):
        for step in self:
            step.is_first_step = step.sequence_id.step_ids[:1] == step or not step.sequence_id.step_ids

    def _immutable_field_message(self, field):
        return _("Sales Sequence: a step cannot move to another sequence. Copy the step there instead.")

    def _compute_render_model(self):
        self.render_model = "res.partner"

    def _render_lang(self, res_ids, engine="inline_template"):
        # Each contact reads the step in their own language. Read directly rather than through a "{{ object.lang }}"
        # template, which users outside mail.group_mail_template_editor may not save.
        return {partner.id: partner.lang for partner in self.env["res.partner"].browse(res_ids)}

    # ------------------------------------------------------------------
    # One placeholder language: {{ object.field }} in the body too
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._normalize_placeholders(vals)
        steps = super().create(vals_list)
        # The ORM appends new steps to a cached step_ids whatever their order: re-read it in order.
        steps.sequence_id.invalidate_recordset(["step_ids"])
        return steps

    @api.model
    def _normalize_placeholders(self, vals):
        """Store {{ }} typed in the body as QWeb, which the editor shows as placeholders."""
        if vals.get("body_html"):
            vals["body_html"] = placeholders.inline_to_qweb(vals["body_html"])

    def _render_template(self, template_src, model, res_ids, engine="inline_template", add_context=None, options=None):
        # Whatever path wrote the body (translation, SQL, an older version), {{ }} renders in it.
        if engine == "qweb":
            template_src = placeholders.inline_to_qweb(template_src)
        return super()._render_template(
            template_src, model, res_ids, engine=engine, add_context=add_context, options=options
        )

    @api.model
    def _has_unsafe_expression_template_qweb(self, template_src, model):
        # {{ }} becomes QWeb at rendering: judge what will run, not the text the user typed.
        return super()._has_unsafe_expression_template_qweb(placeholders.inline_to_qweb(template_src), model)

    @api.constrains("delay_days")
    def _check_delay_days(self):
        for step in self:
            if not 0 <= step.delay_days <= MAX_DELAY_DAYS:
                raise ValidationError(
                    _(
                        "Step '%(step)s' of %(sequence)s: Delay (days) must be between 0 and %(max)s; "
                        "%(value)s was entered.",
                        step=step.name,
                        sequence=step.sequence_id.name,
                        max=MAX_DELAY_DAYS,
                        value=step.delay_days,
                    )
                )

    @api.onchange("delay_days")
    def _onchange_delay_days(self):
        if 0 <= self.delay_days <= MAX_DELAY_DAYS:
            return None
        entered = self.delay_days
        self.delay_days = min(max(entered, 0), MAX_DELAY_DAYS)
        return {
            "warning": {
                "title": _("Delay out of range"),
                "message": _(
                    "Step '%(step)s': Delay (days) must be between 0 and %(max)s; %(value)s was changed to %(new)s.",
                    step=self.name,
                    max=MAX_DELAY_DAYS,
                    value=entered,
                    new=self.delay_days,
                ),
            }
        }

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

    def _explain_render_error(self, partner, error):
        """Why the step's email could not be rendered for `partner`, naming the step, the placeholder that broke
        and its cause, e.g. "Step 'Intro': placeholder {{ object.parent_id.name.lower() }} in the Body failed
        for Ann: 'bool' object has no attribute 'lower'"."""
        self.ensure_one()
        source = self.mail_template_id or self
        context = {**source._render_eval_context(), "object": partner}
        for field, label, is_html in (("subject", _("Subject"), False), ("body_html", _("Body"), True)):
            for expression in placeholders.expressions(source.with_context(lang=partner.lang)[field], is_html):
                try:
                    safe_eval(expression, dict(context))
                except NameError:
                    continue  # a loop or t-set variable: only meaningful inside the template
                except Exception as cause:  # noqa: BLE001 - any error of the expression is the explanation
                    return _(
                        "Step '%(step)s': placeholder {{ %(placeholder)s }} in the %(field)s failed for %(contact)s: "
                        "%(cause)s",
                        step=self.name,
                        placeholder=expression,
                        field=label,
                        contact=partner.display_name,
                        cause=cause,
                    )
        cause = error.__cause__ or error
        return _(
            "Step '%(step)s': the email could not be rendered for %(contact)s: %(cause)s",
            step=self.name,
            contact=partner.display_name,
            cause=str(cause).split("\n", 1)[0],
        )

    def _render_for_preview(self, partner):
        """(subject, body) of this step for `partner` as the sequence would send it, a reply step answering the
        first step's subject; UserError naming the placeholder when it cannot be rendered."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                subject, body = self._render_email(partner.ids)[partner.id]
                if self._reuses_thread_subject():
                    first = self.sequence_id.step_ids[:1]
                    first_subject = (first.mail_template_id or first)._render_field(
                        "subject", partner.ids, compute_lang=True
                    )[partner.id]
                    subject = "Re: {}".format(first_subject.removeprefix("Re: "))
        except Exception as error:  # noqa: BLE001 - the explanation replaces Odoo's template dump
            raise UserError(self._explain_render_error(partner, error)) from error
        return subject, body

    def action_preview(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": _("Preview of %(step)s", step=self.name),
            "res_model": "sales.sequence.step.preview",
            "view_mode": "form",
            "target": "new",
            "context": {"default_step_id": self.id},
        }

    # ------------------------------------------------------------------
    # Changes to a running sequence apply to the steps not yet run
    # ------------------------------------------------------------------

    def write(self, vals):
        if vals.get("body_html"):
            vals = dict(vals)
            self._normalize_placeholders(vals)
        result = super().write(vals)
        if "sequence" in vals:
            self.sequence_id.invalidate_recordset(["step_ids"])
        if "delay_days" in vals:
            waiting = self.env["sales.sequence.enrollment"].search(
                [("step_id", "in", self.ids), ("state", "in", ("active", "queued"))]
            )
            waiting._reschedule()
        return result

    def unlink(self):
        waiting = self.env["sales.sequence.enrollment"].search([("step_id", "in", self.ids)])
        moved = waiting.grouped(
            lambda enrollment: enrollment.step_id._get_next_step(done_steps=enrollment._done_touches().step_id | self)
        )
        for next_step, enrollments in moved.items():
            enrollments.step_id = next_step
        result = super().unlink()
        waiting = waiting.exists()
        waiting.filtered(lambda e: not e.step_id and e.state in ("active", "queued"))._finish()
        waiting.filtered(lambda e: e.step_id and e.state in ("active", "queued"))._reschedule()
        return result
