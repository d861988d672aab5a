import base64

from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import SalesSequenceCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestCsvImport(SalesSequenceCommon):
    def _import(self, sequence, content, create_missing=True):
        wizard = (
            self.env["sales.sequence.import.wizard"]
            .with_user(self.user_sales)
            .create(
                {
                    "sequence_id": sequence.id,
                    "file": base64.b64encode(content),
                    "filename": "contacts.csv",
                    "create_missing": create_missing,
                }
            )
        )
        wizard.action_import()
        return wizard

    def test_a_thousand_lines_with_fifty_bad_ones(self):
        sequence = self._create_sequence()
        sequence.action_activate()
        sequence._enroll_partners(self.contacts[:5])  # 5 of the file's people are already enrolled
        lines = ["Email;Name;Company"]
        bad = set()
        for index in range(1000):
            line_number = index + 2  # the header is line 1
            if index < 5:  # already enrolled
                lines.append(f"{self.contacts[index].email};{self.contacts[index].name};Customer Inc")
                bad.add(line_number)
            elif index % 10 == 0 and index <= 250:  # 25 invalid emails
                lines.append(f"not-an-email-{index};Broken {index};")
                bad.add(line_number)
            elif 600 <= index < 620:  # 20 repeats of line 502's email
                lines.append(f"person500@import.example.com;Duplicate {index};")
                bad.add(line_number)
            else:
                lines.append(f"person{index}@import.example.com;Person {index};Company {index % 7}")
        self.assertEqual(len(bad), 50)
        content = "\r\n".join(lines).encode("utf-8-sig")
        wizard = self._import(sequence, content)
        good = 950
        self.assertEqual(wizard.enrolled_count, good)
        self.assertEqual(len(wizard.line_ids), 50)
        self.assertEqual(set(wizard.line_ids.mapped("line")), bad)
        self.assertTrue(all(wizard.line_ids.mapped("reason")))
        self.assertIn(f"{good} contact(s) enrolled", wizard.result_message)
        self.assertIn("50 line(s) not enrolled", wizard.result_message)
        self.assertEqual(sequence.enrollment_count, good + 5)
        company = self.env["res.partner"].search([("name", "=", "Company 3"), ("is_company", "=", True)])
        self.assertEqual(len(company), 1, "one company per name")
        self.assertTrue(
            self.env["sales.sequence.refusal"].search([("sequence_id", "=", sequence.id), ("source", "=", "import")])
        )

    def test_latin1_semicolon_and_multiline_quotes(self):
        sequence = self._create_sequence()
        content = 'Courriel;Nom;Société\r\n"zoe@import.example.com";"Zoé\r\nMüller";"Café, SA"\r\n'.encode("latin-1")
        wizard = self._import(sequence, content)
        self.assertEqual(wizard.enrolled_count, 1)
        contact = self.env["res.partner"].search([("email", "=", "zoe@import.example.com")])
        self.assertIn("Zoé", contact.name)
        self.assertEqual(contact.parent_id.name, "Café, SA")

    def test_unknown_contacts_without_creation_are_reported(self):
        sequence = self._create_sequence()
        wizard = self._import(sequence, b"email\nghost@import.example.com\n" + self.contacts[0].email.encode(), False)
        self.assertEqual(wizard.enrolled_count, 1)
        self.assertIn("Create Missing Contacts", wizard.line_ids.reason)

    def test_binary_and_empty_files_get_a_clear_error(self):
        sequence = self._create_sequence()
        for content in (b"%PDF-1.7\x00\x01binary", b"PK\x03\x04zip", b""):
            with self.assertRaises(UserError) as caught:
                self._import(sequence, content)
            self.assertIn("CSV File", str(caught.exception))
