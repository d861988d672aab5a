from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval


class SalesSequenceRulesetExclusion(models.Model):
    """Contacts a ruleset keeps out of its sequences: matched at enrollment and again before every send."""

    _name = "sales.sequence.ruleset.exclusion"
    _description = "Sales Sequence Exclusion Rule"
    _order = "sequence, id"

    ruleset_id = fields.Many2one("sales.sequence.ruleset", required=True, index=True, ondelete="cascade")
    sequence = fields.Integer(default=10)
    name = fields.Char(required=True, help="Shown as the reason, e.g. 'Customer with a won opportunity'.")
    domain = fields.Char(
        string="Contacts to Exclude",
        required=True,
        default="[]",
        help="Conditions on the contact, e.g. the email domain of a competitor, a tag, an opportunity won.",
    )

    @api.constrains("domain")
    def _check_domain(self):
        for exclusion in self:
            try:
                self.env["res.partner"].search_count(exclusion._get_domain(), limit=1)
            except Exception as error:  # noqa: BLE001 - any error means the conditions cannot be used
                raise ValidationError(
                    _(
                        "Exclusion '%(name)s': the conditions cannot be evaluated (%(error)s). Edit them with the "
                        "condition editor.",
                        name=exclusion.name,
                        error=error,
                    )
                ) from error

    def _get_domain(self):
        self.ensure_one()
        return safe_eval(self.domain or "[]", {"uid": self.env.uid})

    def _matching(self, partners):
        """The partners among `partners` this rule excludes, in one query."""
        self.ensure_one()
        if not partners:
            return partners
        return partners.with_context(active_test=False).search([("id", "in", partners.ids), *self._get_domain()])
