from odoo.tests import Form, tagged

from .common import MONDAY_0700_UTC
from .test_step_types import MONDAY_0800_UTC, StepTypesCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestPersonalization(StepTypesCommon):
    """Merge fields a salesperson may write without being a Mail Template Editor: the owner's, fallbacks, and no
    email sent with a hole."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo 18's default: "Restrict Template Rendering" on, salespeople are no Mail Template Editors.
        editor_group = cls.env.ref("mail.group_mail_template_editor")
        cls.env.ref("base.group_user").implied_ids -= editor_group
        editor_group.users -= cls.user_sales
        cls.user_sales.signature = "<p>Sally, Account Executive</p>"
        cls.brandon = cls.env["res.partner"].create({"name": "Brandon Freeman", "email": "brandon@prospect.example"})
        cls.acme = cls.env["res.partner"].create({"name": "Acme", "is_company": True})
        cls.ann = cls.env["res.partner"].create(
            {"name": "Ann Smith", "email": "ann@acme.example", "parent_id": cls.acme.id}
        )

    def _email_sequence(self, body, subject="Hi {{ object.first_name ||| there }}"):
        sequence = self._mixed_sequence([{"subject": subject, "body_html": body, "use_signature": False}])
        sequence.step_ids.with_user(self.user_sales).body_html = body  # written by the salesperson
        return sequence

    def test_owner_merge_fields_render_for_a_salesperson(self):
        sequence = self._email_sequence(
            "<p>Hi {{ object.first_name ||| there }}, {{ object.sequence_owner_name }} here.</p>"
            "{{ object.sequence_owner_signature }}"
        )
        enrollments = self._start(sequence, self.ann)
        self._run_at(MONDAY_0800_UTC)
        mail = self.sequence_mails(enrollments)
        self.assertEqual(mail.subject, "Hi Ann")
        self.assertIn("Hi Ann, Sally Sales here.", mail.body_html)
        self.assertIn("Sally, Account Executive", mail.body_html)

    def test_empty_field_without_fallback_holds_the_enrollment_with_the_reason(self):
        sequence = self._email_sequence("<p>I saw that {{ object.commercial_company_name }} is growing.</p>")
        enrollments = self._start(sequence, self.ann | self.brandon)
        self._run_at(MONDAY_0800_UTC)
        ann, brandon = enrollments
        self.assertIn("I saw that Acme is growing.", self.sequence_mails(ann).body_html)
        self.assertFalse(self.sequence_mails(brandon), "no email with a hole")
        self.assertEqual(brandon.state, "blocked")
        self.assertIn(
            "Company is empty for Brandon Freeman: add a fallback "
            "{{ object.commercial_company_name ||| your company }} or fill it.",
            brandon.state_reason,
        )

    def test_a_fallback_fills_the_empty_field(self):
        company_contact = self.env["res.partner"].create({"name": "Globex", "is_company": True, "email": "hi@gx.test"})
        sequence = self._email_sequence("<p>Hello {{ object.first_name ||| there }},</p>")
        enrollments = self._start(sequence, company_contact)
        self._run_at(MONDAY_0800_UTC)
        mail = self.sequence_mails(enrollments)
        self.assertEqual(mail.subject, "Hi there")
        self.assertIn("Hello there,", mail.body_html)

    def test_preview_and_test_run_say_what_the_cron_would_hold(self):
        sequence = self._email_sequence("<p>Hi {{ object.first_name }}</p>")
        company_contact = self.env["res.partner"].create({"name": "Initech", "is_company": True, "email": "i@it.test"})
        step = sequence.step_ids
        preview = (
            self.env["sales.sequence.step.preview"]
            .with_user(self.user_sales)
            .with_context(default_step_id=step.id)
            .create({"partner_id": company_contact.id})
        )
        reason = "First name is empty for Initech: add a fallback {{ object.first_name ||| there }} or fill it."
        self.assertIn(reason, preview.error)
        test_run = (
            self.env["sales.sequence.test.run"]
            .with_user(self.user_sales)
            .create({"sequence_id": sequence.id, "partner_id": company_contact.id})
        )
        test_run.action_run()
        self.assertIn(reason, test_run.line_ids.text)

    def test_task_and_call_summaries_render_merge_fields(self):
        sequence = self._mixed_sequence(
            [
                {
                    "step_type": "task",
                    "activity_summary": "Research {{ object.commercial_company_name ||| the account }}",
                    "activity_note": "<p>Ask {{ object.first_name ||| them }} about {{ object.city ||| the site }}</p>",
                    "wait_for_done": False,
                },
            ]
        )
        enrollments = self._start(sequence, self.ann)
        self._run_at(MONDAY_0800_UTC)
        activity = self.env["mail.activity"].search([("res_model", "=", "res.partner"), ("res_id", "=", self.ann.id)])
        self.assertEqual(activity.summary, "Research Acme")
        self.assertIn("Ask Ann about the site", activity.note)
        self.assertEqual(enrollments.touch_ids.subject, "Research Acme")

    def test_send_a_test_carries_the_footer_and_signature_the_prospect_gets(self):
        sequence = self._mixed_sequence([{"body_html": "<p>Hi {{ object.first_name ||| there }}</p>"}])
        with self.at(MONDAY_0700_UTC):
            preview = (
                self.env["sales.sequence.step.preview"]
                .with_user(self.user_sales)
                .with_context(default_step_id=sequence.step_ids.id)
                .create({"partner_id": self.ann.id})
            )
            preview.action_send_test()
        test_mail = self.env["mail.mail"].sudo().search([("subject", "like", "[TEST]%")])
        self.assertIn("Hi Ann", test_mail.body_html)
        self.assertIn("Sally, Account Executive", test_mail.body_html, "the signature, as the queue adds it")
        self.assertIn("Unsubscribe from these emails", test_mail.body_html, "the unsubscribe text of a real send")
        self.assertIn("/sales_sequence/unsubscribe/0/test", test_mail.body_html, "a link that unsubscribes no one")
        sequence.unsubscribe_style = "footer"
        with self.at(MONDAY_0700_UTC):
            preview.action_send_test()
        footer_mail = self.env["mail.mail"].sudo().search([("subject", "like", "[TEST]%")]) - test_mail
        self.assertIn("Not interested in these emails?", footer_mail.body_html, "the sequence's own footer style")

    def test_the_picker_inserts_a_merge_field_with_its_fallback(self):
        sequence = self._mixed_sequence([{"subject": "Quick question", "body_html": "<p>Hello</p>"}])
        step = sequence.step_ids.with_user(self.user_sales)
        labels = dict(step._fields["merge_field_pick"]._description_selection(self.env))
        self.assertEqual(labels["object.sequence_owner_signature"], "Your signature")
        with Form(step, view="sales_sequence.view_sales_sequence_step_form") as form:
            self.assertEqual(form.merge_field_target, "body_html")
            form.merge_field_pick = "object.first_name"
            self.assertFalse(form.merge_field_pick, "ready for the next pick")
            form.merge_field_target = "subject"
            form.merge_field_pick = "object.commercial_company_name"
        self.assertEqual(step.subject, "Quick question {{ object.commercial_company_name ||| your company}}")
        self.assertIn('Hello <t t-out="object.first_name">there</t>', step.body_html)
