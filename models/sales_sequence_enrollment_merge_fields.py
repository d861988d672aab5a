from odoo import _, models


class SalesSequenceEnrollment(models.Model):
    """Merge fields without a fallback: an enrollment whose contact leaves one empty is held with the field and the
    fix, never sent with a hole."""

    _inherit = "sales.sequence.enrollment"

    def _hold_empty_merge_fields(self, step, variant=None):
        """Block the enrollments for whose contact a merge field of `step` written without a fallback is empty,
        with the reason naming the field; return the others."""
        holes = step._empty_merge_fields(self.partner_id, variant) if self else {}
        held = self.filtered(lambda e: e.partner_id.id in holes)
        for enrollment in held:
            enrollment._block(
                _("%(hole)s Then resume the enrollment.", hole=holes[enrollment.partner_id.id]),
            )
        return self - held
