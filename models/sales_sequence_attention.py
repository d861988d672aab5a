from datetime import timedelta

from odoo import _, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import SQL

ATTENTION_KINDS = [
    ("approval", "Draft to approve"),
    ("reply", "Reply to handle"),
    ("call", "Call due"),
    ("task", "Task due"),
    ("blocked", "Blocked enrollment"),
    ("bounced", "Bounced enrollment"),
]
# The row id is the source record's id times this plus the kind's position: stable, and unique across the kinds.
KIND_SLOTS = 8
# A bounced enrollment stays on the list this long after its bounce (it has ended: nothing to resume).
BOUNCED_DAYS = 7
# What ends the "paused by a reply" question: the last of these events on the enrollment says why it is paused.
# The fields the view reads: flushed before any query on it (what the cache holds must be in the tables).
SOURCE_FIELDS = {
    "sales.sequence.draft": ("state", "subject", "enrollment_id"),
    "sales.sequence.enrollment": (
        "state",
        "state_reason",
        "user_id",
        "company_id",
        "sequence_id",
        "partner_id",
        "active",
        "date_done",
        "attention_dismissed",
    ),
    "sales.sequence.event": ("event_type", "date", "enrollment_id"),
    "sales.sequence.touch": ("kind", "done_at", "activity_id", "enrollment_id"),
    "mail.activity": ("summary", "user_id", "date_deadline", "active"),
}
PAUSE_EVENTS = ("reply", "reply_hold", "pause", "resume", "send_failure", "expire")


class SalesSequenceAttention(models.Model):
    """Needs Attention: one row per thing that waits on a person, read from the records themselves (a SQL view):
    drafts to approve or review, replies that paused an enrollment, sequence calls and tasks due today or
    overdue, enrollments blocked (or bounced in the last days). `user_id` is the person it waits on: the
    sequence's owner, or the activity's assignee; the record rules show each rep their own rows, managers all.
    The row's buttons call the source record's own actions with the user's rights."""

    _name = "sales.sequence.attention"
    _description = "Sales Sequence: Needs Attention"
    _auto = False
    _order = "date, id"
    _rec_name = "reason"

    kind = fields.Selection(ATTENTION_KINDS, readonly=True)
    user_id = fields.Many2one("res.users", string="Waits On", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    sequence_id = fields.Many2one("sales.sequence", readonly=True)
    enrollment_id = fields.Many2one("sales.sequence.enrollment", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True)
    draft_id = fields.Many2one("sales.sequence.draft", readonly=True)
    activity_id = fields.Many2one("mail.activity", readonly=True)
    record_ref = fields.Reference(
        [
            ("sales.sequence.draft", "Draft"),
            ("sales.sequence.enrollment", "Enrollment"),
            ("mail.activity", "Activity"),
        ],
        string="Record",
        readonly=True,
    )
    reason = fields.Char(readonly=True)
    date = fields.Datetime(readonly=True, help="Since when it waits (for a call or task: its deadline).")
    due = fields.Boolean(
        compute="_compute_due",
        search="_search_due",
        help="Waits now: everything but the calls and tasks due after today (in the user's timezone).",
    )

    @property
    def _table_query(self):
        kind_index = {kind: index for index, (kind, _label) in enumerate(ATTENTION_KINDS)}
        to_flush = SQL().join(
            SQL("", to_flush=self.env[model]._fields[name]) for model, names in SOURCE_FIELDS.items() for name in names
        )
        return SQL(
            "%s%s",
            to_flush,
            SQL(
                """
            SELECT d.id * %(slots)s + %(k_approval)s AS id, 'approval' AS kind, e.user_id, e.company_id,
                   e.sequence_id, e.id AS enrollment_id, e.partner_id, d.id AS draft_id, NULL::int AS activity_id,
                   'sales.sequence.draft,' || d.id AS record_ref,
                   coalesce(d.subject, '') AS reason, d.create_date AS date
              FROM sales_sequence_draft d
              JOIN sales_sequence_enrollment e ON e.id = d.enrollment_id
             WHERE d.state = 'pending'
            UNION ALL
            SELECT e.id * %(slots)s + %(k_reply)s, 'reply', e.user_id, e.company_id,
                   e.sequence_id, e.id, e.partner_id, NULL, NULL,
                   'sales.sequence.enrollment,' || e.id,
                   coalesce(e.state_reason, ''), last_event.date
              FROM sales_sequence_enrollment e
              JOIN LATERAL (SELECT ev.event_type, ev.date FROM sales_sequence_event ev
                             WHERE ev.enrollment_id = e.id AND ev.event_type IN %(pause_events)s
                          ORDER BY ev.date DESC, ev.id DESC LIMIT 1) last_event ON TRUE
             WHERE e.state = 'paused' AND e.active AND last_event.event_type IN ('reply', 'reply_hold')
            UNION ALL
            SELECT a.id * %(slots)s + CASE WHEN t.kind = 'call' THEN %(k_call)s ELSE %(k_task)s END,
                   CASE WHEN t.kind = 'call' THEN 'call' ELSE 'task' END, a.user_id, e.company_id,
                   e.sequence_id, e.id, e.partner_id, NULL, a.id,
                   'mail.activity,' || a.id,
                   coalesce(a.summary, ''), a.date_deadline::timestamp
              FROM sales_sequence_touch t
              JOIN mail_activity a ON a.id = t.activity_id
              JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
             WHERE t.kind IN ('call', 'task') AND t.done_at IS NULL AND a.active
            UNION ALL
            SELECT e.id * %(slots)s + CASE WHEN e.state = 'blocked' THEN %(k_blocked)s ELSE %(k_bounced)s END,
                   e.state, e.user_id, e.company_id,
                   e.sequence_id, e.id, e.partner_id, NULL, NULL,
                   'sales.sequence.enrollment,' || e.id,
                   coalesce(e.state_reason, ''), coalesce(e.date_done, e.write_date)
              FROM sales_sequence_enrollment e
             WHERE e.active AND (e.state = 'blocked' OR (
                   NOT coalesce(e.attention_dismissed, FALSE) AND e.state = 'bounced'
                   AND e.date_done >= (now() AT TIME ZONE 'UTC') - %(bounced_days)s))
            """,
                slots=KIND_SLOTS,
                k_approval=kind_index["approval"],
                k_reply=kind_index["reply"],
                k_call=kind_index["call"],
                k_task=kind_index["task"],
                k_blocked=kind_index["blocked"],
                k_bounced=kind_index["bounced"],
                pause_events=PAUSE_EVENTS,
                bounced_days=timedelta(days=BOUNCED_DAYS),
            ),
        )

    def _compute_due(self):
        today_end = self._today_end()
        for row in self:
            row.due = row.kind not in ("call", "task") or row.date < today_end

    def _search_due(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Due: search it with = or != and True or False."))
        domain = ["|", ("kind", "not in", ("call", "task")), ("date", "<", self._today_end())]
        return domain if (operator == "=") == value else ["!", *domain]

    def _today_end(self):
        """Midnight at the end of the user's today, as a naive datetime (a deadline is a date)."""
        today = fields.Date.context_today(self)
        return fields.Datetime.to_datetime(today) + timedelta(days=1)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)

    # ------------------------------------------------------------------
    # One-click actions: the source record's own action, with the user's rights
    # ------------------------------------------------------------------

    def _of_kind(self, *kinds):
        rows = self.filtered(lambda row: row.kind in kinds)
        if not rows:
            raise UserError(
                _(
                    "This action is for %(kinds)s rows: select such rows, or use Open.",
                    kinds=", ".join(dict(self._fields["kind"]._description_selection(self.env))[k] for k in kinds),
                )
            )
        return rows

    def action_approve(self):
        """Drafts: approve (an email reminder is reviewed and sent from its form: Open)."""
        drafts = self._of_kind("approval").draft_id.filtered(lambda d: d.kind == "approval")
        if not drafts:
            raise UserError(_("An email reminder is reviewed and sent from its form: use Open."))
        return drafts.action_approve()

    def action_resume(self):
        """Replies and blocked enrollments: resume (the reply was read, the cause fixed)."""
        self._of_kind("reply", "blocked").enrollment_id.action_resume()
        return self._refresh(_("Resumed: the sequence goes on at the next allowed slot."))

    def action_close(self):
        """Replies: close the enrollment as completed (the conversation goes on by hand)."""
        self._of_kind("reply").enrollment_id.action_close_after_reply()
        return self._refresh(_("Closed: the sequence stops for this contact."))

    def action_mark_done(self):
        """Calls and tasks: mark the activity done; the sequence goes on."""
        self._of_kind("call", "task").activity_id.action_done()
        return self._refresh(_("Marked done: the sequence goes on."))

    def action_dismiss(self):
        """Bounced: seen (fix the address on the contact and enroll again if wanted)."""
        self._of_kind("bounced").enrollment_id.action_dismiss_attention()
        return self._refresh(_("Dismissed."))

    def action_open(self):
        """The source record's form."""
        self.ensure_one()
        record = self.record_ref
        if self.kind in ("call", "task"):
            record = self.enrollment_id  # an activity has no form of its own: its enrollment shows it
        record.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "views": [(False, "form")],
            "target": "current",
        }

    def _refresh(self, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
