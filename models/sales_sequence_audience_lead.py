from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

LEAD_SOURCES = ("leads", "lead_filter")


class SalesSequenceAudience(models.Model):
    """Audience lines from the pipeline: the contacts of the opportunities (or leads) matching conditions or a
    saved view of the pipeline, each enrolled with its opportunity linked. Searched as the sequence's owner, so the
    owner's record rules on opportunities apply. Leads without a contact are left out: a sync never creates
    contacts on its own (enroll such a lead from its form, which creates the contact as Odoo's conversion does)."""

    _inherit = "sales.sequence.audience"

    source = fields.Selection(
        selection_add=[
            ("leads", "Opportunities matching conditions"),
            ("lead_filter", "Saved view of the pipeline"),
        ],
        ondelete={"leads": "cascade", "lead_filter": "cascade"},
    )
    lead_domain = fields.Char(
        string="Opportunity Conditions",
        default="[]",
        help="Opportunities (and leads) matching these conditions: their contacts are enrolled, each with its "
        "opportunity linked.",
    )
    lead_filter_id = fields.Many2one(
        "ir.filters",
        string="Pipeline View",
        domain="[('model_id', '=', 'crm.lead')]",
        ondelete="restrict",
        help="A saved view (favorite filter) of the pipeline: the contacts of its opportunities are enrolled.",
    )

    @api.constrains("source", "lead_filter_id", "lead_domain", "sequence_id")
    def _check_lead_source(self):
        for line in self:
            if line.source == "leads":
                line._check_domain_usable(
                    line.lead_domain,
                    line._domain_checkers(line.sequence_id.user_id),
                    _("Audience '%(name)s', Opportunity Conditions", name=line.name),
                    model="crm.lead",
                )
            elif line.source == "lead_filter":
                line._check_lead_filter_usable()

    def _check_lead_filter_usable(self):
        owner = self.sequence_id.user_id
        view = self.lead_filter_id.sudo()  # sudo: whose view it is decides; its content is not shown
        if not view:
            raise ValidationError(
                _("Audience '%(name)s': Pipeline View: choose a saved view of the pipeline.", name=self.name)
            )
        if view.model_id != "crm.lead":
            raise ValidationError(
                _(
                    "Audience '%(name)s': the saved view '%(view)s' is not on the pipeline.",
                    name=self.name,
                    view=view.name,
                )
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

    def _partner_ids(self):
        if self.source not in LEAD_SOURCES:
            return super()._partner_ids()
        return set(self._lead_by_partner())

    def _leads(self):
        """The opportunities this pipeline line targets, searched as the sequence's owner (record rules apply),
        best first (priority, then the latest)."""
        self.ensure_one()
        owner = self.sequence_id.user_id
        Lead = self.env["crm.lead"].with_user(owner).with_company(self.sequence_id.company_id)
        if self.source == "leads":
            domain = self._eval(self.lead_domain)
        else:
            domain = self.lead_filter_id.with_user(owner)._get_eval_domain()  # a view the owner may use
        return Lead.search([("partner_id", "!=", False), *domain], order="priority desc, id desc")

    def _lead_by_partner(self):
        """{contact id: opportunity id} over the pipeline lines of self, the first (best) opportunity per contact."""
        lead_by_partner = {}
        for line in self.filtered(lambda line: line.active and line.source in LEAD_SOURCES):
            for partner_id, lead_id in line._leads().mapped(lambda lead: (lead.partner_id.id, lead.id)):
                lead_by_partner.setdefault(partner_id, lead_id)
        return lead_by_partner
