from odoo import _, models


class PrivacyLookupWizardLine(models.TransientModel):
    """Delete in Odoo's Privacy Lookup: a contact with sequence history, or an enrollment, is erased instead (its
    personal data goes, the sequences' figures stay): deleting them would take the figures with them, and the
    database refuses it."""

    _inherit = "privacy.lookup.wizard.line"

    def action_unlink(self):
        self.ensure_one()
        if self.is_unlinked or self.res_model not in ("res.partner", "sales.sequence.enrollment"):
            return super().action_unlink()
        # sudo: as the lookup itself deletes (it is for administrators); the erasure logs the user who asked.
        record = self.env[self.res_model].sudo().with_context(active_test=False).browse(self.res_id).exists()
        if self.res_model == "sales.sequence.enrollment":
            record._erase_personal_data()
        else:
            enrollments = (
                self.env["sales.sequence.enrollment"]
                .sudo()
                .with_context(active_test=False)
                .search([("partner_id", "in", record.ids)])
            )
            if not enrollments._with_history():
                return super().action_unlink()
            record._sales_sequence_erase(source="privacy_lookup")
        self.execution_details = _(
            "Erased (personal data) %(model)s #%(id)s", model=self.res_model_id.name, id=self.res_id
        )
        self.is_unlinked = True
        return True
