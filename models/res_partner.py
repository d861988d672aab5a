from odoo import _, api, fields, models
from odoo.exceptions import UserError


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

    sales_sequence_paused_count = fields.Integer(
        compute="_compute_sales_sequence_enrollment_count", groups="sales_sequence.group_sales_sequence_user"
    )

    def _compute_sales_sequence_enrollment_count(self):
        counts = dict(
            self.env["sales.sequence.enrollment"]._read_group(
                [("partner_id", "in", self.ids)], ["partner_id"], ["__count"]
            )
        )
        paused = dict(
            self.env["sales.sequence.enrollment"]._read_group(
                [("partner_id", "in", self.ids), ("state", "=", "paused"), ("paused_by_sequence", "=", False)],
                ["partner_id"],
                ["__count"],
            )
        )
        for partner in self:
            partner.sales_sequence_enrollment_count = counts.get(partner, 0)
            partner.sales_sequence_paused_count = paused.get(partner, 0)

    def action_resume_sales_sequences(self):
        """Resume the contact's enrollments paused by a reply or by hand, in the sequences the user may run."""
        enrollments = self.env["sales.sequence.enrollment"].search(
            [("partner_id", "in", self.ids), ("state", "=", "paused"), ("paused_by_sequence", "=", False)]
        )
        enrollments.action_resume()
        return True

    @api.ondelete(at_uninstall=False)
    def _unlink_except_sequence_history(self):
        # sudo: whatever the user may read, a contact that sequences wrote to keeps that history; only the names
        # of the contacts being deleted leave in the message.
        enrollments = (
            self.env["sales.sequence.enrollment"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id", "in", self.ids)])
        )
        contacted = enrollments._with_history().partner_id
        if contacted:
            raise UserError(
                _(
                    "%(contacts)s received emails from sales sequences, and what was sent is kept. Archive the "
                    "contact instead.",
                    contacts=", ".join(contacted.sudo(False).mapped("display_name")),
                )
            )

    def action_view_sales_sequence_enrollments(self):
        self.ensure_one()
        self.env["sales.sequence.enrollment"].check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enrollment")
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {"default_partner_id": self.id}
        return action
