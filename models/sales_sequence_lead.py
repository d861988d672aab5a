from odoo import _, api, fields, models

from ..lib.opportunities import LeadExitCriteria


class SalesSequence(models.Model):
    """The sequence and the pipeline: exit criteria on the enrollment's opportunity (won, lost, a stage reached,
    conditions on it), and the opportunities its audience lines bring (each enrollment linked to its opportunity)."""

    _inherit = "sales.sequence"

    exit_on_lead_won = fields.Boolean(
        string="Exit When the Opportunity Is Won",
        default=True,
        help="An enrollment made from an opportunity ends (completed) when the opportunity is marked won.",
    )
    exit_on_lead_lost = fields.Boolean(
        string="Exit When the Opportunity Is Lost",
        default=True,
        help="An enrollment made from an opportunity ends (completed) when the opportunity is marked lost.",
    )
    exit_lead_stage_id = fields.Many2one(
        "crm.stage",
        string="Exit When the Opportunity Reaches",
        ondelete="set null",
        help="An enrollment made from an opportunity ends (completed) when the opportunity reaches this stage or "
        "a later one of the pipeline.",
    )
    exit_lead_domain = fields.Char(
        string="Exit When the Opportunity Matches",
        help="Conditions on the opportunity that end the enrollment (completed), checked before every step and "
        "when the opportunity changes stage or is won or lost.",
    )

    @api.constrains("exit_lead_domain", "user_id")
    def _check_exit_lead_domain(self):
        for sequence in self.filtered("exit_lead_domain"):
            if not sequence._is_empty_domain(sequence.exit_lead_domain):
                sequence._check_domain_usable(
                    sequence.exit_lead_domain,
                    sequence._domain_checkers(sequence.user_id),
                    _("%(sequence)s, Exit When the Opportunity Matches", sequence=sequence.name),
                    model="crm.lead",
                )

    def _lead_exit_criteria(self):
        """The sequence's exit criteria on opportunities (lib/opportunities.py), or None when it has none."""
        self.ensure_one()
        criteria = LeadExitCriteria(
            on_won=self.exit_on_lead_won,
            on_lost=self.exit_on_lead_lost,
            stage_id=self.exit_lead_stage_id.id or None,
            stage_sequence=self.exit_lead_stage_id.sequence if self.exit_lead_stage_id else None,
            on_domain=bool(self.exit_lead_domain) and not self._is_empty_domain(self.exit_lead_domain),
        )
        return criteria if criteria != LeadExitCriteria() else None

    def _leads_matching_exit_domain(self, leads):
        """The opportunities among `leads` that match the exit conditions, searched as the owner: an enrollment's
        state must not answer a question the owner could not ask."""
        self.ensure_one()
        return self._search_matching(self.exit_lead_domain, self.user_id, leads)

    # ------------------------------------------------------------------
    # Audiences from the pipeline
    # ------------------------------------------------------------------

    def _sync_audience(self):
        enrollments = super()._sync_audience()
        enrollments._link_audience_leads(self.audience_ids._lead_by_partner())
        return enrollments
