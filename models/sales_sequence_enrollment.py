from datetime import datetime, timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

ENROLLMENT_STATES = [
    ("draft", "Draft"),
    ("active", "In Progress"),
    ("queued", "Queued"),
    ("blocked", "Blocked"),
    ("paused", "Paused"),
    ("finished", "Finished"),
    ("completed", "Completed"),
    ("canceled", "Canceled"),
    ("excluded", "Excluded"),
    ("bounced", "Bounced"),
]
# The state sets, defined here only. Open: not ended (one open enrollment per contact and sequence).
OPEN_STATES = ("draft", "active", "queued", "blocked", "paused")
# Started and not ended: what the rules count as "running in a sequence", and what a meeting ends.
RUNNING_STATES = ("active", "queued", "blocked", "paused")
# Would still send something: what a reply or a bounce stops (a paused enrollment sends nothing).
SENDING_STATES = ("active", "queued", "blocked")
# Waiting for their next run: the run cron's due set (with next_run_at) and the partial due index.
DUE_STATES = ("active", "queued")
# The states that end an enrollment (`_end`): it keeps its history, and a new enrollment may start later.
END_STATES = ("finished", "completed", "canceled", "excluded", "bounced")

# Cron wake-ups are rounded up to this step: a step leaves at most this late, and a day holds a bounded number of
# wake-ups however many enrollments fall due at scattered (randomized) minutes.
TRIGGER_BUCKET = timedelta(minutes=5)


def cached_schedule(schedules, sequence):
    """The sequence's send schedule, built once per run (not setdefault: it would build it at every call)."""
    if sequence not in schedules:
        schedules[sequence] = sequence._get_send_schedule()
    return schedules[sequence]


def _ceil_to_bucket(moment):
    bucket = int(TRIGGER_BUCKET.total_seconds())
    seconds = int((moment - datetime.min).total_seconds())
    return datetime.min + timedelta(seconds=-(-seconds // bucket) * bucket)


class SalesSequenceEnrollment(models.Model):
    """One contact in one sequence. This file holds its fields, its history, the state sets and the only writes of
    `state`: the named transitions below. The engine's other concerns extend the model in their own files
    (models/sales_sequence_enrollment_*.py, see the README's Architecture)."""

    _name = "sales.sequence.enrollment"
    _description = "Sales Sequence Enrollment"
    _inherit = ["mail.thread", "mail.activity.mixin", "sales.sequence.guard.mixin"]
    # Unenroll and enroll again instead: a contact's history in a sequence stays with that sequence.
    _immutable_fields = ("sequence_id", "partner_id")
    _order = "id desc"
    _rec_names_search = ["partner_id", "sequence_id"]
    _check_company_auto = True

    sequence_id = fields.Many2one("sales.sequence", required=True, index=True, ondelete="cascade", check_company=True)
    partner_id = fields.Many2one("res.partner", string="Contact", required=True, index=True, ondelete="cascade")
    active = fields.Boolean(default=True, help="Archived enrollments are hidden; only Sequence Managers archive.")
    # Read with the reader's rights (not as superuser): an enrollment never shows what its contact hides.
    email = fields.Char(related="partner_id.email", compute_sudo=False)
    user_id = fields.Many2one(related="sequence_id.user_id", string="Owner", store=True, index=True)
    company_id = fields.Many2one(related="sequence_id.company_id", store=True, index=True)
    state = fields.Selection(
        ENROLLMENT_STATES, string="Status", default="draft", required=True, index=True, tracking=True, copy=False
    )
    state_reason = fields.Char(string="Reason", help="Why the enrollment is in its state.")
    step_id = fields.Many2one(
        "sales.sequence.step",
        string="Next Step",
        ondelete="set null",
        domain="[('sequence_id', '=', sequence_id)]",
    )
    # Indexed by the partial due index alone (init): a second, full index would be rewritten at every step.
    next_run_at = fields.Datetime(string="Next Run", copy=False)
    date_enrolled = fields.Datetime(string="Enrolled On", default=fields.Datetime.now, readonly=True)
    date_done = fields.Datetime(string="Ended On", readonly=True, copy=False)
    last_touch_at = fields.Datetime(string="Last Step Sent", readonly=True, copy=False)
    paused_by_sequence = fields.Boolean(readonly=True, copy=False)
    held_by_limit = fields.Selection(
        [("mailbox", "Mailbox's daily limit"), ("user", "Owner's daily limit")],
        readonly=True,
        copy=False,
        help="Queued by this daily limit: a change of the limit releases it.",
    )
    limit_override = fields.Boolean(
        readonly=True,
        copy=False,
        help="Send Now (ignoring the daily limits) was asked: its next email goes regardless.",
    )
    touch_ids = fields.One2many("sales.sequence.touch", "enrollment_id", string="Steps Run")
    event_ids = fields.One2many("sales.sequence.event", "enrollment_id", string="Timeline")
    touch_count = fields.Integer(compute="_compute_touch_count")

    def init(self):
        # One open enrollment per contact and sequence, enforced where two workers cannot both miss it.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS sales_sequence_enrollment_open_uniq "
                "ON sales_sequence_enrollment (sequence_id, partner_id) WHERE state IN %s",
                OPEN_STATES,
            )
        )
        # The run cron's only question: which open enrollments are due (18.0.1.1.0's full index: migrations/).
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS sales_sequence_enrollment_due_idx "
                "ON sales_sequence_enrollment (next_run_at) WHERE state IN %s",
                DUE_STATES,
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        self._check_partners_readable(vals_list)
        # A sequence's emails go to the contact alone: the enrollment starts with no follower who would get a copy.
        enrollments = super(SalesSequenceEnrollment, self.with_context(mail_create_nosubscribe=True)).create(vals_list)
        return enrollments.with_env(self.env)

    @api.model
    def _check_partners_readable(self, vals_list):
        """Whatever the path (form, RPC, wizard, import, audience as its owner), nobody enrolls a contact they
        cannot read: the sequence would email them and show the email in the enrollment."""
        if self.env.su:
            return
        partner_ids = {vals.get("partner_id") for vals in vals_list} - {None, False}
        partners = self.env["res.partner"].browse(partner_ids).with_context(active_test=False)
        existing = partners.exists()
        refused = (partners - existing) | (existing - existing._filtered_access("read"))
        if refused:
            raise AccessError(
                _(
                    "Contact: you cannot read contact #%(id)s, so you cannot enroll it. Choose a contact of your "
                    "company that you can open.",
                    id=refused[:1].id,
                )
            )

    def _immutable_field_message(self, field):
        return _(
            "%(field)s cannot be changed once a contact is enrolled. Unenroll the contact, then enroll the right "
            "contact in the right sequence.",
            field=field.get_description(self.env)["string"],
        )

    @api.constrains("step_id", "sequence_id")
    def _check_step_in_sequence(self):
        for enrollment in self:
            if enrollment.step_id and enrollment.step_id.sequence_id != enrollment.sequence_id:
                raise ValidationError(
                    _(
                        "Next Step: step #%(step)s is not a step of %(sequence)s. Choose one of its own steps.",
                        step=enrollment.step_id.id,  # its id only: the step may be another user's
                        sequence=enrollment.sequence_id.name,
                    )
                )

    def write(self, vals):
        if (
            "active" in vals
            and not self.env.su
            and not self.env.user.has_group("sales_sequence.group_sales_sequence_manager")
        ):
            raise UserError(_("Only Sequence Managers archive enrollments. To stop one, use Unenroll."))
        if vals.get("active") is False:
            self.filtered(lambda e: e.state in OPEN_STATES)._cancel(_("Archived by %(user)s.", user=self.env.user.name))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_history(self):
        with_history = self._with_history()
        if with_history:
            raise UserError(
                _(
                    "%(contacts)s already received emails from this sequence, and what was sent is kept. Use "
                    "Unenroll to stop the sequence for them; a Sequence Manager can archive the enrollment.",
                    contacts=", ".join(with_history.partner_id.mapped("display_name")),
                )
            )

    # ------------------------------------------------------------------
    # History
    # ------------------------------------------------------------------

    def _with_history(self):
        """The enrollments of self that already ran a step or went through any event of the conversation."""
        # sudo: count the history whatever the user's rules; only ids of self come back.
        with_history = set()
        for model in ("sales.sequence.touch", "sales.sequence.event"):
            groups = self.env[model].sudo()._read_group([("enrollment_id", "in", self.ids)], ["enrollment_id"])
            with_history.update(enrollment.id for (enrollment,) in groups)
        return self.filtered(lambda e: e.id in with_history)

    @api.model
    def _sequences_with_history(self, sequences):
        """The sequences among `sequences` that already sent at least one step."""
        # sudo: history counts whatever the user's rules; only ids of the given sequences come back.
        sent = (
            self.env["sales.sequence.touch"].sudo()._read_group([("sequence_id", "in", sequences.ids)], ["sequence_id"])
        )
        sent_ids = {sequence.id for (sequence,) in sent}
        return sequences.filtered(lambda s: s.id in sent_ids)

    @api.depends("partner_id", "sequence_id")
    def _compute_display_name(self):
        for enrollment in self:
            enrollment.display_name = f"{enrollment.partner_id.display_name} / {enrollment.sequence_id.name}"

    def _compute_touch_count(self):
        counts = dict(
            self.env["sales.sequence.touch"]._read_group(
                [("enrollment_id", "in", self.ids)], ["enrollment_id"], ["__count"]
            )
        )
        for enrollment in self:
            enrollment.touch_count = counts.get(enrollment, 0)

    def _done_touches(self):
        """The step runs that went out (a failed send is sent again on resume)."""
        return self.touch_ids.filtered(lambda touch: not touch.failed)

    def action_view_touches(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_touch")
        action["domain"] = [("enrollment_id", "=", self.id)]
        return action

    # ------------------------------------------------------------------
    # State transitions: the only writes of `state`
    # ------------------------------------------------------------------

    # Single transitions write one state for the whole recordset. Batched callers (advancing a chunk, starting an
    # audience) compute plans with `_plan_*` instead and apply them with `_apply_plan`, one write per distinct plan.

    def _plan_step(self, step, next_run_at, reason):
        """The values that make `step` the next one, due at `next_run_at`."""
        return {"step_id": step.id, "state": "active", "state_reason": reason, "next_run_at": next_run_at}

    def _plan_blocked(self, step, reason):
        """The values that point at `step` but block it (no slot: the send schedule has no window)."""
        return {"step_id": step.id, "state": "blocked", "state_reason": reason, "next_run_at": False}

    def _get_finish_values(self, reason=None):
        return {
            "state": "finished",
            "state_reason": reason or _("All steps were run."),
            "step_id": False,
            "next_run_at": False,
            "date_done": fields.Datetime.now(),
        }

    def _apply_plan(self, values):
        """Write a plan made by `_plan_step`, `_plan_blocked` or `_get_finish_values` (plus engine fields)."""
        self.write(values)

    def _activate(self, reason=None, **values):
        """Active: waiting for its next run (`next_run_at`), or for a person when `next_run_at` is False."""
        if self:
            self.write({"state": "active", **({"state_reason": reason} if reason else {}), **values})

    def _queue(self, reason, next_run_at, held_by_limit=False):
        """Queued: held back by a limit (`held_by_limit`: which) or a closed window until `next_run_at`."""
        self.write(
            {"state": "queued", "state_reason": reason, "next_run_at": next_run_at, "held_by_limit": held_by_limit}
        )

    def _pause(self, reason, by_sequence=False, **values):
        """Paused: out of the due set until resumed (by a person, or by the sequence when it paused them)."""
        self.write({"state": "paused", "paused_by_sequence": by_sequence, "state_reason": reason, **values})

    def _reset_to_draft(self, reason):
        """Draft again: waits for its sequence to be activated."""
        self.write({"state": "draft", "paused_by_sequence": False, "state_reason": reason})

    def _finish(self, reason=None, **values):
        """Finished: every step ran (or none can any more)."""
        self.write({**self._get_finish_values(reason), **values})

    def _block(self, reason):
        """Blocked: something needs a fix (contact data, the step, the schedule); resume runs it again."""
        self.write({"state": "blocked", "state_reason": reason})

    def _end(self, state, reason):
        """End open enrollments in `state` (one of END_STATES: completed, bounced, ...) with the reason."""
        self.filtered(lambda e: e.state in OPEN_STATES).write(
            {
                "state": state,
                "state_reason": reason,
                "step_id": False,
                "next_run_at": False,
                "date_done": fields.Datetime.now(),
            }
        )

    def _cancel(self, reason):
        self._end("canceled", reason)

    def _write_start(self, values):
        """Apply a start plan (`_plan_step`, `_plan_blocked`); in SQL for an audience's thousands (no tracking
        wanted), else with the ORM."""
        if not self.env.context.get("tracking_disable"):
            self._apply_plan(values)
            return
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                "UPDATE sales_sequence_enrollment SET state = %s, state_reason = %s, step_id = %s, next_run_at = %s, "
                "write_uid = %s, write_date = now() AT TIME ZONE 'UTC' WHERE id = ANY(%s)",
                values["state"],
                values["state_reason"],
                values["step_id"] or None,
                values["next_run_at"] or None,
                self.env.uid,
                self.ids,
            )
        )
        self.invalidate_recordset(["state", "state_reason", "step_id", "next_run_at", "write_uid", "write_date"])

    @api.model
    def _insert_planned(self, sequence, values, ids, partner_ids, next_run_ats):
        """Insert started enrollments of `sequence` in one SQL statement, each row (`ids`, `partner_ids`,
        `next_run_ats` side by side; ids taken from the table's sequence beforehand) in the start plan `values`
        (`_plan_step` or `_plan_blocked`, its `next_run_at` per row): an audience's thousands are written once,
        never inserted as drafts and then started. No tracking message per enrollment, as `_write_start`. A contact
        another worker enrolled meanwhile is skipped by the unique index, without an error. Returns the new ones."""
        self.env.flush_all()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sales_sequence_enrollment
                       (id, sequence_id, partner_id, user_id, company_id, state, state_reason, step_id, next_run_at,
                        date_enrolled, active, paused_by_sequence, create_uid, create_date, write_uid, write_date)
                SELECT row.id, %(sequence)s, row.partner_id, %(owner)s, %(company)s, %(state)s, %(reason)s, %(step)s,
                       row.next_run_at, %(now)s, TRUE, FALSE, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(ids)s::int[], %(partners)s::int[], %(next_run_ats)s::timestamp[])
                       AS row(id, partner_id, next_run_at)
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                sequence=sequence.id,
                owner=sequence.user_id.id or None,
                company=sequence.company_id.id,
                state=values["state"],
                reason=values["state_reason"],
                step=values["step_id"] or None,
                now=now,
                uid=self.env.uid,
                ids=ids,
                partners=partner_ids,
                next_run_ats=next_run_ats,
            )
        )
        return self.browse(sorted(row[0] for row in self.env.cr.fetchall()))

    def _wake_cron_for_due(self):
        """Ask the run cron to wake when these enrollments fall due, so a step leaves within minutes of its slot
        rather than at the next hourly run."""
        self._wake_cron_at(
            enrollment.next_run_at for enrollment in self if enrollment.state in DUE_STATES and enrollment.next_run_at
        )

    @api.model
    def _wake_cron_at(self, next_run_ats):
        """Wake the run cron at these due moments (those within a day), each rounded up to its bucket."""
        horizon = fields.Datetime.now() + timedelta(days=1)
        moments = {_ceil_to_bucket(moment) for moment in set(next_run_ats) if moment and moment <= horizon}
        if moments:
            # Every run job (Settings: Parallel senders), so that all senders share the sends; with queue_job the
            # first alone, which queues the senders' jobs.
            crons = self._run_crons()
            for cron in crons[:1] if self._run_with_queue_job() else crons:
                cron._trigger(sorted(moments))

    # ------------------------------------------------------------------
    # User actions and the sequence's pause
    # ------------------------------------------------------------------

    def action_pause(self):
        self.check_access("write")
        to_pause = self.filtered(lambda e: e.state in ("draft", "active", "queued", "blocked"))
        self.env["sales.sequence.event"]._record(to_pause, "pause", _("Paused by %(user)s.", user=self.env.user.name))
        to_pause._pause(_("Paused by %(user)s.", user=self.env.user.name))
        return True

    def action_resume(self):
        self.check_access("write")
        to_resume = self.filtered(lambda e: e.state in ("paused", "blocked"))
        self.env["sales.sequence.event"]._record(
            to_resume, "resume", _("Resumed by %(user)s.", user=self.env.user.name)
        )
        started = to_resume.filtered(lambda e: e.sequence_id.state == "active")
        started._resume()
        (to_resume - started)._reset_to_draft(_("Starts when the sequence is activated."))
        return True

    def action_cancel(self):
        self.check_access("write")
        self.filtered(lambda e: e.state in OPEN_STATES)._cancel(_("Unenrolled by %(user)s.", user=self.env.user.name))
        return True

    def _pause_for_sequence(self, archived=False):
        """Out of the due set while the sequence is paused (or archived): the run cron never scans them."""
        if archived:
            event, reason = (
                _("The sequence was archived."),
                _("The sequence is archived; steps resume if it is restored."),
            )
        else:
            event, reason = _("The sequence was paused."), _("The sequence is paused; steps resume when it is resumed.")
        self.env["sales.sequence.event"]._record(self, "pause", event)
        # Thousands at once: the timeline's event says it, no tracking message per enrollment in the chatter.
        self.with_context(mail_notrack=True)._pause(reason, by_sequence=True)

    def _resume(self):
        self.env["sales.sequence.event"]._record(
            self.filtered("paused_by_sequence"), "resume", _("The sequence was resumed."), by_sequence=True
        )
        not_started = self.filtered(lambda e: not e.step_id and not e.last_touch_at)
        not_started.write({"paused_by_sequence": False})
        not_started._start()
        started = self - not_started
        started._activate(paused_by_sequence=False)
        started.filtered("step_id")._reschedule()
        started.filtered(lambda e: not e.step_id)._finish()
