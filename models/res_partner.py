from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    sales_sequence_enrollment_ids = fields.One2many(
        "sales.sequence.enrollment",
        "partner_id",
        string="Sequence Enrollments",
        groups="sales_sequence.group_sales_sequence_user",
    )
    sales_sequence_enrollment_count = fields.Integer(
        compute="_compute_sales_sequence_enrollment_count", groups="sales_sequence.group_sales_sequence_user"
    )

    def _compute_sales_sequence_enrollment_count(self):
        counts = dict(
            self.env["sales.sequence.enrollment"]._read_group(
                [("partner_id", "in", self.ids)], ["partner_id"], ["__count"]
            )
        )
        for partner in self:
            partner.sales_sequence_enrollment_count = counts.get(partner, 0)

    def action_view_sales_sequence_enrollments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enrollment")
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {"default_partner_id": self.id}
        return action
