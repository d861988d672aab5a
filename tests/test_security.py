from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import SalesSequenceCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceSecurity(SalesSequenceCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sequence = cls._create_sequence(user=cls.user_sales)
        cls.sequence.action_activate()
        cls.enrollments, _refusals = cls.sequence._enroll_partners(cls.contacts[:2])

    def test_groups_are_implied_from_sales_groups(self):
        self.assertTrue(self.user_sales.has_group("sales_sequence.group_sales_sequence_user"))
        self.assertFalse(self.user_sales.has_group("sales_sequence.group_sales_sequence_manager"))
        self.assertTrue(self.user_sales_manager.has_group("sales_sequence.group_sales_sequence_manager"))

    def test_user_sees_own_sequences_only(self):
        Sequence = self.env["sales.sequence"]
        self.assertEqual(Sequence.with_user(self.user_sales).search([("id", "=", self.sequence.id)]), self.sequence)
        self.assertFalse(Sequence.with_user(self.user_sales_2).search([("id", "=", self.sequence.id)]))
        with self.assertRaises(AccessError):
            self.sequence.with_user(self.user_sales_2).read(["name"])
        with self.assertRaises(AccessError):
            self.sequence.step_ids.with_user(self.user_sales_2).read(["name"])
        with self.assertRaises(AccessError):
            self.sequence.with_user(self.user_sales_2).action_pause()

    def test_user_sees_enrollments_of_own_sequences_only(self):
        Enrollment = self.env["sales.sequence.enrollment"]
        self.assertEqual(
            Enrollment.with_user(self.user_sales).search([("sequence_id", "=", self.sequence.id)]), self.enrollments
        )
        self.assertFalse(Enrollment.with_user(self.user_sales_2).search([("sequence_id", "=", self.sequence.id)]))
        with self.assertRaises(AccessError):
            self.enrollments.with_user(self.user_sales_2).read(["state"])

    def test_manager_sees_everything(self):
        as_manager = self.env["sales.sequence"].with_user(self.user_sales_manager)
        self.assertIn(self.sequence, as_manager.search([]))
        self.sequence.with_user(self.user_sales_manager).read(["name"])
        self.enrollments.with_user(self.user_sales_manager).read(["state"])
        self.sequence.with_user(self.user_sales_manager).action_pause()
        self.assertEqual(self.sequence.state, "paused")

    def test_user_cannot_create_a_sequence_for_someone_else(self):
        with self.assertRaises(AccessError):
            self.env["sales.sequence"].with_user(self.user_sales).create(
                {"name": "Not mine", "user_id": self.user_sales_2.id, "calendar_id": self.calendar.id}
            )

    def test_other_company_sequences_are_hidden(self):
        other_company = self.env["res.company"].create({"name": "Other company"})
        self.user_sales_manager.company_ids = [(4, other_company.id)]
        foreign = self._create_sequence(user=self.user_sales_manager, name="Foreign", company_id=other_company.id)
        as_manager = self.env["sales.sequence"].with_user(self.user_sales_manager)
        self.assertNotIn(foreign, as_manager.with_context(allowed_company_ids=[self.env.company.id]).search([]))
        self.assertIn(foreign, as_manager.with_context(allowed_company_ids=[other_company.id]).search([]))
