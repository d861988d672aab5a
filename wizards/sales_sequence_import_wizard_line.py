from odoo import fields, models


class SalesSequenceImportWizardLine(models.TransientModel):
    _name = "sales.sequence.import.wizard.line"
    _description = "CSV Line Not Enrolled"
    _order = "line, id"

    wizard_id = fields.Many2one("sales.sequence.import.wizard", required=True, ondelete="cascade")
    line = fields.Integer(readonly=True)
    value = fields.Char(string="Email", readonly=True)
    reason = fields.Char(readonly=True)
