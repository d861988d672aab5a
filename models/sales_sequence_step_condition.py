from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

CONDITION_TYPES = [
    ("opened", "Previous email opened"),
    ("not_opened", "Previous email not opened"),
    ("clicked", "Previous email clicked"),
    ("not_clicked", "Previous email not clicked"),
    ("replied", "Previous email replied"),
    ("not_replied", "Previous email not replied"),
    ("contact", "Contact matches"),
    ("any_opened", "Any earlier email opened"),
    ("any_clicked", "Any earlier email clicked"),
    ("any_replied", "Any earlier email replied"),
    ("call_outcome", "Last call's outcome is"),
    ("opportunity", "Opportunity matches"),
]
# Conditions on a record (searched as the sequence's owner), not on what the contact did: a first step may hold them.
RECORD_CONDITIONS = ("contact", "opportunity")


class SalesSequenceStepCondition(models.Model):
    """One condition a step needs to run: on what the contact did with the enrollment's previous email (read from
    its events) or on the contact's properties (a domain). A step holds any number; all must hold."""

    _name = "sales.sequence.step.condition"
    _description = "Sales Sequence Step Condition"
    _inherit = ["sales.sequence.guard.mixin", "sales.sequence.domain.mixin"]
    _order = "id"
    _immutable_fields = ("step_id",)

    step_id = fields.Many2one("sales.sequence.step", required=True, index=True, ondelete="cascade")
    sequence_id = fields.Many2one(related="step_id.sequence_id", store=True, index=True)
    company_id = fields.Many2one(related="step_id.company_id", store=True)
    condition_type = fields.Selection(CONDITION_TYPES, string="Condition", required=True, default="not_replied")
    domain = fields.Char(
        string="Contact Conditions", default="[]", help="Used by 'Contact matches': the contact must match it."
    )
    lead_domain = fields.Char(
        string="Opportunity Conditions",
        default="[]",
        help="Used by 'Opportunity matches': the enrollment's opportunity must match it. An enrollment without an "
        "opportunity does not match.",
    )
    call_outcome_ids = fields.Many2many(
        "sales.sequence.call.outcome",
        string="Call Outcomes",
        help="Used by 'Last call's outcome is': the outcome logged on the enrollment's last call must be one of these.",
    )

    @api.constrains("condition_type", "call_outcome_ids")
    def _check_call_outcomes(self):
        for condition in self:
            if condition.condition_type == "call_outcome" and not condition.call_outcome_ids:
                raise ValidationError(
                    _(
                        "Step '%(step)s', Call Outcomes: choose at least one outcome for the condition 'Last call's "
                        "outcome is'.",
                        step=condition.step_id.name,
                    )
                )

    def _specs(self, contact_ok=True, lead_ok=False):
        """The conditions as lib/conditions.py reads them: (type, payload) pairs, `contact_ok` and `lead_ok` being
        whether the contact and the opportunity match the record conditions (searched by the caller)."""
        specs = []
        for condition in self:
            if condition.condition_type == "contact":
                specs.append(("contact", contact_ok))
            elif condition.condition_type == "opportunity":
                specs.append(("opportunity", lead_ok))
            elif condition.condition_type == "call_outcome":
                specs.append(("call_outcome", tuple(condition.call_outcome_ids.ids)))
            else:
                specs.append((condition.condition_type, None))
        return specs

    @api.constrains("condition_type", "domain")
    def _check_domain(self):
        for condition in self.filtered(lambda c: c.condition_type == "contact"):
            condition._check_domain_usable(
                condition.domain,
                condition._domain_checkers(condition.sequence_id.user_id),
                _("Step '%(step)s', Contact Conditions", step=condition.step_id.name),
            )

    @api.constrains("condition_type", "lead_domain")
    def _check_lead_domain(self):
        for condition in self.filtered(lambda c: c.condition_type == "opportunity"):
            condition._check_domain_usable(
                condition.lead_domain,
                condition._domain_checkers(condition.sequence_id.user_id),
                _("Step '%(step)s', Opportunity Conditions", step=condition.step_id.name),
                model="crm.lead",
            )

    def _get_activation_problems(self, label):
        problems = []
        for condition in self:
            if condition.condition_type not in RECORD_CONDITIONS and condition.step_id._is_first_step():
                if condition.step_id.sequence_id.sequence_type == "classic":
                    problems.append(
                        _(
                            "%(step)s: the first step has no previous email to judge '%(condition)s'; remove the "
                            "condition or move the step.",
                            step=label,
                            condition=dict(CONDITION_TYPES)[condition.condition_type],
                        )
                    )
        return problems

    def _lead_domain(self, user):
        """The opportunity conditions' domains joined with AND, as `user` reads them."""
        domain = []
        for condition in self.filtered(lambda c: c.condition_type == "opportunity"):
            domain += self._parse_domain(condition.lead_domain, user)
        return domain

    def _has_lead_conditions(self):
        return any(condition.condition_type == "opportunity" for condition in self)

    def _contact_domain(self, user):
        """The conditions' contact domains joined with AND (one search decides them all), as `user` reads them."""
        domain = []
        for condition in self.filtered(lambda c: c.condition_type == "contact"):
            domain += self._parse_domain(condition.domain, user)
        return domain
