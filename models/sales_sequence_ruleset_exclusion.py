from odoo import _, api, fields, models


class SalesSequenceRulesetExclusion(models.Model):
    """Contacts a ruleset keeps out of its sequences: matched at enrollment and again before every send."""

    _name = "sales.sequence.ruleset.exclusion"
    _description = "Sales Sequence Exclusion Rule"
    _order = "sequence, id"
    _inherit = ["sales.sequence.domain.mixin"]

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
            label = _("Exclusion '%(name)s'", name=exclusion.name)
            exclusion._check_domain_usable(exclusion.domain, exclusion._domain_checkers(self.env["res.users"]), label)

    def _author(self):
        """Whose question the rule is: the user who last wrote it (rulesets are the managers'), not the superuser
        of the cron, so that being excluded tells nobody more than its author could ask."""
        return self.write_uid or self.env.user

    def _matching(self, partners):
        """The partners among `partners` this rule excludes, in one query; none for a rule without conditions."""
        self.ensure_one()
        if not partners or self._is_empty_domain(self.domain):
            return partners.browse()
        return self._search_matching(self.domain, self._author(), partners)
