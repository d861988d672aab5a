from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import format_date

from .company_default import company_default
from .sales_sequence_enrollment import RUNNING_STATES

# States in which a contact is running in a sequence, for the multi-sequence policy.
CLOSED_STATES = ("finished", "completed", "canceled", "excluded", "bounced")
DEFAULT_RULESET_XMLID = "sales_sequence.ruleset_default"


class SalesSequenceRuleset(models.Model):
    """Workspace rules deciding who may enter a sequence: re-enrollment, several sequences at once, exclusions,
    and what happens while a sequence's owner is on leave. One default per company; a sequence may pick another."""

    _name = "sales.sequence.ruleset"
    _description = "Sales Sequence Ruleset"
    _order = "name, id"

    name = fields.Char(required=True)
    company_id = fields.Many2one("res.company", required=True, index=True, default=lambda self: self.env.company)
    reenrollment = fields.Selection(
        [("never", "Never"), ("cooldown", "After a cooldown")],
        string="Re-enrollment",
        default="cooldown",
        required=True,
        help="Whether a contact whose enrollment in a sequence ended may enter the same sequence again.",
    )
    reenrollment_days = fields.Integer(
        string="Cooldown (days)",
        default=0,
        help="Days after the previous enrollment in the same sequence ended; 0 allows it at once.",
    )
    multi_sequence = fields.Selection(
        [
            ("allow", "Allow"),
            ("block_any", "Block while running in any other sequence"),
            ("block_owner", "Block while running in another sequence of the same owner"),
        ],
        string="Several Sequences",
        default="allow",
        required=True,
    )
    reply_cooldown_days = fields.Integer(
        string="After a Reply (days)",
        default=30,
        help="A contact who replied to a sequence in the last days given is not enrolled in another one (the refusal "
        "says which sequence, and when). 0: no such rule.",
    )
    exclusion_ids = fields.One2many("sales.sequence.ruleset.exclusion", "ruleset_id", string="Exclusions")
    send_when_owner_absent = fields.Boolean(
        string="Send While the Owner Is on Leave",
        help="Off: a sequence holds its sends while its owner is on leave (the owner's time off in Odoo) and goes on "
        "when they are back.",
    )
    # Safety rules: the bounce-rate hold of a sequence's first step (models/sales_sequence_safety.py).
    bounce_hold_rate = fields.Float(
        string="Hold First Step Above (%)",
        default=8.0,
        help="A sequence whose emails of the last 24 hours bounced above this rate holds its first step until its "
        "owner releases it; later steps go on. 0: no such rule.",
    )
    bounce_warning_rate = fields.Float(
        string="Warn Above (%)",
        default=4.0,
        help="Above this 24 h bounce rate the owner is warned, once a day. 0: no warning.",
    )
    bounce_min_sends = fields.Integer(
        string="Minimum Emails",
        default=20,
        help="The bounce rate counts only once a sequence sent this many emails in the last 24 hours.",
    )

    _sql_constraints = [
        ("reenrollment_days_positive", "CHECK(reenrollment_days >= 0)", "The cooldown cannot be negative."),
        (
            "reply_cooldown_days_positive",
            "CHECK(reply_cooldown_days >= 0)",
            "The days after a reply cannot be negative.",
        ),
        (
            "bounce_rates_valid",
            "CHECK(bounce_hold_rate >= 0 AND bounce_hold_rate <= 100 AND bounce_warning_rate >= 0 "
            "AND bounce_warning_rate <= 100 AND bounce_min_sends >= 0)",
            "Bounce rates are percentages between 0 and 100, and the minimum of emails cannot be negative.",
        ),
    ]

    @api.constrains("bounce_hold_rate", "bounce_warning_rate")
    def _check_bounce_warning_below_hold(self):
        for rules in self:
            if rules.bounce_hold_rate and rules.bounce_warning_rate > rules.bounce_hold_rate:
                raise ValidationError(
                    _(
                        "Warn Above (%%): %(warning)s%% is above the hold threshold %(hold)s%%. Set the warning "
                        "below Hold First Step Above (%%), or 0 for no warning.",
                        warning=rules.bounce_warning_rate,
                        hold=rules.bounce_hold_rate,
                    )
                )

    @api.model
    def _get_default(self, company):
        """The company's default ruleset, created once per company as data."""
        name = _("Default rules")  # here, not in the lambda: _() finds the language in this frame
        return company_default(
            self.env, self._name, DEFAULT_RULESET_XMLID, company, lambda: {"name": name, "company_id": company.id}
        )

    # ------------------------------------------------------------------
    # Decisions, set-based: one query per rule for all the contacts
    # ------------------------------------------------------------------

    def _refusals(self, sequence, partners):
        """{partner: (rule, reason, exclusion)} for the partners this ruleset keeps out of `sequence`."""
        self.ensure_one()
        refusals = {}
        refusals.update(self._replied_refusals(partners))
        refusals.update(self._reenrollment_refusals(sequence, partners - self._keys(refusals)))
        refusals.update(self._multi_sequence_refusals(sequence, partners - self._keys(refusals)))
        refusals.update(self._exclusion_refusals(partners - self._keys(refusals)))
        return refusals

    def _keys(self, refusals):
        return self.env["res.partner"].union(*refusals) if refusals else self.env["res.partner"]

    def _replied_refusals(self, partners):
        """Someone who just replied is talking with a person: not put into another sequence for a while."""
        if not self.reply_cooldown_days or not partners:
            return {}
        since = fields.Datetime.now() - timedelta(days=self.reply_cooldown_days)
        last_replies = self.env["sales.sequence.event"]._last_replies(partners, since)
        refusals = {}
        for partner, reply in last_replies.items():
            refusals[partner.sudo(False)] = (
                "replied",
                _(
                    "%(contact)s replied to %(sequence)s on %(date)s; the rules keep a contact who replied in the last "
                    "%(days)s days out of new sequences.",
                    contact=partner.display_name,
                    sequence=reply.sequence_id.name,
                    date=format_date(self.env, reply.date),
                    days=self.reply_cooldown_days,
                ),
                None,
            )
        return refusals

    def _reenrollment_refusals(self, sequence, partners):
        if not partners:
            return {}
        Enrollment = self.env["sales.sequence.enrollment"].sudo()  # sudo: history decides, whoever enrolls
        ended = Enrollment.with_context(active_test=False).search(
            [("sequence_id", "=", sequence.id), ("partner_id", "in", partners.ids), ("state", "in", CLOSED_STATES)]
        )
        if not ended:
            return {}
        last_end = {}
        for enrollment in ended:
            done = enrollment.date_done or enrollment.write_date
            last_end[enrollment.partner_id] = max(last_end.get(enrollment.partner_id, done), done)
        now = fields.Datetime.now()
        refusals = {}
        for partner, done in last_end.items():
            partner = partner.sudo(False)
            if self.reenrollment == "never":
                reason = _(
                    "%(contact)s already went through this sequence (ended %(date)s); the rules allow no "
                    "re-enrollment.",
                    contact=partner.display_name,
                    date=fields.Date.to_string(done),
                )
            elif done + timedelta(days=self.reenrollment_days) > now:
                reason = _(
                    "%(contact)s left this sequence on %(date)s; the rules allow re-enrollment after %(days)s days.",
                    contact=partner.display_name,
                    date=fields.Date.to_string(done),
                    days=self.reenrollment_days,
                )
            else:
                continue
            refusals[partner] = ("reenrollment", reason, None)
        return refusals

    def _multi_sequence_refusals(self, sequence, partners):
        if self.multi_sequence == "allow" or not partners:
            return {}
        domain = [
            ("partner_id", "in", partners.ids),
            ("state", "in", RUNNING_STATES),
            ("sequence_id", "!=", sequence.id),
        ]
        if self.multi_sequence == "block_owner":
            domain.append(("user_id", "=", sequence.user_id.id))
        # sudo: another user's sequence blocks too; only its name is said, never its content.
        running = self.env["sales.sequence.enrollment"].sudo().search(domain)
        refusals = {}
        for partner, enrollments in running.grouped("partner_id").items():
            refusals[partner.sudo(False)] = (
                "other_sequence",
                _(
                    "%(contact)s is running in %(sequences)s; the rules allow one sequence at a time.",
                    contact=partner.display_name,
                    sequences=", ".join(enrollments.sequence_id.mapped("name")),
                ),
                None,
            )
        return refusals

    def _exclusion_refusals(self, partners):
        refusals = {}
        for exclusion in self.exclusion_ids:
            for partner in exclusion._matching(partners - self._keys(refusals)):
                refusals[partner] = (
                    "exclusion",
                    _(
                        "%(contact)s is excluded by the rule '%(rule)s'.",
                        contact=partner.display_name,
                        rule=exclusion.name,
                    ),
                    exclusion,
                )
        return refusals

    def _excluded_at_send(self, partners):
        """{partner: exclusion} for the partners an exclusion rule now matches (checked before every send)."""
        self.ensure_one()
        excluded = {}
        for exclusion in self.exclusion_ids:
            for partner in exclusion._matching(partners.filtered(lambda p: p not in excluded)):
                excluded[partner] = exclusion
        return excluded
