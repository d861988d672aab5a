from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class SalesSequenceAudience(models.Model):
    """Who belongs in a sequence: contacts matching conditions, the persons of accounts matching conditions, or a
    saved view of contacts. The sequence unites its lines, deduplicates by email and enrolls the new matches."""

    _name = "sales.sequence.audience"
    _description = "Sales Sequence Audience"
    _order = "sequence, id"
    _inherit = ["sales.sequence.guard.mixin", "sales.sequence.domain.mixin"]
    _immutable_fields = ("sequence_id",)

    sequence_id = fields.Many2one(
        "sales.sequence", string="Sales Sequence", required=True, index=True, ondelete="cascade"
    )
    sequence = fields.Integer(string="Order", default=10)
    name = fields.Char(required=True)
    source = fields.Selection(
        [
            ("contacts", "Contacts matching conditions"),
            ("accounts", "Contacts of accounts matching conditions"),
            ("filter", "Saved view"),
        ],
        default="contacts",
        required=True,
    )
    filter_domain = fields.Char(
        string="Conditions",
        default="[]",
        help="Contacts: conditions on the persons. Accounts: conditions on the companies, whose persons are taken.",
    )
    person_domain = fields.Char(
        string="Persons of the Accounts",
        default="[]",
        help="Accounts only: conditions on the persons of the matching companies (e.g. a job position).",
    )
    filter_id = fields.Many2one(
        "ir.filters", string="Saved View", domain="[('model_id', '=', 'res.partner')]", ondelete="restrict"
    )
    active = fields.Boolean(default=True)

    @api.constrains("source", "filter_id", "filter_domain", "person_domain", "sequence_id")
    def _check_source(self):
        for line in self:
            if line.source == "filter":
                line._check_filter_usable()
            if line.source == "filter":
                continue
            checkers = line._domain_checkers(line.sequence_id.user_id)
            for field in ("filter_domain", "person_domain"):
                label = line._fields[field].get_description(self.env)["string"]
                line._check_domain_usable(
                    line[field], checkers, _("Audience '%(name)s', %(field)s", name=line.name, field=label)
                )

    def _check_filter_usable(self):
        owner = self.sequence_id.user_id
        view = self.filter_id.sudo()  # sudo: whose view it is decides; its content is not shown
        if not view:
            raise ValidationError(
                _("Audience '%(name)s': Saved View: choose a saved view of contacts.", name=self.name)
            )
        if view.model_id != "res.partner":
            raise ValidationError(
                _("Audience '%(name)s': the saved view '%(view)s' is not on contacts.", name=self.name, view=view.name)
            )
        if view.user_id and view.user_id != owner:
            raise ValidationError(
                _(
                    "Audience '%(name)s': the saved view '%(view)s' belongs to %(user)s; the sequence's owner "
                    "%(owner)s may only use shared views and their own.",
                    name=self.name,
                    view=view.name,
                    user=view.user_id.name,
                    owner=owner.name,
                )
            )

    def _eval(self, domain):
        return self._parse_domain(domain, self.sequence_id.user_id)

    def _partner_ids(self):
        """Ids of the persons this line targets, searched as the sequence's owner so that record rules apply."""
        self.ensure_one()
        Partner = self.env["res.partner"].with_user(self.sequence_id.user_id).with_company(self.sequence_id.company_id)
        persons = [("is_company", "=", False)]
        if self.source == "contacts":
            return set(Partner.search([*persons, *self._eval(self.filter_domain)]).ids)
        if self.source == "accounts":
            accounts = Partner.search([("is_company", "=", True), *self._eval(self.filter_domain)])
            if not accounts:
                return set()
            return set(
                Partner.search(
                    [*persons, ("commercial_partner_id", "in", accounts.ids), *self._eval(self.person_domain)]
                ).ids
            )
        view = self.filter_id.with_user(self.sequence_id.user_id)  # a view the owner may use (constraint)
        return set(Partner.search([*persons, *view._get_eval_domain()]).ids)
