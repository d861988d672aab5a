from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceTour(HttpCase):
    """A salesperson, in a real browser: build a sequence, activate it, enroll a contact."""

    def test_build_activate_enroll(self):
        new_test_user(
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
        self.assertIn("Nice to meet you.", sequence.step_ids.body_html)
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.partner_id, contact)
        self.assertEqual(enrollment.state, "active")
        self.assertTrue(enrollment.next_run_at)
