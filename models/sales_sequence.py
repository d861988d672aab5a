import json
import logging
import re
import threading
from collections import Counter, defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, email_normalize

from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG
from odoo.addons.base.models.res_partner import _tz_get

from ..lib.send_schedule import ScheduleError, SendSchedule
from .company_default import company_default
from .sales_sequence_enrollment import DUE_STATES, OPEN_STATES

_logger = logging.getLogger(__name__)

# Settings that decide when an enrollment's next step may go out.
SCHEDULE_FIELDS = {"calendar_id", "tz", "use_contact_tz", "randomize"}
# Emails one sending mailbox may send per day across all sequences, for a new sequence: the one place this default
# lives (README "Usage" documents it). Low enough for a new mailbox's reputation, as the sequence tools advise.
DEFAULT_DAILY_LIMIT = 100
# The default send schedule every company gets once: Monday to Friday, 09:00-17:00 in the sequence's timezone.
DEFAULT_CALENDAR_XMLID = "sales_sequence.resource_calendar_send_hours"
DEFAULT_CALENDAR_HOURS = (9.0, 17.0)


class SalesSequence(models.Model):
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

    @api.model
    def _get_default_calendar(self, company):
        """The company's default send schedule (Mon-Fri 09:00-17:00), created once per company as data."""
        return company_default(
            self.env,
            "resource.calendar",
            DEFAULT_CALENDAR_XMLID,
            company,
            lambda: self._get_default_calendar_values(company),
        )

    @api.model
    def _get_default_calendar_values(self, company):
        hour_from, hour_to = DEFAULT_CALENDAR_HOURS
        return {
            "name": _("Sequences: Monday-Friday 09:00-17:00"),
            "company_id": company.id,
            "tz": "UTC",
            "attendance_ids": [Command.clear()]
            + [
                Command.create(
                    {
                        "name": str(day),
                        "dayofweek": str(day),
                        "hour_from": hour_from,
                        "hour_to": hour_to,
                        "day_period": "morning",
                    }
                )
                for day in range(5)
            ],
        }

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

    @api.constrains("mail_server_id")
    def _check_mail_server(self):
        """Only a user who may read an outgoing mail server (Odoo: administrators) may route a sequence through it."""
        if self.env.is_superuser():
            return
        for sequence in self.filtered("mail_server_id"):
            if not sequence.mail_server_id.with_user(self.env.user).has_access("read"):
                raise ValidationError(
                    _(
                        "%(sequence)s, Outgoing Mail Server: only administrators choose a mail server. Leave it "
                        "empty: Odoo picks the server for the sender's address.",
                        sequence=sequence.name,
                    )
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

    def _compute_refusal_count(self):
        counts = dict(
            self.env["sales.sequence.refusal"]._read_group(
                [("sequence_id", "in", self.ids)], ["sequence_id"], ["__count"]
            )
        )
        for sequence in self:
            sequence.refusal_count = counts.get(sequence, 0)

    @api.depends("step_ids")
    def _compute_step_count(self):
        for sequence in self:
            sequence.step_count = len(sequence.step_ids)

    @api.depends("enrollment_ids.state")
    def _compute_enrollment_counts(self):
        counts = defaultdict(Counter)
        for sequence, state, count in self.env["sales.sequence.enrollment"]._read_group(
            [("sequence_id", "in", self.ids)], ["sequence_id", "state"], ["__count"]
        ):
            counts[sequence.id][state] = count
        for sequence in self:
            by_state = counts[sequence.id]
            sequence.enrollment_count = by_state.total()
            sequence.enrollment_active_count = by_state["active"]
            sequence.enrollment_queued_count = by_state["queued"]
            sequence.enrollment_blocked_count = by_state["blocked"]
            sequence.enrollment_paused_count = by_state["paused"]
            sequence.enrollment_finished_count = by_state["finished"] + by_state["completed"]
            sequence.metric_enrolled = sequence.enrollment_count
            sequence.metric_active = by_state["active"] + by_state["queued"]
            sequence.metric_finished = sequence.enrollment_finished_count

    def _compute_attention_count(self):
        counts = dict(
            self.env["sales.sequence.draft"]._read_group(
                [("sequence_id", "in", self.ids), ("state", "=", "pending")], ["sequence_id"], ["__count"]
            )
        )
        for sequence in self:
            sequence.attention_count = counts.get(sequence, 0)

    def action_open_forecast(self):
        """The dated plan of every step for the enrolled contacts (or a sample of the audience)."""
        self.ensure_one()
        return self.env["sales.sequence.forecast"]._open_for(self)

    def action_open_test_run(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": _("Test Run of %(sequence)s", sequence=self.name),
            "res_model": "sales.sequence.test.run",
            "view_mode": "form",
            "target": "new",
            "context": {"default_sequence_id": self.id},
        }

    def action_export_json(self):
        """Download the sequence, its steps and their contents as JSON, to import in another database."""
        self.ensure_one()
        self.check_access("read")
        data = self.env["sales.sequence.share"]._export_data(self)
        name = re.sub(r"[^\w.-]+", "_", self.name).strip("_") or "sequence"
        # sudo: a one-off download of what the user just read; the attachment is tied to this sequence's rights.
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"{name}.json",
                    "raw": json.dumps(data, indent=2, ensure_ascii=False).encode(),
                    "mimetype": "application/json",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
        )
        return {"type": "ir.actions.act_url", "url": f"/web/content/{attachment.id}?download=true", "target": "self"}

    def action_view_attention(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_draft")
        action["domain"] = [("sequence_id", "=", self.id)]
        return action

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
        return result

    # ------------------------------------------------------------------
    # Sender and schedule
    # ------------------------------------------------------------------

    def _get_email_from(self, partner=None):
        """The formatted sender of an email to `partner` under the sequence's sender routing."""
        self.ensure_one()
        if self.sender_mode == "fixed" and self.email_from:
            return self.email_from
        if self.sender_mode == "salesperson" and partner and partner.user_id.email:
            return partner.user_id.email_formatted
        return self.user_id.email_formatted or False

    def _get_author(self, partner=None):
        """The partner shown as the author of an email to `partner`."""
        self.ensure_one()
        if self.sender_mode == "salesperson" and partner and partner.user_id.email:
            return partner.user_id.partner_id
        return self.user_id.partner_id

    def _get_mailbox(self, partner=None):
        """The normalized sending address: the unit the daily limit counts per."""
        self.ensure_one()
        return email_normalize(self._get_email_from(partner) or "") or False

    def _get_send_schedule(self):
        """The pure-Python schedule built from the calendar: windows, timezone, excluded dates."""
        self.ensure_one()
        calendar = self.calendar_id
        windows = [
            (int(att.dayofweek), att.hour_from, att.hour_to)
            for att in calendar.attendance_ids
            if not att.display_type and att.day_period != "lunch" and att.hour_to > att.hour_from
        ]
        excluded = [(leave.date_from, leave.date_to) for leave in calendar.global_leave_ids]
        return SendSchedule(windows, tz=self.tz or calendar.tz or "UTC", excluded=excluded)

    # ------------------------------------------------------------------
    # Activation
    # ------------------------------------------------------------------

    def _get_activation_problems(self):
        """Every reason this sequence cannot run yet, in words that name the field and the fix."""
        self.ensure_one()
        problems = []
        if not self.step_ids:
            problems.append(_("Steps: add at least one step."))
        for step in self.step_ids:
            problems.extend(step._get_activation_problems())
        if self.sender_mode == "fixed" and not email_normalize(self.email_from or ""):
            problems.append(_("Send From: write the fixed sender address, or choose another Send As."))
        if not self._get_mailbox():
            problems.append(
                _(
                    "Send From: no sender address could be resolved. Fill 'Send From' or give the owner %(owner)s "
                    "an email address.",
                    owner=self.user_id.name,
                )
            )
        if not self.calendar_id:
            problems.append(_("Send Schedule: choose a working-hours calendar."))
        else:
            try:
                self._get_send_schedule().next_slot(fields.Datetime.now())
            except ScheduleError as error:
                problems.append(
                    _("Send Schedule '%(calendar)s': %(error)s", calendar=self.calendar_id.name, error=error)
                )
        return problems

    def _check_user_limit(self):
        """Settings > CRM > Sales Sequences: how many active sequences one user may own."""
        limit = int(self.env["ir.config_parameter"].sudo().get_param("sales_sequence.max_active_per_user", 0))
        if not limit:
            return
        for owner, sequences in self.grouped("user_id").items():
            # sudo: count the owner's active sequences whatever the current user may read; only a count leaves.
            already = self.sudo().search_count(
                [("user_id", "=", owner.id), ("state", "=", "active"), ("id", "not in", self.ids)]
            )
            if already + len(sequences) > limit:
                raise UserError(
                    _(
                        "Owner: %(owner)s already has %(count)s active sequence(s), and the limit is %(limit)s per "
                        "user (Settings > CRM > Sales Sequences). Pause one first, or raise the limit.",
                        owner=owner.name,
                        count=already,
                        limit=limit,
                    )
                )

    def _check_can_activate(self):
        self._check_user_limit()
        messages = []
        for sequence in self:
            problems = sequence._get_activation_problems()
            if problems:
                messages.append(
                    _("Sequence '%(name)s' cannot be activated:", name=sequence.name)
                    + "\n"
                    + "\n".join(f"- {problem}" for problem in problems)
                )
        if messages:
            raise UserError("\n\n".join(messages))

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

    def _delivery_warnings(self):
        """What would silently go wrong with the mail routing as configured, said at activation (not blocking):
        replies that cannot come back to Odoo, an owner's address Odoo's outgoing servers would replace."""
        self.ensure_one()
        warnings = []
        company = self.company_id.sudo()  # sudo: whether an alias domain exists, not its settings, is read
        if not company.alias_domain_id:
            warnings.append(
                _(
                    "%(sequence)s: no alias domain is set (Settings > General Settings > Alias Domain), so replies go "
                    "to the sender's own mailbox and cannot pause the sequence unless that mailbox is connected.",
                    sequence=self.name,
                )
            )
        sender = email_normalize(self._get_email_from() or "")
        if sender:
            # sudo: which server and address Odoo would use is what the owner learns, not the servers' settings.
            _server, smtp_from = self.env["ir.mail_server"].sudo()._find_mail_server(sender)
            if email_normalize(smtp_from or "") not in (sender, False):
                warnings.append(
                    _(
                        "%(sequence)s: no outgoing mail server accepts %(sender)s (its FROM filter), so Odoo sends as "
                        "%(used)s with your name. Ask an administrator to set a server for your address or domain.",
                        sequence=self.name,
                        sender=sender,
                        used=smtp_from,
                    )
                )
        return warnings

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
        paused._check_can_activate()
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

    # ------------------------------------------------------------------
    # Enrollment
    # ------------------------------------------------------------------

    def _enroll_partners(self, partners, source="manual"):
        """Enroll contacts; returns (enrollments, refusals) where refusals maps each refused partner to the reason.

        Nothing is dropped silently: every partner given is either enrolled or refused with a reason, and every
        refusal is also recorded (sales.sequence.refusal, the sequence's "Not enrolled" list) with its rule.
        """
        self.ensure_one()
        refusals = self._builtin_refusals(partners)
        refusals.update(self.ruleset_id._refusals(self, partners.filtered(lambda p: p not in refusals)))
        self.env["sales.sequence.refusal"]._record(self, refusals, source)
        to_enroll = partners.filtered(lambda p: p not in refusals)
        enrollments = self.env["sales.sequence.enrollment"].create(
            [{"sequence_id": self.id, "partner_id": partner.id} for partner in to_enroll]
        )
        if self.state == "active":
            enrollments._start()
        elif self.state == "paused":
            enrollments._pause_for_sequence()
        return enrollments, {partner: reason for partner, (_rule, reason, _exclusion) in refusals.items()}

    def _builtin_refusals(self, partners):
        """{partner: (rule, reason, None)}: already in, blacklisted, no or invalid email, in one query each."""
        partners.fetch(["email", "email_normalized"])  # only what the rules read, not every field of a contact
        already_in = (
            self.env["sales.sequence.enrollment"]
            .search(
                [
                    ("sequence_id", "=", self.id),
                    ("partner_id", "in", partners.ids),
                    ("state", "in", OPEN_STATES),
                ]
            )
            .partner_id
        )
        blacklisted = self.env["sales.sequence.enrollment"]._blacklisted_emails(partners.mapped("email_normalized"))
        # The sender depends on the contact only when sending as the contact's salesperson.
        mailbox = self._get_mailbox() if self.sender_mode != "salesperson" else None
        refusals = {}
        for partner in partners:
            refusal = self._get_enrollment_refusal(partner, already_in, blacklisted, mailbox)
            if refusal:
                refusals[partner] = (*refusal, None)
        return refusals

    def _get_enrollment_refusal(self, partner, already_in, blacklisted=(), mailbox=None):
        """(rule, reason) when a built-in rule refuses the partner, else False."""
        if partner in already_in:
            return "already_enrolled", _(
                "%(contact)s is already enrolled in this sequence.", contact=partner.display_name
            )
        if partner.email_normalized in blacklisted:
            return "blacklisted", _(
                "%(contact)s is on the blacklist (unsubscribed or blocked): %(email)s receives no sequence email.",
                contact=partner.display_name,
                email=partner.email_normalized,
            )
        if not partner.email:
            return "no_email", _(
                "%(contact)s has no email address: fill the contact's Email field.", contact=partner.display_name
            )
        if not partner.email_normalized:
            return "invalid_email", _(
                "%(contact)s has an invalid email address '%(email)s': correct the contact's Email field.",
                contact=partner.display_name,
                email=partner.email,
            )
        if not (mailbox if mailbox is not None else self._get_mailbox(partner)):
            return "no_sender", _(
                "No sender can be resolved for %(contact)s: give the sequence's owner an email address or set a "
                "fixed Send From.",
                contact=partner.display_name,
            )
        return False

    def _owner_absent_until(self, now):
        """When the owner's current leave ends (their resource's leaves, time off included), else False."""
        self.ensure_one()
        # sudo: whether the owner is away, not what their leave is, decides; nothing of it is shown but the date.
        leaves = (
            self.env["resource.calendar.leaves"]
            .sudo()
            .search(
                [
                    ("resource_id.user_id", "=", self.user_id.id),
                    ("date_from", "<=", now),
                    ("date_to", ">", now),
                ]
            )
        )
        return max(leaves.mapped("date_to")) if leaves else False

    def action_open_import_wizard(self):
        self.ensure_one()
        self.check_access("write")
        return {
            "type": "ir.actions.act_window",
            "name": _("Import Contacts"),
            "res_model": "sales.sequence.import.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_sequence_id": self.id},
        }

    def action_view_refusals(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_refusal")
        action["domain"] = [("sequence_id", "=", self.id)]
        return action

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_open_enroll_wizard(self):
        self.ensure_one()
        self.check_access("write")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enroll_wizard")
        action["context"] = {"default_sequence_id": self.id}
        return action

    def action_view_enrollments(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enrollment")
        action["domain"] = [("sequence_id", "=", self.id)]
        action["context"] = {"default_sequence_id": self.id}
        for state in (self.env.context.get("enrollment_state") or "").split(","):
            if state:
                action["context"][f"search_default_filter_{state}"] = 1
        return action

    # ------------------------------------------------------------------
    # Audience: who belongs in the sequence, enrolled as they appear
    # ------------------------------------------------------------------

    def _audience_candidates(self):
        """Ids of the audience's persons not yet in the sequence, one per normalized email (the lowest id), none
        whose email already has an open enrollment here: one SQL query after the lines' searches."""
        self.ensure_one()
        ids = set().union(*(line._partner_ids() for line in self.audience_ids)) if self.audience_ids else set()
        if not ids:
            return []
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                WITH enrolled AS (
                    SELECT e.partner_id, q.email_normalized
                      FROM sales_sequence_enrollment e
                      JOIN res_partner q ON q.id = e.partner_id
                     WHERE e.sequence_id = %(sequence)s AND e.state IN %(open)s
                )
                SELECT id FROM (
                    SELECT DISTINCT ON (coalesce(p.email_normalized, p.id::text)) p.id
                      FROM res_partner p
                     WHERE p.id = ANY(%(ids)s)
                       AND p.id NOT IN (SELECT partner_id FROM enrolled)
                       AND (p.email_normalized IS NULL OR p.email_normalized NOT IN (
                            SELECT email_normalized FROM enrolled WHERE email_normalized IS NOT NULL))
                  ORDER BY coalesce(p.email_normalized, p.id::text), p.id
                ) AS candidates ORDER BY id
                """,
                ids=list(ids),
                sequence=self.id,
                open=OPEN_STATES,
            )
        )
        return [row[0] for row in self.env.cr.fetchall()]

    def _sync_audience(self):
        """Enroll the audience's new matches; refusals are recorded once per contact and rule. Safe to run twice
        and from two workers at once: the unique index drops a second enrollment without an error."""
        self.ensure_one()
        # One sync of a sequence at a time: a second worker (the cron, Sync Now) skips it rather than racing the
        # first, which would end in a serialization failure under Odoo's repeatable-read transactions.
        self.env.cr.execute(SQL("SELECT pg_try_advisory_xact_lock(hashtext(%s))", f"sales_sequence:sync:{self.id}"))
        if not self.env.cr.fetchone()[0]:
            return self.env["sales.sequence.enrollment"]
        candidates = self.env["res.partner"].browse(self._audience_candidates())
        refusals = self._builtin_refusals(candidates)
        refusals.update(self.ruleset_id._refusals(self, candidates.filtered(lambda p: p not in refusals)))
        self.env["sales.sequence.refusal"]._record(self, self._new_refusals(refusals), "audience")
        enrollments = self.env["sales.sequence.enrollment"]._insert_open(
            self, candidates.filtered(lambda p: p not in refusals)
        )
        # No tracking message per started enrollment: an audience brings thousands at once.
        enrollments = enrollments.with_context(tracking_disable=True)
        if self.state == "active":
            enrollments._start()
        elif self.state == "paused":
            enrollments._pause_for_sequence()
        now = fields.Datetime.now()
        self.write({"audience_last_sync": now, "audience_next_sync": self._next_audience_sync(now)})
        return enrollments

    def _new_refusals(self, refusals):
        """The refusals not yet recorded for this sequence with the same rule (a sync runs again and again)."""
        if not refusals:
            return {}
        known = set(
            self.env["sales.sequence.refusal"]
            .sudo()
            .search_fetch([("sequence_id", "=", self.id), ("partner_id", "in", [p.id for p in refusals])], ["rule"])
            .mapped(lambda refusal: (refusal.partner_id.id, refusal.rule))
        )
        return {partner: refusal for partner, refusal in refusals.items() if (partner.id, refusal[0]) not in known}

    def _next_audience_sync(self, now):
        self.ensure_one()
        if self.audience_sync == "manual" or not self.audience_ids:
            return False
        if self.audience_sync == "hours":
            return now + timedelta(hours=max(self.audience_sync_interval, 1))
        tz = ZoneInfo(self.tz or "UTC")
        local_now = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
        hours, minutes = divmod(round(self.audience_sync_hour * 60), 60)
        at = local_now.replace(hour=min(hours, 23), minute=minutes, second=0, microsecond=0)
        if at <= local_now:
            at += timedelta(days=1)
        return at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    def action_sync_audience(self):
        self.check_access("write")
        enrolled = self.env["sales.sequence.enrollment"]
        for sequence in self:
            enrolled |= sequence._sync_audience()
        return self._notify_done(
            _(
                "%(count)s new contact(s) enrolled from the audience of %(names)s.",
                count=len(enrolled),
                names=self._names_for_message(),
            )
        )

    def action_preview_audience(self):
        """The audience's new matches, before anything is enrolled."""
        self.ensure_one()
        self.check_access("read")
        ids = self._audience_candidates()
        return {
            "type": "ir.actions.act_window",
            "name": _("Audience preview: %(count)s new contact(s)", count=len(ids)),
            "res_model": "res.partner",
            "view_mode": "list,form",
            "domain": [("id", "in", ids)],
            "target": "current",
        }

    @api.model
    def _cron_sync_audiences(self, batch_size=20):
        """Sync the audiences that are due, each sequence committed on its own; reports progress so Odoo calls it
        again while some remain."""
        now = fields.Datetime.now()
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        due = self.search(
            [
                ("state", "=", "active"),
                ("audience_ids", "!=", False),
                ("audience_sync", "!=", "manual"),
                "|",
                ("audience_next_sync", "=", False),
                ("audience_next_sync", "<=", now),
            ],
            limit=batch_size,
        )
        for sequence in due:
            try:
                with self.env.cr.savepoint():
                    sequence._sync_audience()
            except Exception:  # noqa: BLE001 - one broken audience must not stop the others
                _logger.exception("Sequence %s: the audience sync failed", sequence.id)
                sequence.audience_next_sync = sequence._next_audience_sync(now)
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        remaining = self.search_count(
            [
                ("state", "=", "active"),
                ("audience_ids", "!=", False),
                ("audience_sync", "!=", "manual"),
                "|",
                ("audience_next_sync", "=", False),
                ("audience_next_sync", "<=", now),
            ]
        )
        self.env["ir.cron"]._notify_progress(done=len(due), remaining=remaining)
