from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..lib.conditions import branch_target
from ..lib.variants import VariantStats, pick_winner
from .sales_sequence_enrollment import DUE_STATES

MAX_DELAY_DAYS = 365
STEP_TYPES = [
    ("email", "Email"),
    ("email_reminder", "Email Reminder"),
    ("task", "Task"),
    ("call", "Call Reminder"),
    ("sms", "SMS"),
    ("branch", "Branch"),
]
TEST_SUBJECT_PREFIX = "[TEST] "


class SalesSequenceStep(models.Model):
    """One step of a sequence. Its own subject and body are rendered like a mail.template on the contact; the
    rendering, its errors and the placeholder checks are in models/sales_sequence_step_render.py."""

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
    ab_metric = fields.Selection(
        [("replies", "Replies"), ("won", "Opportunities won")],
        string="Winner On",
        default="replies",
        required=True,
        help="Replies: the best reply rate wins. Opportunities won: the variant whose enrollments' opportunities "
        "were won most often wins (only enrollments made from an opportunity count).",
    )
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
    # --- Call outcomes and branch steps (issue 20): fields of this block only ---
    require_call_outcome = fields.Boolean(
        help="Call: marking the call done needs a Call Outcome (connected, voicemail, ...).",
    )
    branch_yes_step_id = fields.Many2one(
        "sales.sequence.step",
        string="If Yes, Go To",
        ondelete="set null",  # unlink() refuses to delete a target; the whole sequence's deletion may
        help="Branch: the step the enrollment goes to when the conditions hold; empty ends the sequence. A later "
        "step of the same sequence.",
    )
    branch_no_step_id = fields.Many2one(
        "sales.sequence.step",
        string="If No, Go To",
        ondelete="set null",
        help="Branch: the step the enrollment goes to otherwise; empty ends the sequence. A later step of the same "
        "sequence.",
    )
    branch_label = fields.Char(string="Branch", compute="_compute_branch_label")
    path_label = fields.Char(
        string="Path", compute="_compute_branch_label", help="The branch path a step belongs to, if any."
    )

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
    # Branch steps
    # ------------------------------------------------------------------

    def _branch_targets(self):
        """(yes position, no position) of this branch step, 0-based, None for "end the sequence"."""
        self.ensure_one()
        steps = list(self.sequence_id.step_ids)
        return tuple(
            steps.index(target) if target in steps else None
            for target in (self.branch_yes_step_id, self.branch_no_step_id)
        )

    def _condition_question(self):
        """The branch's conditions as a short question: 'Replied?'."""
        self.ensure_one()
        labels = dict(
            self.env["sales.sequence.step.condition"]._fields["condition_type"]._description_selection(self.env)
        )
        return " & ".join(labels[condition.condition_type] for condition in self.condition_ids) or _("(no condition)")

    def _target_label(self, target):
        if not target:
            return _("end")
        return _("Step %(position)s '%(name)s'", position=target._get_position(), name=target.name)

    @api.depends(
        "step_type",
        "condition_ids.condition_type",
        "branch_yes_step_id",
        "branch_no_step_id",
        "sequence_id.step_ids.sequence",
        "sequence_id.step_ids.branch_yes_step_id",
        "sequence_id.step_ids.branch_no_step_id",
    )
    def _compute_branch_label(self):
        for step in self:
            step.branch_label = False
            step.path_label = False
        for sequence in self.sequence_id:
            steps = list(sequence.step_ids)
            paths = {step: [] for step in steps}
            for position, branch in enumerate(steps):
                if branch.step_type != "branch":
                    continue
                branch.branch_label = _(
                    "Branch: %(question)s yes -> %(yes)s, no -> %(no)s",
                    question=branch._condition_question(),
                    yes=branch._target_label(branch.branch_yes_step_id),
                    no=branch._target_label(branch.branch_no_step_id),
                )
                targets = branch._branch_targets()
                for answer, label in ((True, _("yes")), (False, _("no"))):
                    target, stop = branch_target(targets, answer)
                    if target is None or target <= position:
                        continue
                    for follower in steps[target : stop if stop is not None else len(steps)]:
                        paths[follower].append(f"{position + 1} {label}")
            for step in steps:
                if step in self:
                    step.path_label = " / ".join(paths[step]) or False

    @api.constrains("step_type", "branch_yes_step_id", "branch_no_step_id", "sequence")
    def _check_branch_targets(self):
        for branch in self.sequence_id.step_ids.filtered(lambda s: s.step_type == "branch"):
            steps = list(branch.sequence_id.step_ids)
            position = steps.index(branch)
            for field_name in ("branch_yes_step_id", "branch_no_step_id"):
                target = branch[field_name]
                if not target:
                    continue
                field_label = branch._fields[field_name].get_description(self.env)["string"]
                if target not in steps or steps.index(target) <= position:
                    raise ValidationError(
                        _(
                            "Branch '%(branch)s', %(field)s: choose a step after the branch in the same sequence "
                            "('%(target)s' is not one): a branch only goes forward, so no enrollment loops.",
                            branch=branch.name,
                            field=field_label,
                            target=target.name,
                        )
                    )
            if branch.branch_yes_step_id and branch.branch_yes_step_id == branch.branch_no_step_id:
                raise ValidationError(
                    _(
                        "Branch '%(branch)s': If Yes, Go To and If No, Go To are the same; choose two different "
                        "steps (or one step and an empty target, which ends the sequence).",
                        branch=branch.name,
                    )
                )

    # ------------------------------------------------------------------
    # One placeholder language: {{ object.field }} in the body too
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
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
        if self.step_type == "branch":
            if self.sequence_id.sequence_type == "smart":
                problems.append(
                    _(
                        "%(step)s: branch steps are for classic sequences (a smart sequence already picks its steps "
                        "by behaviour); remove it or use step conditions.",
                        step=label,
                    )
                )
            if not self.condition_ids:
                problems.append(_("%(step)s: add the condition the branch decides on (Conditions tab).", step=label))
            if not self.branch_yes_step_id and not self.branch_no_step_id:
                problems.append(_("%(step)s: choose where the branch goes (If Yes, Go To / If No, Go To).", step=label))
        problems.extend(self._placeholder_problems(label))
        problems.extend(self.condition_ids._get_activation_problems(label))
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
        won = (
            self.env["sales.sequence.enrollment"]._won_by_variant(self.variant_ids.ids)
            if self.ab_metric == "won"
            else {}
        )
        stats = [
            VariantStats(vid, raw.get(vid, (0, 0))[0], raw.get(vid, (0, 0))[1], won.get(vid, 0))
            for vid in self.variant_ids.ids
        ]
        winner = pick_winner(stats, self.ab_min_sample, metric=self.ab_metric)
        if winner:
            self.sudo().winner_variant_id = winner  # sudo: set by the engine, read-only to users
            metric = dict(self._fields["ab_metric"]._description_selection(self.env))[self.ab_metric]
            self.sequence_id.message_post(
                body=_(
                    "Step '%(step)s': variant '%(variant)s' won on %(metric)s; only it is sent from now on.",
                    step=self.name,
                    variant=self.winner_variant_id.name,
                    metric=metric.lower(),
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
        result = super().write(vals)
        if "sequence" in vals:
            self.sequence_id.invalidate_recordset(["step_ids"])
        if "delay_days" in vals:
            waiting = self.env["sales.sequence.enrollment"].search(
                [("step_id", "in", self.ids), ("state", "in", DUE_STATES)]
            )
            waiting._reschedule()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_branch_target(self):
        pointing = self.search(
            [
                "|",
                ("branch_yes_step_id", "in", self.ids),
                ("branch_no_step_id", "in", self.ids),
                ("id", "not in", self.ids),
            ],
            limit=1,
        )
        if pointing:
            raise UserError(
                _(
                    "Step '%(target)s' is a target of the branch '%(branch)s': change the branch's If Yes / If No "
                    "first, then delete the step.",
                    target=(self & (pointing.branch_yes_step_id | pointing.branch_no_step_id))[:1].name,
                    branch=pointing.name,
                )
            )

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
