from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

from ..lib.planner import PlanEnrollment, PlanStep, plan
from ..lib.send_schedule import ScheduleError
from ..models.sales_sequence_enrollment_safety import hour_start, minute_start

FORECAST_SAMPLE = 200


def plan_steps(sequence):
    """The steps as the planner sees them. A smart sequence runs one step per interval when its conditions match:
    its plan assumes they match in order, one interval apart."""
    if sequence.sequence_type == "smart":
        interval = max(sequence.smart_interval_hours, 1) / 24
        return [
            PlanStep(step.id, interval if position else 0, step.step_type)
            for position, step in enumerate(sequence.step_ids)
        ]
    return [
        PlanStep(step.id, step.delay_days, step.step_type, *_branch_of(step))
        if step.step_type == "branch"
        else PlanStep(step.id, step.delay_days, step.step_type)
        for step in sequence.step_ids
    ]


def _branch_of(step):
    """(targets, conditions) of a branch step as the planner reads them."""
    return step._branch_targets(), tuple(step.condition_ids._specs())


class SalesSequenceForecast(models.TransientModel):
    """The dated plan of every step, before activating: for the enrolled contacts, or a sample of the audience,
    computed by the planner the run cron follows (windows, timezones, excluded dates, daily limit, randomized
    send times, the owner's leave)."""

    _name = "sales.sequence.forecast"
    _description = "Sales Sequence Forecast"

    sequence_id = fields.Many2one("sales.sequence", required=True, ondelete="cascade")
    source = fields.Selection(
        [("enrolled", "Enrolled contacts"), ("audience", "A sample of the audience")], default="enrolled"
    )
    line_ids = fields.One2many("sales.sequence.forecast.line", "forecast_id")
    note = fields.Char(readonly=True)

    @api.model
    def _open_for(self, sequence):
        sequence.check_access("read")
        source = (
            "enrolled"
            if sequence.enrollment_ids.filtered(lambda e: e.state in ("draft", "active", "queued"))
            else "audience"
        )
        forecast = self.create({"sequence_id": sequence.id, "source": source})
        forecast._compute_lines()
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_forecast_line")
        action["domain"] = [("forecast_id", "=", forecast.id)]
        action["display_name"] = _("Forecast of %(sequence)s", sequence=sequence.name)
        action["help"] = forecast.note
        return action

    def _compute_lines(self):
        self.ensure_one()
        sequence = self.sequence_id
        now = fields.Datetime.now()
        steps = sequence.step_ids
        partners, enrollments = self._subjects(sequence)
        if not steps or not partners:
            self.note = _("Nothing to forecast: add steps and enroll contacts or define an audience.")
            return
        try:
            schedule = sequence._get_send_schedule()
        except ScheduleError as error:
            self.note = str(error)
            return
        subjects = self._plan_enrollments(sequence, partners, enrollments, now)
        Enrollment = self.env["sales.sequence.enrollment"]
        day_start, day_end = schedule.day_bounds(now)
        planned = plan(
            subjects,
            plan_steps(sequence),
            schedule,
            now=now,
            randomize=sequence.randomize,
            daily_limit=sequence.daily_limit,
            already_sent=self._already_sent(schedule, now),
            leaves=self._owner_leaves(sequence, now),
            # The same per-user limit the run cron applies (sales_sequence_enrollment_limits.py).
            user_limit=Enrollment._max_emails_per_user(),
            user_already_sent={day_start: Enrollment._count_sent_by_user(sequence.user_id, day_start, day_end)},
            # The mailbox's hourly and per-minute limits (models/sales_sequence_enrollment_safety.py).
            hourly_limit=sequence.hourly_limit,
            minute_limit=sequence.minute_limit,
            recent_sent=self._recent_sent(sequence, now),
        )
        partner_of = {subject.id: partner for subject, partner in zip(subjects, partners, strict=True)}
        answers = {True: _("yes"), False: _("no")}
        # What the cron would hold or skip: a step whose data the contact lacks (no email, mobile or phone).
        missing_data = {
            (step.id, partner.id): Enrollment._missing_data_outcome(step, partner)
            for step in steps
            for partner in partners
        }
        moved = {
            "daily_limit": _("Daily limit"),
            "user_limit": _("Daily limit per user"),
            "owner_leave": _("Owner on leave"),
            "hourly_limit": _("Hourly limit"),
            "minute_limit": _("Per-minute limit"),
        }
        self.env["sales.sequence.forecast.line"].create(
            [
                {
                    "forecast_id": self.id,
                    "partner_id": partner_of[item.enrollment_id].id,
                    "step_id": item.step_id,
                    "planned_at": item.at,
                    "moved_by": moved.get(item.moved_by, False),
                    "branch_answer": answers.get(item.answer, False),
                    "problem": item.problem
                    or missing_data.get((item.step_id, partner_of[item.enrollment_id].id))
                    or False,
                }
                for item in planned
            ]
        )
        self.note = _(
            "%(count)s contacts, %(steps)s steps planned from now. Manual steps are assumed done the day they are due; "
            "branches follow what is known now (an open, reply or call outcome not seen yet counts as 'no'); "
            "replies, bounces and conditions may end or skip steps.",
            count=len(partners),
            steps=len(planned),
        )

    def _subjects(self, sequence):
        """(partners, enrollments or None): the open enrollments' contacts, or a sample of the audience."""
        if self.source == "enrolled":
            enrollments = sequence.enrollment_ids.filtered(lambda e: e.state in ("draft", "active", "queued"))
            enrollments = enrollments[:FORECAST_SAMPLE]
            return list(enrollments.partner_id), enrollments
        ids = sequence._audience_candidates()[:FORECAST_SAMPLE]
        return list(self.env["res.partner"].browse(ids)), None

    def _plan_enrollments(self, sequence, partners, enrollments, now):
        """One PlanEnrollment per contact: a running enrollment from its waiting step, the others from step 1.
        Branches are answered on what is known now (the cron's facts and contact conditions), see lib/planner.py."""
        steps = list(sequence.step_ids)
        specs = self._branch_specs(sequence, partners, enrollments)
        facts = enrollments._behaviour_facts() if enrollments else {}
        subjects = []
        for position, partner in enumerate(partners):
            tz = partner.tz if sequence.use_contact_tz and partner.tz else None
            mailbox = sequence._get_mailbox(partner) or ""
            enrollment = enrollments[position] if enrollments else None
            if enrollment and enrollment.state != "draft" and enrollment.step_id in steps:
                subjects.append(
                    PlanEnrollment(
                        enrollment.id,
                        steps.index(enrollment.step_id),
                        enrollment.last_touch_at or enrollment.date_enrolled,
                        follows_send=bool(enrollment.last_touch_at),
                        next_run_at=enrollment.next_run_at or None,
                        tz=tz,
                        mailbox=mailbox,
                        facts=frozenset(facts.get(enrollment.id, ())),
                        branch_specs=specs[partner],
                        stops=frozenset(enrollment._path_stops(steps)),
                    )
                )
                continue
            # A contact not started yet: its enrollment id seeds the randomized times; a sample has none yet.
            subject_id = enrollment.id if enrollment else -partner.id
            subjects.append(PlanEnrollment(subject_id, 0, now, tz=tz, mailbox=mailbox, branch_specs=specs[partner]))
        return subjects

    def _branch_specs(self, sequence, partners, enrollments=None):
        """{partner: {branch position: its conditions with this contact's (and opportunity's) matches}}, one search
        per branch and record kind. A contact not enrolled yet has no opportunity: its opportunity conditions fail,
        as the cron judges an enrollment without one."""
        specs = {partner: {} for partner in partners}
        if sequence.sequence_type != "classic":
            return specs
        for position, step in enumerate(sequence.step_ids):
            if step.step_type != "branch":
                continue
            conditions = step.condition_ids
            owner = sequence.user_id
            domain = conditions._contact_domain(owner)
            matching = set(
                # As the owner, as the cron judges it (models/sales_sequence_enrollment_gates.py).
                conditions._partners_as(owner).search([("id", "in", [p.id for p in partners]), *domain]).ids
                if domain
                else (p.id for p in partners)
            )
            leads = enrollments._leads_matching(conditions) if enrollments else self.env["crm.lead"]
            lead_ok = {enrollment.partner_id.id for enrollment in enrollments or () if enrollment.lead_id in leads}
            for partner in partners:
                specs[partner][position] = tuple(
                    conditions._specs(contact_ok=partner.id in matching, lead_ok=partner.id in lead_ok)
                )
        return specs

    def _already_sent(self, schedule, now):
        start, end = schedule.day_bounds(now)
        self.env["sales.sequence.touch"].flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT mailbox, count(*) FROM sales_sequence_touch WHERE date >= %s AND date < %s "
                "AND failed IS NOT TRUE AND mailbox IS NOT NULL GROUP BY mailbox",
                start,
                end,
            )
        )
        return {(mailbox, start): count for mailbox, count in self.env.cr.fetchall()}

    def _recent_sent(self, sequence, now):
        """{(mailbox, "hour" or "minute", its start): emails sent} for this clock hour and minute, when the sequence
        limits them (lib/planner.py, plan's recent_sent)."""
        buckets = []
        if sequence.hourly_limit:
            buckets.append(("hour", hour_start(now), timedelta(hours=1)))
        if sequence.minute_limit:
            buckets.append(("minute", minute_start(now), timedelta(minutes=1)))
        recent = {}
        self.env["sales.sequence.touch"].flush_model()
        for unit, start, size in buckets:
            self.env.cr.execute(
                SQL(
                    "SELECT mailbox, count(*) FROM sales_sequence_touch WHERE date >= %s AND date < %s "
                    "AND failed IS NOT TRUE AND mailbox IS NOT NULL GROUP BY mailbox",
                    start,
                    start + size,
                )
            )
            recent.update({(mailbox, unit, start): count for mailbox, count in self.env.cr.fetchall()})
        return recent

    def _owner_leaves(self, sequence, now):
        if sequence.ruleset_id.send_when_owner_absent:
            return []
        # sudo: when the owner is away decides the dates; nothing else of their leave is shown.
        leaves = (
            self.env["resource.calendar.leaves"]
            .sudo()
            .search([("resource_id.user_id", "=", sequence.user_id.id), ("date_to", ">", now)])
        )
        return [(leave.date_from, leave.date_to) for leave in leaves]


class SalesSequenceForecastLine(models.TransientModel):
    _name = "sales.sequence.forecast.line"
    _description = "Sales Sequence Forecast Line"
    _order = "planned_at, id"
    _rec_name = "step_id"

    forecast_id = fields.Many2one("sales.sequence.forecast", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True)
    step_id = fields.Many2one("sales.sequence.step", readonly=True)
    step_type = fields.Selection(related="step_id.step_type")
    planned_at = fields.Datetime(string="Planned On", readonly=True)
    planned_end = fields.Datetime(compute="_compute_planned_end")
    moved_by = fields.Char(readonly=True, help="Why the step goes later than its delay says.")
    branch_answer = fields.Char(
        string="Branch Path",
        readonly=True,
        help="A branch: the path it takes on what is known now; behaviour not seen yet counts as 'no'.",
    )
    problem = fields.Char(readonly=True)

    @api.depends("planned_at")
    def _compute_planned_end(self):
        for line in self:
            line.planned_end = line.planned_at and fields.Datetime.add(line.planned_at, minutes=15)
