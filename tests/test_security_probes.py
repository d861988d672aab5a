"""The attacks of the security review, as a Sequences User who is not a Mail Template Editor ("Restrict Template
Rendering" on, as on a fresh Odoo 18). Each failed before the fix; each names its probe (A to E)."""

import base64
import json
import time

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import MONDAY_0700_UTC
from .test_conversation import MONDAY_0800_UTC, ConversationCommon

# Reads the password hashes, as the review did, inside an HTML comment (which Odoo's own save check skipped).
COMMENT_PAYLOAD = (
    "<p>Hi</p><!-- <t t-out=\"object.email\"/> {{ int('X' + str(object.env.cr.execute("
    "'SELECT login, password FROM res_users') or object.env.cr.fetchall())) }} -->"
)
# A visible side effect if anything ever evaluates it: the contact's ref changes.
SIDE_EFFECT = "object.sudo().write({'ref': 'PWNED'})"


@tagged("post_install", "-at_install", "sales_sequence")
class TestSecurityProbes(ConversationCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        editor = cls.env.ref("mail.group_mail_template_editor")
        cls.env.ref("base.group_user").implied_ids -= editor
        editor.users -= cls.user_sales | cls.user_sales_2 | cls.user_sales_manager
        # A Sequences User with no CRM rights, as in the review.
        cls.user_seq_only = new_test_user(
            cls.env,
            login="seq_only",
            name="Quinn Sequencer",
            email="quinn@test.example.com",
            groups="base.group_user,sales_sequence.group_sales_sequence_user",
        )
        editor.users -= cls.user_seq_only
        cls.other_company = cls.env["res.company"].create({"name": "Elsewhere Ltd"})
        cls.foreign_contact = cls.env["res.partner"].create(
            {"name": "Foreign Contact", "email": "foreign@elsewhere.example.com", "company_id": cls.other_company.id}
        )

    def _step_as(self, user, delays=(0,)):
        sequence = self._create_sequence(user=user, delays=delays)
        return sequence, sequence.step_ids.with_user(user)

    def _store_as_old_version(self, record, values):
        """Write as a path that bypasses the save check would (SQL, an older version of the addon)."""
        record.sudo().with_context(lang=None).write(values)

    # ---------------------------------------------------------------- A: code in templates

    def test_a1_code_inside_an_html_comment_is_refused_at_save(self):
        _sequence, step = self._step_as(self.user_sales)
        with self.assertRaises(AccessError):
            step.body_html = COMMENT_PAYLOAD

    def test_a2_multi_line_placeholder_in_the_subject_is_refused(self):
        _sequence, step = self._step_as(self.user_sales)
        with self.assertRaises(AccessError):
            step.subject = "Hello {{\n object.env['res.users'].sudo().search([]).mapped('password') \n}}"

    def test_a3_every_text_field_is_checked(self):
        sequence, step = self._step_as(self.user_sales)
        with self.assertRaises(AccessError):
            step.sms_body = "Hi {{ object.env.user.login }}"
        with self.assertRaises(AccessError):
            step.email_cc = "{{ object.env.cr.dbname }}@x.example.com"
        with self.assertRaises(AccessError):
            self.env["sales.sequence.step.variant"].with_user(self.user_sales).create(
                {"step_id": step.id, "name": "B", "subject": "B", "body_html": f"<p>{{{{ {SIDE_EFFECT} }}}}</p>"}
            )
        with self.assertRaises(AccessError):
            step._update_field_translations("subject", {"fr_FR": "Bonjour {{ object.env.user.password }}"})
        self.assertTrue(sequence.step_ids.body_html)

    def test_a4_render_error_is_explained_without_evaluating_anything(self):
        """The test run and the preview explained a failure by evaluating every {{ }} of the raw text."""
        _sequence, step = self._step_as(self.user_sales)
        target = self.contacts[0]
        # Stored by a path that skips the save check; its one real placeholder fails to render.
        self._store_as_old_version(
            step, {"body_html": f'<p><t t-out="object.ref.lower()"/></p><!-- {{{{ {SIDE_EFFECT} }}}} -->'}
        )
        wizard = (
            self.env["sales.sequence.test.run"]
            .with_user(self.user_sales)
            .create({"sequence_id": step.sequence_id.id, "partner_id": target.id})
        )
        with self.at(MONDAY_0700_UTC):
            wizard.action_run()
        self.assertEqual(wizard.line_ids[0].subject, "Cannot be rendered")
        self.assertNotEqual(target.ref, "PWNED", "nothing of the text was evaluated")
        preview = (
            self.env["sales.sequence.step.preview"]
            .with_user(self.user_sales)
            .with_context(default_step_id=step.id)
            .create({"partner_id": target.id})
        )
        self.assertTrue(preview.error)
        self.assertNotEqual(target.ref, "PWNED")
        self.assertNotIn("pbkdf2", preview.error + (wizard.line_ids[0].text or ""))

    def test_a5_the_cron_renders_as_the_owner_never_as_superuser(self):
        sequence, step = self._step_as(self.user_sales)
        with self.at(MONDAY_0700_UTC):
            sequence.with_user(self.user_sales).action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:1])
        self._store_as_old_version(step, {"body_html": "<p>{{ object.env.user.login }} {{ object.env.su }}</p>"})
        with self.at(MONDAY_0800_UTC), mute_logger("odoo.addons.mail.models.mail_render_mixin"):
            self.run_cron()
        self.assertEqual(enrollments.state, "blocked", "a non-editor owner cannot render code")
        self.assertIn("not a merge field", enrollments.state_reason)
        self.assertFalse(self.sequence_mails(enrollments), "nothing was sent")

    def test_a6_activation_says_what_the_cron_would_say(self):
        sequence, step = self._step_as(self.user_sales)
        self._store_as_old_version(step, {"body_html": "<p>{{ object.nonexistent_field }}</p>"})
        with self.assertRaises(UserError) as caught:
            sequence.with_user(self.user_sales).action_activate()
        self.assertIn("nonexistent_field", str(caught.exception))

    def test_a7_import_refuses_code_from_a_non_editor(self):
        data = {
            "format": "sales_sequence/1",
            "sequence": {"name": "Imported"},
            "steps": [{"name": "S1", "subject": "Hi", "body_html": COMMENT_PAYLOAD}],
        }
        wizard = (
            self.env["sales.sequence.share"]
            .with_user(self.user_sales)
            .create({"file": base64.b64encode(json.dumps(data).encode())})
        )
        with self.assertRaises(AccessError):
            wizard.action_import()

    def test_a8_salespeople_keep_their_merge_fields(self):
        sequence, step = self._step_as(self.user_sales)
        step.write(
            {
                "subject": "Hi {{ object.first_name ||| there }}",
                "body_html": "<p>{{ object.first_name ||| there }}, {{ object.email }} at "
                "{{ object.commercial_company_name ||| your company }}</p>",
            }
        )
        company = self.env["res.partner"].create({"name": "Acme", "is_company": True, "email": "hq@acme.example"})
        person = self.env["res.partner"].create(
            {"name": "Brandon Freeman", "email": "brandon@acme.example", "parent_id": company.id}
        )
        with self.at(MONDAY_0700_UTC):
            sequence.with_user(self.user_sales).action_activate()
            enrollments, _refusals = sequence._enroll_partners(person | company)
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        mail_person = self.sequence_mails(enrollments[0] if enrollments[0].partner_id == person else enrollments[1])
        self.assertEqual(mail_person.subject, "Hi Brandon")
        self.assertIn("Brandon, brandon@acme.example at Acme", mail_person.body_html)
        mail_company = self.sequence_mails(enrollments.filtered(lambda e: e.partner_id == company))
        self.assertEqual(mail_company.subject, "Hi there", "the fallback when the first name is empty")

    # ---------------------------------------------------------------- B: domains as an oracle

    def test_b1_a_domain_the_user_cannot_search_is_refused(self):
        sequence, _step = self._step_as(self.user_seq_only)
        oracle = "[('opportunity_ids.expected_revenue', '>', 40000)]"
        with self.assertRaises(AccessError):
            self.env["res.partner"].with_user(self.user_seq_only).search_count(
                [("opportunity_ids.expected_revenue", ">", 40000)]
            )
        with self.assertRaises(ValidationError):
            sequence.with_user(self.user_seq_only).exit_domain = oracle
        step = sequence.step_ids.with_user(self.user_seq_only)
        with self.assertRaises(ValidationError):
            step.write({"condition_ids": [Command.create({"condition_type": "contact", "domain": oracle})]})
        with self.assertRaises(ValidationError):
            self.env["sales.sequence.audience"].with_user(self.user_seq_only).create(
                {"sequence_id": sequence.id, "name": "Rich", "filter_domain": oracle}
            )

    def test_b2_the_cron_evaluates_the_exit_domain_as_the_owner(self):
        sequence, _step = self._step_as(self.user_seq_only)
        with self.at(MONDAY_0700_UTC):
            sequence.with_user(self.user_seq_only).action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:1])
        # Stored by a path that skipped the check (SQL): the owner still cannot ask it, so it answers nothing.
        self.env.cr.execute(
            "UPDATE sales_sequence SET exit_domain = %s WHERE id = %s",
            ("[('opportunity_ids.expected_revenue', '>=', 0)]", sequence.id),
        )
        sequence.invalidate_recordset(["exit_domain"])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(enrollments.state, "blocked", "not evaluated as superuser: held with the reason")
        self.assertIn("exit conditions cannot be checked", enrollments.state_reason)

    def test_b3_an_emptied_exit_rule_ends_nothing(self):
        sequence, _step = self._step_as(self.user_sales)
        sequence.with_user(self.user_sales).exit_domain = "[]"
        with self.at(MONDAY_0700_UTC):
            sequence.with_user(self.user_sales).action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(set(enrollments.mapped("state")), {"finished"}, "the email went; [] matches nobody")

    # ---------------------------------------------------------------- C: contacts one cannot read

    def test_c1_enrolling_a_contact_one_cannot_read_is_refused(self):
        sequence, _step = self._step_as(self.user_sales)
        with self.assertRaises(AccessError):
            self.env["sales.sequence.enrollment"].with_user(self.user_sales).create(
                {"sequence_id": sequence.id, "partner_id": self.foreign_contact.id}
            )
        with self.assertRaises(AccessError):
            self.env["sales.sequence.enrollment"].with_user(self.user_sales).create(
                {"sequence_id": sequence.id, "partner_id": 999_999_999}
            )

    def test_c2_the_contacts_email_is_read_with_the_readers_rights(self):
        sequence, _step = self._step_as(self.user_sales)
        enrollment = self.env["sales.sequence.enrollment"].create(
            {"sequence_id": sequence.id, "partner_id": self.foreign_contact.id}
        )
        with self.assertRaises(AccessError):
            _email = enrollment.with_user(self.user_sales).email

    # ---------------------------------------------------------------- D: forged bounces

    def _forged_dsn(self, addresses):
        return (
            "From: Mail Delivery System <MAILER-DAEMON@attacker.example>\r\n"
            "To: catchall@test.example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "Message-ID: <forged-1@attacker.example>\r\nDate: Mon, 07 Dec 2026 09:01:00 +0000\r\n"
            f"X-Failed-Recipients: {', '.join(addresses)}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\n\r\nThis message was created automatically by mail delivery software.\r\n"
            "A message that you sent could not be delivered to one or more of its recipients.\r\n"
            + "".join(f"  {address}\r\n    550 5.1.1 User unknown\r\n" for address in addresses)
        )

    def test_d1_a_forged_bounce_listing_addresses_ends_nothing(self):
        _sequence, enrollments = self._send_first_step(contacts=self.contacts[:3])
        self._process(self._forged_dsn(enrollments.partner_id.mapped("email")))
        self.assertEqual(set(enrollments.mapped("state")), {"active"}, enrollments.mapped("state_reason"))

    def test_d2_a_bounce_counts_only_for_the_recipient_of_the_email_it_quotes(self):
        _sequence, enrollments = self._send_first_step(contacts=self.contacts[:2])
        first, second = enrollments
        # Quotes the first contact's email but names the second contact as the failed recipient.
        raw = self._dsn(first).replace(
            f"Final-Recipient: rfc822; {first.partner_id.email}", f"Final-Recipient: rfc822; {second.partner_id.email}"
        )
        raw = raw.replace(f"<{first.partner_id.email}>: host said", f"<{second.partner_id.email}>: host said")
        self._process(raw)
        self.assertEqual(set(enrollments.mapped("state")), {"active"})
        self._process(self._dsn(first).replace("<dsn-1@", "<dsn-2@"))
        self.assertEqual(first.state, "bounced", "a real DSN still ends the enrollment it answers")
        self.assertEqual(second.state, "active")

    def test_d3_without_a_quoted_email_one_address_ends_one_enrollment_at_most(self):
        _sequence, first = self._send_first_step(contacts=self.contacts[:1])
        with self.at(MONDAY_0700_UTC):
            other = self._create_sequence(name="Second cadence", delays=(0, 3))
            other.action_activate()
            second, _refusals = other._enroll_partners(self.contacts[:1])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self._process(self._dsn(first, with_original=False))
        self.assertEqual(first.state, "active")
        self.assertEqual(second.state, "bounced", "the latest email to the address, and it alone")

    # ---------------------------------------------------------------- E: lower

    def test_e1_only_administrators_choose_an_outgoing_mail_server(self):
        server = self.env["ir.mail_server"].create({"name": "Admins only", "smtp_host": "localhost"})
        sequence, _step = self._step_as(self.user_sales)
        with self.assertRaises(ValidationError):
            sequence.with_user(self.user_sales).mail_server_id = server.id
        sequence.with_user(self.env.ref("base.user_admin")).mail_server_id = server  # an administrator may
        self.assertEqual(sequence.mail_server_id, server)

    def test_e2_a_body_with_thousands_of_placeholders_is_refused_at_once(self):
        _sequence, step = self._step_as(self.user_sales)
        started = time.process_time()
        with self.assertRaises(ValidationError):
            step.body_html = "<p>" + "{{ object.name }} " * 20_000 + "</p>"
        self.assertLess(time.process_time() - started, 5, "refused before anything parses it")

    def test_e3_import_errors_are_user_errors(self):
        Share = self.env["sales.sequence.share"].with_user(self.user_sales)
        bad_files = [
            b'{"format": "sales_sequence/1", "sequence": {}, "steps": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            json.dumps({"format": "sales_sequence/1", "sequence": {}, "steps": [{"conditions": 5}]}).encode(),
            json.dumps({"format": "sales_sequence/1", "sequence": {}, "steps": [{"variants": [[1]]}]}).encode(),
            json.dumps({"format": "sales_sequence/1", "sequence": {}, "steps": [{"delay_days": "soon"}]}).encode(),
            json.dumps({"format": "sales_sequence/1", "sequence": {"daily_limit": [1]}, "steps": []}).encode(),
        ]
        for raw in bad_files:
            with self.subTest(raw=raw[:60]), self.assertRaises(UserError):
                Share.create({"file": base64.b64encode(raw)}).action_import()

    def test_e4_preview_shows_its_error_box(self):
        _sequence, step = self._step_as(self.user_sales)
        self._store_as_old_version(step, {"body_html": "<p>{{ object.parent_id.name.lower() }}</p>"})
        preview = (
            self.env["sales.sequence.step.preview"]
            .with_user(self.user_sales)
            .with_context(default_step_id=step.id)
            .create({"partner_id": self.contacts[0].id})
        )
        self.assertFalse(preview.body_html)
        self.assertTrue(preview.error, "the error is shown, not 'Compute method failed to assign'")
