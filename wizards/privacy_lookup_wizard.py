from odoo import models
from odoo.tools import SQL

# The sequences' history of a person: erased with their contact or enrollment (their texts go, the rows the
# metrics count stay), never deleted one by one from the lookup (the database refuses it: they are history).
HISTORY_MODELS = ("sales.sequence.touch", "sales.sequence.event", "sales.sequence.draft", "sales.sequence.refusal")


class PrivacyLookupWizard(models.TransientModel):
    """Odoo's Privacy Lookup (Settings > Users & Companies > Privacy Lookup, or Actions on a contact) finds the
    person's sequence enrollments too; its Delete on them, or on the contact, erases (privacy_lookup_wizard_line)."""

    _inherit = "privacy.lookup.wizard"

    def _get_query_models_blacklist(self):
        return [*super()._get_query_models_blacklist(), *HISTORY_MODELS]

    def _get_query(self):
        # Enrollments hang on their contact by a cascading link, which the lookup leaves out: list them, so the
        # person's sequences show among what is found. The lookup's own common part (indirect_references: the
        # contacts of that name or address) is in scope of every part of the query.
        enrollment_model = self.env["ir.model"]._get_id("sales.sequence.enrollment")
        return SQL(
            """%s
            UNION ALL
            SELECT %s AS res_model_id, id AS res_id, active AS is_active
              FROM sales_sequence_enrollment
             WHERE partner_id IN (SELECT id FROM indirect_references)
            """,
            super()._get_query(),
            enrollment_model,
        )
