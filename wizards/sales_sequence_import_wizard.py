import base64
import binascii

from odoo import _, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize

from ..lib.csv_import import CsvImportError, parse_contacts_csv


class SalesSequenceImportWizard(models.TransientModel):
    """Enroll the contacts of a CSV file (email, name, company) in a sequence. Every bad line is reported with
    its number and reason; the good ones are enrolled whatever the others hold."""

    _name = "sales.sequence.import.wizard"
    _description = "Import Contacts into a Sequence"

    sequence_id = fields.Many2one("sales.sequence", required=True)
    file = fields.Binary(string="CSV File", attachment=False)
    filename = fields.Char()
    create_missing = fields.Boolean(
        string="Create Missing Contacts",
        default=True,
        help="Create the contacts (and their companies) the file names but Odoo does not have yet.",
    )
    state = fields.Selection([("choose", "Choose"), ("done", "Done")], default="choose")
    enrolled_count = fields.Integer(readonly=True)
    result_message = fields.Text(readonly=True)
    line_ids = fields.One2many("sales.sequence.import.wizard.line", "wizard_id", readonly=True)

    def action_import(self):
        self.ensure_one()
        self.sequence_id.check_access("write")
        parsed = self._parse()
        problems = [(problem.line, problem.raw[:100], problem.reason) for problem in parsed.problems]
        partners_by_row, missing = self._contacts_for(parsed.rows)
        for row in missing:
            problems.append(
                (
                    row.line,
                    row.email,
                    _("Email: no contact has %(email)s; tick 'Create Missing Contacts'.", email=row.email),
                )
            )
        partners = self.env["res.partner"].union(*partners_by_row.values()) if partners_by_row else None
        enrollments, refusals = (
            self.sequence_id._enroll_partners(partners, source="import")
            if partners
            else (self.env["sales.sequence.enrollment"], {})
        )
        lines_of = {}
        for row, partner in partners_by_row.items():
            lines_of.setdefault(partner, row)
        for partner, reason in refusals.items():
            row = lines_of[partner]
            problems.append((row.line, row.email, reason))
        problems.sort()
        self.write(
            {
                "state": "done",
                "enrolled_count": len(enrollments),
                "result_message": _(
                    "%(enrolled)s contact(s) enrolled in %(sequence)s, %(refused)s line(s) not enrolled.",
                    enrolled=len(enrollments),
                    sequence=self.sequence_id.name,
                    refused=len(problems),
                ),
                "line_ids": [
                    fields.Command.create({"line": line, "value": value, "reason": reason})
                    for line, value, reason in problems
                ],
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": _("Import result"),
        }

    def _parse(self):
        if not self.file:
            raise UserError(_("CSV File: choose the file to import."))
        try:
            data = base64.b64decode(self.file, validate=False)
        except (binascii.Error, ValueError) as error:
            raise UserError(_("CSV File: the upload is damaged (%(error)s). Upload it again.", error=error)) from error
        try:
            return parse_contacts_csv(data)
        except CsvImportError as error:
            raise UserError(_("CSV File: %(error)s", error=error)) from error

    def _contacts_for(self, rows):
        """({row: partner}, [rows without a contact]) matching by normalized email, creating the missing contacts
        and companies in batch when asked. One search for all the emails, one for the companies."""
        emails = [row.email for row in rows]
        existing = {}
        for partner in self.env["res.partner"].search([("email_normalized", "in", emails)], order="id"):
            existing.setdefault(partner.email_normalized, partner)
        missing = [row for row in rows if email_normalize(row.email) not in existing]
        if missing and self.create_missing:
            companies = self._companies_for({row.company for row in missing if row.company})
            created = self.env["res.partner"].create(
                [
                    {
                        "name": row.name or row.email,
                        "email": row.email,
                        "parent_id": companies[row.company].id if row.company else False,
                    }
                    for row in missing
                ]
            )
            existing.update(zip([email_normalize(row.email) for row in missing], created, strict=True))
            missing = []
        by_row = {row: existing[email_normalize(row.email)] for row in rows if email_normalize(row.email) in existing}
        return by_row, missing

    def _companies_for(self, names):
        if not names:
            return {}
        found = {}
        for company in self.env["res.partner"].search([("is_company", "=", True), ("name", "in", list(names))]):
            found.setdefault(company.name, company)
        to_create = sorted(names - set(found))
        for company in self.env["res.partner"].create([{"name": name, "is_company": True} for name in to_create]):
            found[company.name] = company
        return found
