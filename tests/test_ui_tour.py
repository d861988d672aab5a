from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceTour(HttpCase):
    """A salesperson, in a real browser: build a sequence with a {{ }} placeholder in the body, activate it,
    enroll a contact, preview the step and send a test; then the cron sends the real email."""

    def test_build_activate_enroll(self):
        seller = new_test_user(
            self.env,
            login="tour_sales",
            name="Tour Seller",
            email="tour.seller@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        contact = self.env["res.partner"].create({"name": "Tour Contact", "email": "tour.contact@example.com"})
        self.start_tour("/odoo", "sales_sequence_tour", login="tour_sales")

        sequence = self.env["sales.sequence"].search([("name", "=", "Tour sequence")])
        self.assertEqual(sequence.state, "active")
        self.assertEqual(sequence.user_id.login, "tour_sales")
        self.assertEqual(sequence.step_ids.mapped("name"), ["Introduction"])
        self.assertIn('t-out="object.name"', sequence.step_ids.body_html, "the typed {{ }} became a placeholder")
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.partner_id, contact)
        self.assertEqual(enrollment.state, "active")
        self.assertTrue(enrollment.next_run_at)

        test_mail = self.env["mail.mail"].search([("subject", "=", "[TEST] Hello Tour Contact")])
        self.assertEqual(test_mail.email_to, seller.email_formatted)
        self.assertIn("Hello Tour Contact, nice to meet you.", test_mail.body_html)
        self.assertFalse(enrollment.touch_ids, "the test send is not a step run")

        with freeze_time(enrollment.next_run_at):
            self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        mail = self.env["mail.mail"].search(
            [("model", "=", "sales.sequence.enrollment"), ("res_id", "=", enrollment.id)]
        )
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.state, "outgoing", "queued in Odoo's mail queue")
        self.assertEqual(mail.subject, "Hello Tour Contact")
        self.assertIn("Hello Tour Contact, nice to meet you.", mail.body_html)
        self.assertNotIn("{{", mail.body_html)


@tagged("post_install", "-at_install", "sales_sequence")
class TestStepsTour(HttpCase):
    """In Chromium: a sequence with an email and a task step, asking before sending; a contact enrolled from its
    form; the first email approved in Needs Attention; the enrollment's timeline; then the cron sends it."""

    def test_build_enroll_approve_timeline(self):
        new_test_user(
            self.env,
            login="tour_approver",
            name="Tour Approver",
            email="tour.approver@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
            tz="UTC",
        )
        contact = self.env["res.partner"].create({"name": "Tour Contact", "email": "tour.contact@example.com"})
        self.start_tour("/odoo", "sales_sequence_steps_build_tour", login="tour_approver")
        sequence = self.env["sales.sequence"].search([("name", "=", "Approval tour")])
        self.assertEqual(sequence.state, "active")
        self.assertTrue(sequence.require_approval)
        self.assertEqual(sequence.step_ids.mapped("step_type"), ["email", "task"])

        # Send at any hour: the tour's clock is the machine's.
        sequence.calendar_id = self.env["resource.calendar"].create(
            {
                "name": "Always",
                "tz": "UTC",
                "attendance_ids": [Command.clear()]
                + [
                    Command.create({"name": str(d), "dayofweek": str(d), "hour_from": 0, "hour_to": 24})
                    for d in range(7)
                ],
            }
        )
        self.start_tour(f"/odoo/contacts/{contact.id}", "sales_sequence_steps_enroll_tour", login="tour_approver")
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.partner_id, contact)
        enrollment.next_run_at = fields.Datetime.now()
        self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        draft = self.env["sales.sequence.draft"].search([("enrollment_id", "=", enrollment.id)])
        self.assertEqual(draft.state, "pending")

        self.start_tour(
            "/odoo/action-sales_sequence.action_sales_sequence_draft",
            "sales_sequence_steps_approve_tour",
            login="tour_approver",
        )
        self.assertEqual(draft.state, "approved")
        self.assertEqual(draft.decided_by_id.login, "tour_approver")
        enrollment.next_run_at = fields.Datetime.now()
        self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        self.assertEqual(draft.state, "sent")
        mail = self.env["mail.mail"].search(
            [("model", "=", "sales.sequence.enrollment"), ("res_id", "=", enrollment.id)]
        )
        self.assertEqual(mail.subject, "Hello Tour Contact")
        self.assertEqual(enrollment.step_id.step_type, "task", "the task step is next")
