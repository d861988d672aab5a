import re
from html import unescape as html_unescape

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..lib import placeholders
from ..lib.variants import VariantStats, pick_winner
from .sales_sequence_enrollment import DUE_STATES

MAX_DELAY_DAYS = 365
STEP_TYPES = [
    ("email", "Email"),
    ("email_reminder", "Email Reminder"),
    ("task", "Task"),
    ("call", "Call Reminder"),
    ("sms", "SMS"),
]
TEST_SUBJECT_PREFIX = "[TEST] "
QWEB_NODE_EXPRESSION_RE = re.compile(r"""\bt-(?:out|esc|raw|att-[\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def render_error_chain(error):
    """The error and the errors it came from (QWeb and Odoo wrap the real cause), outermost first."""
    chain = [error]
    while len(chain) < 10:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    return chain


def failing_expression(node):
    """The expression of the QWeb node a rendering failed on (QWebException.html), e.g. "object.ref.lower()"."""
    match = node and QWEB_NODE_EXPRESSION_RE.search(node)
    if not match:
        return None
    return html_unescape(match.group(1) if match.group(1) is not None else match.group(2)).strip()


def render_field_of(source, fname, partner_ids):
    """source._render_field, an error tagged with the field it came from (the explanation names it)."""
    try:
        return source._render_field(fname, partner_ids, compute_lang=True)
    except Exception as error:
        error.sales_sequence_field = fname
        raise


def guess_failing_expression(expressions, message):
    """The one expression the error message points at, read from the text alone: the only one there is, or the
    only one holding the attribute or key the message names ("... has no attribute 'lower'")."""
    if len(expressions) == 1:
        return expressions[0]
    named = re.findall(r"'([^']+)'", message)
    pointed = [e for e in expressions if any(re.search(rf"\b{re.escape(n)}\b", e) for n in named if n)]
    return pointed[0] if len(pointed) == 1 else None


def missing_field(model, path):
    """The first name of `path` (["parent_id", "name"]) that is not a field along it from `model`, else None."""
    for name in path:
        field = model._fields.get(name)
        if field is None:
            return name
        if not field.relational:
            return None
        model = model.env[field.comodel_name]
    return None


def first_line(error):
    return str(error).strip().split("\n", 1)[0]


class SalesSequenceStep(models.Model):
    """One step of a sequence. Its own subject and body are rendered like a mail.template on the contact."""

    _name = "sales.sequence.step"
    _description = "Sales Sequence Step"
    _inherit = ["sales.sequence.render.mixin", "sales.sequence.guard.mixin", "sales.sequence.metrics.mixin"]
    _order = "sequence, id"
    _immutable_fields = ("sequence_id",)
    _metrics_group_field = "step_id"

    sequence_id = fields.Many2one(
        "sales.sequence", string="Sales Sequence", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="sequence_id.company_id", store=True)
    sequence_type = fields.Selection(related="sequence_id.sequence_type", string="Sequence Type")
    require_approval = fields.Boolean(related="sequence_id.require_approval")
    sequence = fields.Integer(string="Order", default=10)
    name = fields.Char(required=True, default=lambda self: _("Email"))
    step_type = fields.Selection(
        STEP_TYPES,
        string="Type",
        default="email",
        required=True,
        help="Email: sent on its own. Email Reminder: prepared for the owner, who reviews, edits and sends it. "
        "Task and Call: an activity for the owner or the contact's salesperson. SMS: a text to the contact's mobile.",
    )
    activity_summary = fields.Char(help="What the task or call is about.")
    activity_note = fields.Html(sanitize=True)
    activity_assignee = fields.Selection(
        [("owner", "Sequence owner"), ("salesperson", "Contact's salesperson")],
        string="Assign To",
        default="owner",
        required=True,
        help="The contact's salesperson when they have one, else the sequence's owner.",
    )
    activity_due_days = fields.Integer(
        string="Due After (days)", default=0, help="Days after the step runs when the activity is due."
    )
    wait_for_done = fields.Boolean(
        string="Wait Until Done",
        default=True,
        help="On: the next step waits until the activity is marked done (or the reminder email is sent), then its "
        "delay counts from then. Off: the sequence moves on after the next step's delay, done or not.",
    )
    sms_body = fields.Text(
        string="SMS Text", translate=True, help="The text sent; {{ object.name }} placeholders work as in emails."
    )
    condition_ids = fields.One2many(
        "sales.sequence.step.condition",
        "step_id",
        string="Conditions",
        copy=True,
        help="All must hold when the step falls due. Classic: otherwise the step is skipped. Smart: the step runs "
        "at the first run they hold.",
    )
    variant_ids = fields.One2many(
        "sales.sequence.step.variant",
        "step_id",
        string="A/B Variants",
        copy=True,
        help="Two or more versions of the email; each enrollment gets one, always the same.",
    )
    ab_pick_winner = fields.Boolean(
        string="Pick a Winner",
        help="Once every variant was sent the minimum number of times, send only the one with the best reply rate.",
    )
    ab_min_sample = fields.Integer(string="Minimum Sends per Variant", default=50)
    winner_variant_id = fields.Many2one("sales.sequence.step.variant", string="Winner", readonly=True, copy=False)
    auto_approve = fields.Boolean(
        string="Auto-Approve",
        help="Ask Before Sending: once you approved this step by hand the given number of times, its next drafts "
        "go out on their own, up to the daily cap.",
    )
    auto_approve_after = fields.Integer(string="After Approvals", default=10)
    auto_approve_daily_cap = fields.Integer(string="Auto-Approvals per Day", default=20)
    auto_approve_preview = fields.Char(string="Auto-Approve Preview", compute="_compute_auto_approve_preview")
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
        label = _("Step %(position)s '%(name)s'", position=self._get_position(), name=self.name)
        problems = []
        if self.step_type in ("email", "email_reminder") and not self.mail_template_id:
            if self.variant_ids:
                problems.extend(self.variant_ids._get_activation_problems(label, self._reuses_thread_subject()))
            else:
                if not self.subject and not self._reuses_thread_subject():
                    problems.append(_("%(step)s: fill the Subject or choose an Email Template.", step=label))
                if not self._has_body():
                    problems.append(_("%(step)s: write the Body or choose an Email Template.", step=label))
        if self.variant_ids and len(self.variant_ids) < 2:
            problems.append(_("%(step)s: A/B Variants need at least two variants; add one or remove it.", step=label))
        if self.step_type in ("task", "call") and not self.activity_summary:
            problems.append(_("%(step)s: fill the Activity Summary (what the task or call is about).", step=label))
        if self.step_type == "sms":
            if not (self.sms_body or "").strip():
                problems.append(_("%(step)s: write the SMS Text.", step=label))
            if not self._has_sms_setup():
                problems.append(
                    _(
                        "%(step)s: SMS is not set up. Register an SMS account in Settings > Technical > IAP Accounts "
                        "(service SMS), then activate again.",
                        step=label,
                    )
                )
        problems.extend(self._placeholder_problems(label))
        problems.extend(self.condition_ids._get_activation_problems(label))
        return problems

    def _placeholder_problems(self, label):
        """What the cron would refuse in the step's own text, said at activation: a placeholder naming a field
        contacts do not have, or code the sequence's owner (who renders it) may not run."""
        self.ensure_one()
        owner = self.sequence_id.user_id
        owner_restricted = not (owner._is_admin() or owner.has_group("mail.group_mail_template_editor"))
        fnames = {"sms": ("sms_body",), "email": ("subject", "body_html"), "email_reminder": ("subject", "body_html")}
        sources = self.variant_ids or self if self.step_type != "sms" else self
        if self.mail_template_id and self.step_type != "sms":
            return []  # an Email Template is checked by Odoo when it is written, by a Mail Template Editor
        problems = []
        Partner = self.env["res.partner"]
        for source in sources:
            for fname in fnames.get(self.step_type, ()):
                text = source[fname] or ""
                for expression in placeholders.expressions(text, is_html=fname == "body_html"):
                    missing = missing_field(Partner, placeholders.field_path(expression) or [])
                    if missing:
                        problems.append(
                            _(
                                "%(step)s: placeholder {{ %(placeholder)s }} names '%(field)s', which contacts do "
                                "not have; choose a field with /field or remove it.",
                                step=label,
                                placeholder=expression,
                                field=missing,
                            )
                        )
                if owner_restricted:
                    forbidden = placeholders.forbidden_expressions(text, self._allowed_expressions())
                    if forbidden:
                        problems.append(
                            _(
                                "%(step)s: %(found)s is not a merge field, and the owner %(owner)s may not render "
                                "code. Use merge fields only, or give the owner the group %(group)s.",
                                step=label,
                                found=", ".join(forbidden[:3]),
                                owner=owner.name,
                                group=self.env.ref("mail.group_mail_template_editor").sudo().name,
                            )
                        )
        return problems

    @api.model
    def _has_sms_setup(self):
        """An SMS account Odoo can send with: an IAP account of the SMS service with a token, not refused."""
        # sudo: whether SMS can be sent, not the account's token, is what the author learns.
        accounts = self.env["iap.account"].sudo().search([("service_name", "=", "sms")])
        return any(account.account_token and account.state not in ("banned", "unregistered") for account in accounts)

    def _needs_approval(self):
        """A due email of this step becomes a draft to approve (Ask Before Sending)."""
        self.ensure_one()
        return self.step_type == "email" and self.sequence_id.require_approval

    def _pick_ab_winner(self):
        """Once every variant reached the minimum sample, keep only the one with the best reply rate."""
        self.ensure_one()
        if not self.ab_pick_winner or self.winner_variant_id or len(self.variant_ids) < 2:
            return
        raw = self.env["sales.sequence.touch"]._variant_stats(self.variant_ids.ids)
        stats = [VariantStats(vid, raw.get(vid, (0, 0))[0], raw.get(vid, (0, 0))[1]) for vid in self.variant_ids.ids]
        winner = pick_winner(stats, self.ab_min_sample)
        if winner:
            self.sudo().winner_variant_id = winner  # sudo: set by the engine, read-only to users
            self.sequence_id.message_post(
                body=_(
                    "Step '%(step)s': variant '%(variant)s' won on replies; only it is sent from now on.",
                    step=self.name,
                    variant=self.winner_variant_id.name,
                )
            )

    @api.depends("auto_approve", "auto_approve_after", "auto_approve_daily_cap")
    def _compute_auto_approve_preview(self):
        counts = self.env["sales.sequence.draft"]._approval_counts(self.filtered("auto_approve")._origin)
        for step in self:
            if not step.auto_approve:
                step.auto_approve_preview = _("Off: every draft of this step waits for your approval.")
                continue
            manual, automatic_today = counts.get(step._origin.id, (0, 0))
            if manual < step.auto_approve_after:
                step.auto_approve_preview = _(
                    "Approved by hand %(manual)s times: drafts go on their own after %(after)s approvals, up to "
                    "%(cap)s a day.",
                    manual=manual,
                    after=step.auto_approve_after,
                    cap=step.auto_approve_daily_cap,
                )
            else:
                step.auto_approve_preview = _(
                    "Approved by hand %(manual)s times: drafts now go on their own, %(today)s of %(cap)s today; "
                    "beyond the cap they wait for you.",
                    manual=manual,
                    today=automatic_today,
                    cap=step.auto_approve_daily_cap,
                )

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

    def _render_email(self, partner_ids, variant=None):
        """{partner_id: (subject, body)} from the A/B variant, the template or the step's own content, in batch,
        rendered with the rights of the current user (the sequence's owner in the cron)."""
        self.ensure_one()
        source = self._as_renderer_for(variant or self.mail_template_id or self)
        subjects = render_field_of(source, "subject", partner_ids)
        bodies = render_field_of(source, "body_html", partner_ids)
        return {pid: (subjects.get(pid) or "", bodies.get(pid) or "") for pid in partner_ids}

    def _render_sms(self, partner_ids):
        """{partner_id: text} of the SMS step, in each contact's language."""
        self.ensure_one()
        texts = render_field_of(self._as_renderer_for(self), "sms_body", partner_ids)
        return {pid: (texts.get(pid) or "").strip() for pid in partner_ids}

    def _as_renderer_for(self, source):
        """`source` (this step, its variant or its template) as the user whose rights render it: the current user,
        or the sequence's owner when the engine runs as superuser (the cron). Nothing renders as superuser."""
        self.ensure_one()
        if not source.env.su:
            return source
        return source.with_user(self.sequence_id.user_id)  # with_user leaves superuser mode

    def _explain_render_error(self, partner, error, variant=None):
        """Why the step could not be rendered for `partner`, naming the step, the placeholder that broke and its
        cause, e.g. "Step 'Intro': placeholder {{ object.parent_id.name.lower() }} in the Body failed for Ann:
        'bool' object has no attribute 'lower'". Read from the error and the text alone: nothing the user wrote is
        evaluated to explain it."""
        self.ensure_one()
        source = variant or self.mail_template_id or self
        causes = render_error_chain(error)
        cause = causes[-1]
        fname = next((c.sales_sequence_field for c in causes if hasattr(c, "sales_sequence_field")), "body_html")
        label = source._fields[fname].get_description(self.env)["string"] if fname in source._fields else fname
        text = (source.with_context(lang=partner.lang)[fname] or "") if fname in source._fields else ""
        renderer = self._as_renderer_for(self).env.user
        restricted = not (renderer._is_admin() or renderer.has_group("mail.group_mail_template_editor"))
        forbidden = placeholders.forbidden_expressions(text, self._allowed_expressions()) if restricted else []
        if forbidden and source._name != "mail.template":
            return _(
                "Step '%(step)s': %(found)s in the %(field)s is not a merge field, and %(user)s is not in the group "
                "%(group)s, whose members alone may render code. Use merge fields only.",
                step=self.name,
                found=", ".join(forbidden[:3]),
                field=label,
                user=renderer.name,
                group=self.env.ref("mail.group_mail_template_editor").sudo().name,
            )
        node = next((c.html for c in causes if getattr(c, "html", None)), None)
        expression = failing_expression(node) or guess_failing_expression(
            placeholders.expressions(text, is_html=fname == "body_html"), str(cause)
        )
        if expression:
            return _(
                "Step '%(step)s': placeholder {{ %(placeholder)s }} in the %(field)s failed for %(contact)s: %(cause)s",
                step=self.name,
                placeholder=expression,
                field=label,
                contact=partner.display_name,
                cause=first_line(cause),
            )
        return _(
            "Step '%(step)s': the %(field)s could not be rendered for %(contact)s: %(cause)s",
            step=self.name,
            field=label,
            contact=partner.display_name,
            cause=first_line(cause),
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
                    first_subject = render_field_of(
                        first._as_renderer_for(first.mail_template_id or first), "subject", partner.ids
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
                [("step_id", "in", self.ids), ("state", "in", DUE_STATES)]
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
        waiting.filtered(lambda e: not e.step_id and e.state in DUE_STATES)._finish()
        waiting.filtered(lambda e: e.step_id and e.state in DUE_STATES)._reschedule()
        return result
