from odoo import _, api, fields, models
from odoo.exceptions import UserError


class SalesSequenceEraseWizard(models.TransientModel):
    """Erase Personal Data (contact form, Actions): what will go and what will stay, then the erasure itself
    (res.partner._sales_sequence_erase). Also opened by the deletion of a contact with sequence history."""

    _name = "sales.sequence.erase.wizard"
    _description = "Sales Sequence: Erase Personal Data"

    partner_ids = fields.Many2many(
        "res.partner",
        string="Contacts",
        required=True,
        default=lambda self: self._default_partner_ids(),
        context={"active_test": False},
    )
    enrollment_count = fields.Integer(string="Sequence Enrollments", compute="_compute_enrollment_count")

    @api.model
    def _default_partner_ids(self):
        if self.env.context.get("active_model") == "res.partner":
            return self.env["res.partner"].browse(self.env.context.get("active_ids") or [])
        return self.env["res.partner"]

    @api.depends("partner_ids")
    def _compute_enrollment_count(self):
        for wizard in self:
            # sudo: the manager erases the contact's enrollments in every sequence; only a count is shown here.
            wizard.enrollment_count = (
                self.env["sales.sequence.enrollment"]
                .sudo()
                .with_context(active_test=False)
                .search_count([("partner_id", "in", wizard.partner_ids.ids)])
            )

    def action_erase(self):
        self.ensure_one()
        if not self.partner_ids:
            raise UserError(_("Contacts: choose the contact whose personal data to erase."))
        source = "contact_delete" if self.env.context.get("sales_sequence_erase_on_delete") else "wizard"
        logs = self.partner_ids._sales_sequence_erase(source=source)
        contacts = {
            "type": "ir.actions.act_window",
            "name": _("Contacts"),
            "res_model": "res.partner",
            "view_mode": "list,kanban,form",
            "views": [(False, "list"), (False, "kanban"), (False, "form")],
            "target": "main",
        }
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _(
                    "Personal data erased (%(count)s contact(s)); the erasure is logged in Sequences > Configuration "
                    "> Erasures.",
                    count=len(logs),
                ),
                "next": contacts,
            },
        }
