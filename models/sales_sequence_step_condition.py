from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval

CONDITION_TYPES = [
    ("opened", "Previous email opened"),
    ("not_opened", "Previous email not opened"),
    ("clicked", "Previous email clicked"),
    ("not_clicked", "Previous email not clicked"),
    ("replied", "Previous email replied"),
    ("not_replied", "Previous email not replied"),
    ("contact", "Contact matches"),
]


class SalesSequenceStepCondition(models.Model):
    """One condition a step needs to run: on what the contact did with the enrollment's previous email (read from
    its events) or on the contact's properties (a domain). A step holds any number; all must hold."""

    _name = "sales.sequence.step.condition"
    _description = "Sales Sequence Step Condition"
    _inherit = ["sales.sequence.guard.mixin"]
    _order = "id"
    _immutable_fields = ("step_id",)

    step_id = fields.Many2one("sales.sequence.step", required=True, index=True, ondelete="cascade")
    sequence_id = fields.Many2one(related="step_id.sequence_id", store=True, index=True)
    company_id = fields.Many2one(related="step_id.company_id", store=True)
    condition_type = fields.Selection(CONDITION_TYPES, string="Condition", required=True, default="not_replied")
    domain = fields.Char(
        string="Contact Conditions", default="[]", help="Used by 'Contact matches': the contact must match it."
    )

    @api.constrains("condition_type", "domain")
    def _check_domain(self):
        for condition in self.filtered(lambda c: c.condition_type == "contact"):
            try:
                domain = safe_eval(condition.domain or "[]", {"uid": self.env.uid})
                self.env["res.partner"].search_count(domain, limit=1)
            except Exception as error:  # noqa: BLE001 - any error makes the domain unusable; say so
                raise ValidationError(
                    _(
                        "Step '%(step)s', Contact Conditions: the filter cannot be used (%(error)s). Edit it with "
                        "the domain editor.",
                        step=condition.step_id.name,
                        error=error,
                    )
                ) from error

    def _get_activation_problems(self, label):
        problems = []
        for condition in self:
            if condition.condition_type != "contact" and condition.step_id._is_first_step():
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

    def _contact_domain(self):
        """The conditions' contact domains joined with AND (one search decides them all)."""
        domain = []
        for condition in self.filtered(lambda c: c.condition_type == "contact"):
            domain += safe_eval(condition.domain or "[]", {"uid": self.env.uid})
        return domain
