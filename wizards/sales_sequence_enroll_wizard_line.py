from odoo import fields, models


class SalesSequenceEnrollWizardLine(models.TransientModel):
    _name = "sales.sequence.enroll.wizard.line"
    _description = "Contact Not Enrolled"

    wizard_id = fields.Many2one("sales.sequence.enroll.wizard", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True)
    reason = fields.Char(readonly=True)
