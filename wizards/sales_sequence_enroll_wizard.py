from odoo import _, api, fields, models
from odoo.exceptions import UserError


class SalesSequenceEnrollWizard(models.TransientModel):
    """Enroll contacts in a sequence, from the contact form, a selection of contacts, or the sequence itself.
    Each contact that cannot be enrolled is listed with its reason."""

    _name = "sales.sequence.enroll.wizard"
    _description = "Enroll Contacts in a Sequence"

    sequence_id = fields.Many2one("sales.sequence", domain="[('state', 'in', ('draft', 'active', 'paused'))]")
    partner_ids = fields.Many2many("res.partner", string="Contacts")
    state = fields.Selection([("choose", "Choose"), ("done", "Done")], default="choose")
    result_line_ids = fields.One2many("sales.sequence.enroll.wizard.line", "wizard_id", readonly=True)
    enrolled_count = fields.Integer(readonly=True)
    refused_count = fields.Integer(readonly=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        if (
            "partner_ids" in fields_list
            and not values.get("partner_ids")
            and context.get("active_model") == "res.partner"
        ):
            partner_ids = context.get("active_ids") or ([context["active_id"]] if context.get("active_id") else [])
            values["partner_ids"] = [fields.Command.set(partner_ids)]
        return values

    def action_enroll(self):
        self.ensure_one()
        if not self.sequence_id:
            raise UserError(_("Sequence: choose the sequence to enroll the contacts in."))
        if not self.partner_ids:
            raise UserError(_("Contacts: choose at least one contact to enroll."))
        enrollments, refusals = self.sequence_id._enroll_partners(self.partner_ids)
        self.write(
            {
                "state": "done",
                "enrolled_count": len(enrollments),
                "refused_count": len(refusals),
                "result_line_ids": [
                    fields.Command.create({"partner_id": partner.id, "reason": reason})
                    for partner, reason in refusals.items()
                ],
            }
        )
        if refusals:
            return {
                "type": "ir.actions.act_window",
                "res_model": self._name,
                "res_id": self.id,
                "view_mode": "form",
                "target": "new",
                "name": _("Enrollment result"),
            }
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _(
                    "%(count)s contact(s) enrolled in %(sequence)s.",
                    count=len(enrollments),
                    sequence=self.sequence_id.name,
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
