from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG
from odoo.addons.base.models.res_partner import _tz_get

from .sales_sequence_enrollment import DUE_STATES

# Settings that decide when an enrollment's next step may go out.
SCHEDULE_FIELDS = {"calendar_id", "tz", "use_contact_tz", "randomize"}
# Emails one sending mailbox may send per day across all sequences, for a new sequence: the one place this default
# lives (README "Usage" documents it). Low enough for a new mailbox's reputation, as the sequence tools advise.
DEFAULT_DAILY_LIMIT = 100


class SalesSequence(models.Model):
    """A sales sequence. This file holds its fields, its constraints, create/write/unlink and the lifecycle
    (activate, pause, resume); the other concerns extend the model in their own files (sending, activation checks,
    enrolling, audience sync, the form's buttons: models/sales_sequence_*.py, see the README's Architecture)."""

    _name = "sales.sequence"
    _description = "Sales Sequence"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "sales.sequence.guard.mixin",
        "sales.sequence.metrics.mixin",
        "sales.sequence.domain.mixin",
    ]
    _order = "name, id"
    _check_company_auto = True
    _metrics_group_field = "sequence_id"

    name = fields.Char(required=True, tracking=True)
    description = fields.Text()
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        required=True,
        index=True,
        tracking=True,
        default=lambda self: self.env.user,
        domain="[('share', '=', False)]",
    )
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    active = fields.Boolean(default=True)
    state = fields.Selection(
        [("draft", "Draft"), ("active", "Active"), ("paused", "Paused")],
        string="Status",
        default="draft",
        required=True,
        copy=False,
        tracking=True,
    )
    # Smart: each run picks the first step not yet run whose conditions match (lib/conditions.py, the gates).
    sequence_type = fields.Selection(
        [("classic", "Classic"), ("smart", "Smart")],
        string="Type",
        default="classic",
        required=True,
        help="Classic: steps run in order, day by day. Smart: the step that matches the contact's behaviour runs.",
    )
    step_ids = fields.One2many("sales.sequence.step", "sequence_id", copy=True)
    step_count = fields.Integer(compute="_compute_step_count")
    audience_ids = fields.One2many("sales.sequence.audience", "sequence_id", copy=True)
    ruleset_id = fields.Many2one(
        "sales.sequence.ruleset",
        string="Rules",
        required=True,
        check_company=True,
        compute="_compute_ruleset_id",
        store=True,
        readonly=False,
        precompute=True,
        help="Who may enter: re-enrollment, several sequences at once, exclusions, the owner's leave.",
    )
    refusal_count = fields.Integer(compute="_compute_refusal_count")
    audience_sync = fields.Selection(
        [("manual", "On demand only"), ("daily", "Daily"), ("hours", "Every few hours")],
        default="daily",
        required=True,
        help="How often the audience is evaluated again and its new matches enrolled (Sync Now does it at once).",
    )
    audience_sync_hour = fields.Float(
        string="Sync Time", default=6.0, help="Daily: the time, in the schedule's timezone."
    )
    audience_sync_interval = fields.Integer(string="Sync Every (hours)", default=4)
    audience_last_sync = fields.Datetime(string="Last Audience Sync", readonly=True, copy=False)
    audience_next_sync = fields.Datetime(string="Next Audience Sync", readonly=True, copy=False, index=True)
    exit_on_meeting = fields.Boolean(
        string="Exit When a Meeting Is Booked",
        default=True,
        help="A meeting created after the enrollment with the contact as attendee ends the enrollment (completed).",
    )
    exit_domain = fields.Char(
        string="Exit When the Contact Matches",
        help="Conditions on the contact that end the enrollment (completed), checked before every send, "
        "e.g. a tag Customer or a won opportunity.",
    )
    exit_account_wide = fields.Boolean(
        string="Exit the Whole Account",
        help="A reply or a meeting from one contact of a company also ends the enrollments of the other contacts "
        "of that company in this sequence.",
    )
    enrollment_ids = fields.One2many("sales.sequence.enrollment", "sequence_id", string="Enrollments")
    calendar_id = fields.Many2one(
        "resource.calendar",
        string="Send Schedule",
        required=True,
        check_company=True,
        default=lambda self: self._get_default_calendar(self.env.company),
        help="Emails leave only inside this calendar's working hours, read in the Schedule Timezone, "
        "and never on its global time off (excluded dates).",
    )
    tz = fields.Selection(
        _tz_get,
        string="Schedule Timezone",
        compute="_compute_tz",
        store=True,
        readonly=False,
        precompute=True,
        help="The timezone the send schedule's hours are read in: 09:00 is 09:00 there. New sequences take their "
        "owner's timezone. With 'Use Contact Timezone', a contact who has a timezone gets the hours in their own.",
    )
    use_contact_tz = fields.Boolean(
        string="Use Contact Timezone",
        help="Apply the send windows in each contact's own timezone when the contact has one.",
    )
    randomize = fields.Boolean(
        string="Randomize Send Time",
        help="Send at a random moment inside the window instead of its start (reproducible per enrollment), "
        "so emails look hand-sent.",
    )
    daily_limit = fields.Integer(
        default=DEFAULT_DAILY_LIMIT,
        help="Emails one sending mailbox may send per day, counted across all sequences. 0 means no limit.",
    )
    sender_mode = fields.Selection(
        [("owner", "Sequence owner"), ("salesperson", "Contact's salesperson"), ("fixed", "Fixed address")],
        string="Send As",
        default="owner",
        required=True,
        help="Who the emails come from. Contact's salesperson: the salesperson set on the contact, or the owner "
        "when the contact has none. Fixed address: the Send From address.",
    )
    email_from = fields.Char(
        string="Send From",
        help='Sender address when sending as a fixed address, e.g. "Sales Team" <sales@example.com>.',
    )
    mail_server_id = fields.Many2one(
        "ir.mail_server",
        string="Outgoing Mail Server",
        help="Send through this server; empty: Odoo's usual choice (by sender address, then priority).",
    )
    use_list_headers = fields.Boolean(
        string="List-Unsubscribe Headers",
        help="On: every email carries the List-Unsubscribe headers, so Gmail, Yahoo and Outlook show their own "
        "Unsubscribe button (required of bulk senders, who send over 5,000 emails a day to Gmail). Off (default): "
        "the emails read as one-to-one mail, and real out-of-office replies reach you, since RFC 3834 auto-responders "
        "(Sieve vacation, Exchange) stay silent to list mail. The unsubscribe link is in the body either way.",
    )
    unsubscribe_style = fields.Selection(
        [("link", "Text link at the end of the body"), ("footer", "Small footer text")],
        string="Unsubscribe Text",
        default="link",
        required=True,
        help="Every email carries an unsubscribe link (and, when List-Unsubscribe Headers is on, the headers mail "
        "clients show).",
    )
    tracking_enabled = fields.Boolean(
        string="Track Opens and Clicks",
        default=True,
        help="Add an open pixel and route links through tracked redirects (only to the links of that email).",
    )
    on_reply = fields.Selection(
        [("pause", "Pause the enrollment"), ("complete", "End the enrollment (completed)")],
        string="When the Contact Replies",
        default="pause",
        required=True,
        help="A reply (not an out-of-office) always stops the emails: either paused, to resume by hand, or ended.",
    )
    require_approval = fields.Boolean(
        string="Ask Before Sending",
        help="Each due email becomes a draft in Needs Attention: approve it (as is or edited) or skip it. Approved "
        "drafts go at the next allowed slot.",
    )
    approval_expiry_days = fields.Integer(
        string="Drafts Expire After (days)",
        default=3,
        help="A draft left unapproved this long expires and pauses the enrollment, with that reason.",
    )
    smart_interval_hours = fields.Integer(
        string="Run Every (hours)",
        default=24,
        help="Smart sequences: how often each enrollment is looked at; each run executes the first step not yet run "
        "whose conditions match.",
    )
    attention_count = fields.Integer(string="Needs Attention", compute="_compute_attention_count")
    metric_enrolled = fields.Integer(string="Enrolled", compute="_compute_enrollment_counts")
    metric_active = fields.Integer(string="Running", compute="_compute_enrollment_counts")
    metric_finished = fields.Integer(string="Finished", compute="_compute_enrollment_counts")
    enrollment_count = fields.Integer(compute="_compute_enrollment_counts")
    enrollment_active_count = fields.Integer(compute="_compute_enrollment_counts")
    enrollment_queued_count = fields.Integer(compute="_compute_enrollment_counts")
    enrollment_blocked_count = fields.Integer(compute="_compute_enrollment_counts")
    enrollment_paused_count = fields.Integer(compute="_compute_enrollment_counts")
    enrollment_finished_count = fields.Integer(compute="_compute_enrollment_counts")

    _sql_constraints = [
        (
            "daily_limit_positive",
            "CHECK(daily_limit >= 0)",
            "The daily limit cannot be negative: use 0 for no limit.",
        ),
    ]

    def init(self):
        # Names are unique per company whatever their case and surrounding spaces ("Follow-up" = " follow-up "),
        # enforced where two concurrent saves cannot both miss it; _check_name_available gives the readable message.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS sales_sequence_name_company_uniq "
                "ON sales_sequence (lower(btrim(name)), company_id)"
            )
        )

    @api.depends("user_id", "calendar_id")
    def _compute_tz(self):
        for sequence in self:
            sequence.tz = sequence.tz or sequence.user_id.tz or sequence.calendar_id.tz or "UTC"

    def _check_name_available(self, name, company_id):
        """Refuse `name` when another sequence of the company has it, ignoring case and surrounding spaces.

        Checked before the row is written, so the message names the field; the unique index on
        (lower(btrim(name)), company_id) still stops two concurrent saves."""
        # SQL, not search(): a sequence the user's record rules hide still holds its name. Only the fact that
        # the name is taken leaves, in the user's own words.
        self.env.cr.execute(
            SQL(
                "SELECT 1 FROM sales_sequence WHERE lower(btrim(name)) = lower(btrim(%s)) "
                "AND company_id = %s AND id NOT IN %s LIMIT 1",
                name,
                company_id,
                tuple(self.ids) or (0,),
            )
        )
        if self.env.cr.fetchone():
            # sudo: the company's name, for the message; the user is saving a sequence of that company.
            company = self.env["res.company"].sudo().browse(company_id)
            raise ValidationError(
                _(
                    "Name: a sequence called '%(name)s' already exists in %(company)s (names ignore case and "
                    "surrounding spaces). Choose another name.",
                    name=name.strip(),
                    company=company.name,
                )
            )

    @api.model_create_multi
    def create(self, vals_list):
        seen = set()
        for vals in vals_list:
            if isinstance(vals.get("name"), str):
                vals["name"] = vals["name"].strip()
                company_id = vals.get("company_id") or self.env.company.id
                key = (vals["name"].lower(), company_id)
                if key in seen:
                    raise ValidationError(_("Name: two new sequences are both called '%(name)s'.", name=vals["name"]))
                seen.add(key)
                self._check_name_available(vals["name"], company_id)
        return super().create(vals_list)

    @api.constrains("exit_domain", "user_id")
    def _check_exit_domain(self):
        for sequence in self.filtered("exit_domain"):
            if not sequence._is_empty_domain(sequence.exit_domain):
                sequence._check_domain_usable(
                    sequence.exit_domain,
                    sequence._domain_checkers(sequence.user_id),
                    _("%(sequence)s, Exit When the Contact Matches", sequence=sequence.name),
                )

    @api.constrains("user_id", "company_id")
    def _check_owner(self):
        for sequence in self:
            owner = sequence.user_id
            if owner.share:
                raise ValidationError(
                    _(
                        "Owner: %(user)s is not an internal user. Choose a salesperson of %(company)s.",
                        user=owner.name,
                        company=sequence.company_id.name,
                    )
                )
            if sequence.company_id not in owner.company_ids:
                raise ValidationError(
                    _(
                        "Owner: %(user)s does not work in %(company)s. Choose a salesperson of that company.",
                        user=owner.name,
                        company=sequence.company_id.name,
                    )
                )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_sent(self):
        sent = self.env["sales.sequence.enrollment"]._sequences_with_history(self)
        if sent:
            raise UserError(
                _(
                    "%(names)s already sent emails, and what was sent is kept. Archive the sequence instead "
                    "(Action > Archive): it stops and keeps its history.",
                    names=sent._names_for_message(),
                )
            )

    def unlink(self):
        if self.env.context.get(MODULE_UNINSTALL_FLAG):
            # Uninstalling the addon drops its tables, history included: the step runs go first, or they would
            # hold their enrollments back.
            self.env["sales.sequence.touch"].sudo().search([("sequence_id", "in", self.ids)]).unlink()
            self.env["sales.sequence.event"].sudo().search([("sequence_id", "in", self.ids)]).unlink()
        return super().unlink()

    @api.depends("company_id")
    def _compute_ruleset_id(self):
        """The company's default rules, unless rules of the sequence's own company were chosen."""
        for sequence in self:
            if not sequence.ruleset_id or sequence.ruleset_id.company_id != sequence.company_id:
                sequence.ruleset_id = self.env["sales.sequence.ruleset"]._get_default(sequence.company_id)

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        if not default or "name" not in default:
            for sequence, vals in zip(self, vals_list, strict=False):
                vals["name"] = _("%(name)s (copy)", name=sequence.name)
        return vals_list

    def write(self, vals):
        if isinstance(vals.get("name"), str):
            vals = dict(vals, name=vals["name"].strip())
        if "name" in vals or "company_id" in vals:
            for sequence in self:
                sequence._check_name_available(
                    vals.get("name", sequence.name), vals.get("company_id", sequence.company_id.id)
                )
        archived = self.filtered("active") if vals.get("active") is False else self.browse()
        restored = self.filtered(lambda s: not s.active) if vals.get("active") else self.browse()
        result = super().write(vals)
        archived.enrollment_ids.filtered(lambda e: e.state in DUE_STATES)._pause_for_sequence(archived=True)
        restored.filtered(lambda s: s.state == "active").enrollment_ids.filtered(
            lambda e: e.state == "paused" and e.paused_by_sequence
        )._resume()
        if SCHEDULE_FIELDS.intersection(vals):
            # The send schedule changed: waiting steps move to the new schedule's slots.
            self.enrollment_ids.filtered(lambda e: e.state in DUE_STATES and e.step_id)._reschedule()
        if "daily_limit" in vals:
            self.env["sales.sequence.enrollment"]._release_held_by_limit("mailbox", [("sequence_id", "in", self.ids)])
        return result

    # ------------------------------------------------------------------
    # Lifecycle: draft, active, paused
    # ------------------------------------------------------------------

    def action_activate(self):
        self.check_access("write")
        to_activate = self.filtered(lambda s: s.state == "draft")
        to_activate._check_can_activate()
        to_activate.write({"state": "active"})
        to_activate.enrollment_ids.filtered(lambda e: e.state == "draft")._start()
        self.filtered(lambda s: s.state == "paused").action_resume()
        message = _(
            "%(names)s is active: enrolled contacts get step 1 at the next slot of the send schedule.",
            names=self._names_for_message(),
        )
        warnings = [warning for sequence in self for warning in sequence._delivery_warnings()]
        if warnings:
            for sequence in self:
                for warning in sequence._delivery_warnings():
                    sequence.message_post(body=warning, subtype_xmlid="mail.mt_note")
            return self._notify_done(" ".join([message, *warnings]), notification_type="warning")
        return self._notify_done(message)

    def action_pause(self):
        self.check_access("write")
        running = self.filtered(lambda s: s.state == "active")
        running.write({"state": "paused"})
        running.enrollment_ids.filtered(lambda e: e.state in DUE_STATES)._pause_for_sequence()
        return self._notify_done(
            _("%(names)s is paused: no step is sent until you resume it.", names=self._names_for_message())
        )

    def action_resume(self):
        self.check_access("write")
        paused = self.filtered(lambda s: s.state == "paused")
        paused._check_can_activate(resuming=True)
        paused.write({"state": "active"})
        paused.enrollment_ids.filtered(lambda e: e.state == "paused" and e.paused_by_sequence)._resume()
        return self._notify_done(
            _(
                "%(names)s resumed: steps that fell due while paused go at the next allowed slot.",
                names=self._names_for_message(),
            )
        )

    def _names_for_message(self):
        return ", ".join(f"'{name}'" for name in self.mapped("name"))

    @api.model
    def _notify_done(self, message, notification_type="success"):
        """A notification confirming what a button did, then the view reloads to show the new state."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": notification_type,
                "message": message,
                "sticky": notification_type == "warning",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
