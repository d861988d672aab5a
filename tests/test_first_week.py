"""Issue 18, item 10: what a salesperson sees in the first week (the contact's count, the timeline, the SMS
warnings before anything is sent)."""

from odoo.tests import tagged

from .common import MONDAY_0700_UTC
from .test_step_types import StepTypesCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestFirstWeek(StepTypesCommon):
    def test_contact_form_counts_colleagues_sequences(self):
        contact = self.contacts[6]
        with self.at(MONDAY_0700_UTC):
            colleague = self._create_sequence(user=self.user_sales_2, name="Sam's cadence")
            colleague.action_activate()
            colleague._enroll_partners(contact)
        mine = contact.with_user(self.user_sales)
        self.assertEqual(mine.sales_sequence_running_count, 0, "Sam's sequence is not Sally's to pause")
        self.assertEqual(mine.sales_sequence_colleagues_count, 1, "but Sally sees a colleague works the contact")
        self.assertEqual(contact.with_user(self.user_sales_2).sales_sequence_colleagues_count, 0)

    def test_a_reply_lands_on_the_step_it_answers(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._mixed_sequence([{}, {"delay_days": 2}])
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:1])
        self._run_at(MONDAY_0700_UTC.replace(hour=8))
        first_step = sequence.step_ids[0]
        self.assertEqual(enrollments.step_id, sequence.step_ids[1], "step 2 is next")
        enrollments._on_reply({"subject": "Re: hello", "body": "<p>Interested</p>"}, threaded=enrollments)
        reply = enrollments.event_ids.filtered(lambda e: e.event_type == "reply")
        self.assertEqual(reply.step_id, first_step, "on the step answered, as Metrics count it")
        self.assertEqual(reply.touch_id, enrollments.touch_ids[:1])

    def test_forecast_and_test_run_warn_about_sms_without_a_mobile(self):
        self.env["iap.account"].create(
            {
                "service_id": self.env["iap.service"].search([("technical_name", "=", "sms")], limit=1).id,
                "account_token": "t",
            }
        )
        sequence = self._mixed_sequence([{"step_type": "sms", "sms_body": "Hi {{ object.first_name ||| there }}"}])
        contact = self.contacts[7]
        contact.write({"mobile": False, "phone": False})
        run = (
            self.env["sales.sequence.test.run"]
            .with_user(self.user_sales)
            .create({"sequence_id": sequence.id, "partner_id": contact.id})
        )
        with self.at(MONDAY_0700_UTC):
            run.action_run()
        self.assertIn("no mobile number", run.line_ids.text)
        with self.at(MONDAY_0700_UTC):
            sequence._enroll_partners(contact)
            action = sequence.with_user(self.user_sales).action_open_forecast()
        line = self.env["sales.sequence.forecast.line"].search(action["domain"])
        self.assertIn("no mobile number", line.problem)
