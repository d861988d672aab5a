from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.sms.tools.sms_api import SmsApi

from .common import MONDAY_0700_UTC, SalesSequenceCommon

MONDAY_0800_UTC = datetime(2026, 12, 7, 8, 0)  # 09:00 in Brussels
TUESDAY_0800_UTC = MONDAY_0800_UTC + timedelta(days=1)


class StepTypesCommon(SalesSequenceCommon):
    @classmethod
    def _mixed_sequence(cls, steps, **values):
        """A sequence of the given step values (name, step_type, delay_days, ... ) for Sally."""
        commands = []
        for index, step in enumerate(steps):
            step = dict(step)
            step.setdefault("name", f"Step {index + 1}")
            step.setdefault("sequence", (index + 1) * 10)
            if step.get("step_type", "email") in ("email", "email_reminder"):
                step.setdefault("subject", f"Hello {{{{ object.name }}}} {index + 1}")
                step.setdefault("body_html", f'<p>Email {index + 1} for <t t-out="object.name"/></p>')
                step.setdefault("thread_mode", "new")
            commands.append(Command.create(step))
        return (
            cls.env["sales.sequence"]
            .with_user(cls.user_sales)
            .create(
                {
                    "name": values.pop("name", "Mixed"),
                    "calendar_id": cls.calendar.id,
                    "daily_limit": 0,
                    "step_ids": commands,
                    **values,
                }
            )
        )

    def _start(self, sequence, contacts=None):
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollments, refusals = sequence._enroll_partners(contacts or self.contacts[:2])
        self.assertFalse(refusals)
        return enrollments

    def _run_at(self, when):
        with self.at(when):
            self.run_cron()

    def _events(self, enrollments, event_type):
        return enrollments.event_ids.filtered(lambda e: e.event_type == event_type)


@tagged("post_install", "-at_install", "sales_sequence")
class TestManualSteps(StepTypesCommon):
    def test_task_waits_until_done_then_the_next_step_counts_from_then(self):
        sequence = self._mixed_sequence(
            [
                {"step_type": "task", "activity_summary": "Research the account", "activity_due_days": 2},
                {"delay_days": 1},
            ]
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        for enrollment in enrollments:
            activity = enrollment.partner_id.activity_ids
            self.assertEqual(activity.summary, "Research the account")
            self.assertEqual(activity.user_id, self.user_sales, "the owner does the task")
            self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_todo"))
            self.assertEqual(activity.date_deadline, MONDAY_0800_UTC.date() + timedelta(days=2))
            self.assertEqual(enrollment.state, "active")
            self.assertFalse(enrollment.next_run_at, "out of the due set while the task is open")
            self.assertIn("Research the account", enrollment.state_reason)
            self.assertEqual(enrollment.touch_ids.kind, "task")
        self._run_at(TUESDAY_0800_UTC + timedelta(days=1))
        self.assertEqual(len(enrollments.touch_ids), 2, "nothing runs again while waiting")

        first = enrollments[0]
        with self.at(TUESDAY_0800_UTC):
            first.partner_id.activity_ids.with_user(self.user_sales).action_done()
        self.assertEqual(first.touch_ids.done_at, TUESDAY_0800_UTC)
        self.assertEqual(first.step_id, sequence.step_ids[1])
        self.assertEqual(first.next_run_at, TUESDAY_0800_UTC + timedelta(days=1), "the delay counts from done")
        self.assertIn("Step 'Step 1' done; next", first.state_reason, "a task is done, not sent")
        self.assertTrue(self._events(first, "activity_done"))
        self.assertEqual(first.partner_id.last_activity_type, "task")
        self.assertFalse(enrollments[1].next_run_at, "the other contact still waits")

    def test_call_for_the_salesperson_moves_on_without_waiting(self):
        self.contacts[0].user_id = self.user_sales_2
        sequence = self._mixed_sequence(
            [
                {
                    "step_type": "call",
                    "activity_summary": "Qualify",
                    "activity_assignee": "salesperson",
                    "wait_for_done": False,
                },
                {"delay_days": 2},
            ]
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        calls = enrollments.partner_id.activity_ids
        self.assertEqual(calls.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
        self.assertEqual(
            {a.res_id: a.user_id for a in calls},
            {self.contacts[0].id: self.user_sales_2, self.contacts[1].id: self.user_sales},
            "the contact's salesperson, else the owner",
        )
        self.assertEqual(set(enrollments.mapped("next_run_at")), {MONDAY_0800_UTC + timedelta(days=2)})
        calls[0].with_user(calls[0].user_id).action_done()
        self.assertEqual(self.contacts[0].last_contacted_mode, "outgoing_call")

    def test_canceled_task_does_not_leave_the_enrollment_stuck(self):
        sequence = self._mixed_sequence([{"step_type": "task", "activity_summary": "Prepare"}, {"delay_days": 0}])
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        with self.at(MONDAY_0800_UTC):
            enrollment.partner_id.activity_ids.with_user(self.user_sales).unlink()
        self.assertEqual(enrollment.step_id, sequence.step_ids[1])
        self.assertTrue(enrollment.next_run_at)
        self.assertIn("canceled", self._events(enrollment, "skip").description)

    def test_email_reminder_is_reviewed_edited_and_sent_from_its_activity(self):
        sequence = self._mixed_sequence([{"step_type": "email_reminder"}, {"delay_days": 1}])
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        drafts = self.env["sales.sequence.draft"].search([("sequence_id", "=", sequence.id)])
        self.assertEqual(len(drafts), 2)
        self.assertEqual(set(drafts.mapped("kind")), {"reminder"})
        self.assertFalse(self.sequence_mails(enrollments), "nothing leaves on its own")
        self.assertEqual(drafts.activity_ids.user_id, self.user_sales)
        self.assertEqual(drafts.activity_ids.activity_type_id, self.env.ref("mail.mail_activity_data_email"))

        first = drafts.filtered(lambda d: d.enrollment_id == enrollments[0])
        first = first.with_user(self.user_sales)
        first.write({"subject": "A personal word", "body_html": "<p>Edited by Sally</p>"})
        with self.at(TUESDAY_0800_UTC):
            first.action_send()
        mail = self.sequence_mails(enrollments[0])
        self.assertEqual(mail.subject, "A personal word")
        self.assertIn("Edited by Sally", mail.body_html)
        self.assertEqual(first.state, "sent")
        self.assertFalse(first.activity_ids, "its activity is done")
        self.assertEqual(enrollments[0].step_id, sequence.step_ids[1])
        self.assertEqual(enrollments[0].next_run_at, TUESDAY_0800_UTC + timedelta(days=1))
        with self.assertRaises(UserError):
            first.action_send()
        self.assertEqual(len(self.sequence_mails(enrollments[0])), 1, "sent once")

        second = drafts - first
        with self.at(TUESDAY_0800_UTC):
            second.activity_ids.with_user(self.user_sales).action_done()
        self.assertEqual(second.state, "skipped", "closed without sending: skipped")
        self.assertEqual(enrollments[1].step_id, sequence.step_ids[1])
        self.assertFalse(self.sequence_mails(enrollments[1]))


@tagged("post_install", "-at_install", "sales_sequence")
class TestSmsStep(StepTypesCommon):
    def _sms_account(self):
        return self.env["iap.account"].create(
            {
                "service_id": self.env["iap.service"].search([("technical_name", "=", "sms")], limit=1).id,
                "account_token": "test-token",
                "state": "registered",
            }
        )

    def test_activation_needs_text_and_an_sms_account(self):
        self.env["iap.account"].search([("service_name", "=", "sms")]).unlink()
        sequence = self._mixed_sequence([{"step_type": "sms", "name": "Text"}])
        with self.assertRaisesRegex(UserError, "write the SMS Text"):
            sequence.action_activate()
        sequence.step_ids.sms_body = "Hi {{ object.name }}"
        with self.assertRaisesRegex(UserError, "SMS is not set up"):
            sequence.action_activate()
        self._sms_account()
        sequence.action_activate()
        self.assertEqual(sequence.state, "active")

    def test_sms_goes_through_odoo_sms_queue_and_no_mobile_blocks(self):
        self._sms_account()
        self.contacts[0].write({"mobile": "+32 470 12 34 56"})
        self.contacts[1].write({"mobile": "not a number", "phone": False})
        self.contacts[2].write({"mobile": False, "phone": False})
        sequence = self._mixed_sequence([{"step_type": "sms", "sms_body": "Hi {{ object.name }}, Sally here."}])
        enrollments = self._start(sequence, self.contacts[:3])
        self._run_at(MONDAY_0800_UTC)
        sms = self.env["sms.sms"].sudo().search([("partner_id", "in", self.contacts[:3].ids)])
        self.assertEqual(sms.mapped("number"), ["+32470123456"])
        self.assertEqual(sms.body, "Hi Contact 00, Sally here.")
        self.assertEqual(enrollments[0].state, "finished")
        self.assertEqual(enrollments[0].touch_ids.kind, "sms")
        self.assertEqual(enrollments[1].state, "blocked")
        self.assertIn("'not a number' is not a valid mobile number", enrollments[1].state_reason)
        self.assertEqual(enrollments[2].state, "blocked")
        self.assertIn("no mobile number", enrollments[2].state_reason)

        sent_batches = []

        def fake_iap(api, local_endpoint, params, timeout=15):  # only what leaves the machine is replaced
            sent_batches.append(params)
            return [
                {"uuid": number["uuid"], "state": "success"}
                for message in params["messages"]
                for number in message["numbers"]
            ]

        with patch.object(SmsApi, "_contact_iap", fake_iap):
            self.env["sms.sms"].sudo()._process_queue()
        self.assertEqual(len(sent_batches), 1)
        self.assertEqual(sms.state, "pending", "handed to the SMS provider")
        self.assertEqual(self.contacts[0].last_activity_type, "sms")
        self.assertEqual(sequence.metric_sms, 1)
        self.assertEqual(len(self._events(enrollments[0], "sms")), 1)

    def _fake_iap(self, state):
        def fake_iap(api, local_endpoint, params, timeout=15):  # only what leaves the machine is replaced
            return [
                {"uuid": number["uuid"], "state": state}
                for message in params["messages"]
                for number in message["numbers"]
            ]

        return patch.object(SmsApi, "_contact_iap", fake_iap)

    def _failing_sms_sequence(self):
        self._sms_account()
        self.contacts[:2].write({"mobile": "+32 470 12 34 56"})
        sequence = self._mixed_sequence([{"step_type": "sms", "sms_body": "Hi {{ object.name }}"}, {"delay_days": 1}])
        enrollments = self._start(sequence, self.contacts[:2])
        self._run_at(MONDAY_0800_UTC)
        self.assertEqual(enrollments.mapped("step_id"), sequence.step_ids[1], "advanced while the SMS is queued")
        return sequence, enrollments

    def test_failed_sms_pauses_tells_the_owner_and_is_not_counted_as_sent(self):
        sequence, enrollments = self._failing_sms_sequence()
        with self._fake_iap("insufficient_credit"):
            self.env["sms.sms"].sudo()._process_queue()
        self.assertEqual(set(enrollments.mapped("state")), {"paused"})
        self.assertEqual(enrollments.mapped("step_id"), sequence.step_ids[0], "resume sends the SMS again")
        self.assertIn("Insufficient Credit", enrollments[0].state_reason)
        self.assertEqual(sequence.metric_sms, 0)
        self.assertFalse(self._events(enrollments, "sms"), "the timeline never says sent")
        self.assertEqual(len(self._events(enrollments, "send_failure")), 2)
        activities = enrollments.activity_ids
        self.assertEqual(len(activities), 2)
        self.assertEqual(activities.user_id, self.user_sales)
        self.assertEqual(set(activities.mapped("summary")), {"Sequence SMS not sent"})
        notes = self.contacts[:2].message_ids.mapped("body")
        self.assertFalse([note for note in notes if "SMS sent" in note], "the contact's chatter never says sent")
        self.assertFalse(self.contacts[0].last_activity_type == "sms")

    def test_sms_failed_on_delivery_report_pauses_the_finished_enrollment(self):
        self._sms_account()
        self.contacts[0].write({"mobile": "+32 470 12 34 56"})
        sequence = self._mixed_sequence([{"step_type": "sms", "sms_body": "Hi {{ object.name }}"}])
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        self.assertEqual(enrollment.state, "finished")
        with self._fake_iap("success"):
            self.env["sms.sms"].sudo()._process_queue()
        self.assertEqual(sequence.metric_sms, 1)
        trackers = self.env["sms.tracker"].sudo().search([("sms_uuid", "=", enrollment.touch_ids.sms_uuid)])
        trackers._action_update_from_provider_error("not_delivered")  # the provider's delivery report
        self.assertEqual(enrollment.state, "paused")
        self.assertEqual(enrollment.step_id, sequence.step_ids)
        self.assertFalse(enrollment.date_done)
        sequence.invalidate_recordset()
        self.assertEqual(sequence.metric_sms, 0)
        self.assertEqual(len(enrollment.activity_ids), 1)


@tagged("post_install", "-at_install", "sales_sequence")
class TestApproval(StepTypesCommon):
    def _approval_sequence(self, **values):
        return self._mixed_sequence([{}, {"delay_days": 2}], require_approval=True, approval_expiry_days=3, **values)

    def _drafts(self, sequence, state="pending"):
        return self.env["sales.sequence.draft"].search([("sequence_id", "=", sequence.id), ("state", "=", state)])

    def test_due_email_waits_in_needs_attention_then_goes_at_the_next_slot_once_approved(self):
        sequence = self._approval_sequence()
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        self.assertFalse(self.sequence_mails(enrollments))
        drafts = self._drafts(sequence)
        self.assertEqual(len(drafts), 2)
        self.assertEqual(drafts[0].subject, f"Hello {drafts[0].partner_id.name} 1")
        self.assertEqual(sequence.attention_count, 2)
        self.assertIn("waits for approval", enrollments[0].state_reason)

        # Approved out of hours (Monday 20:00 Brussels): it goes at Tuesday 09:00, not at once.
        evening = datetime(2026, 12, 7, 19, 0)
        with self.at(evening):
            drafts.with_user(self.user_sales).action_approve()
        self.assertEqual(set(enrollments.mapped("next_run_at")), {TUESDAY_0800_UTC})
        self._run_at(evening + timedelta(minutes=30))
        self.assertFalse(self.sequence_mails(enrollments))
        self._run_at(TUESDAY_0800_UTC)
        mails = self.sequence_mails(enrollments)
        self.assertEqual(len(mails), 2)
        self.assertEqual(set(drafts.mapped("state")), {"sent"})
        self.assertEqual(set(enrollments.mapped("step_id").ids), {sequence.step_ids[1].id})
        self._run_at(TUESDAY_0800_UTC + timedelta(hours=1))
        self.assertEqual(len(self.sequence_mails(enrollments)), 2, "never twice")

    def _reply_in(self, enrollment, when):
        with self.at(when):
            enrollment._on_reply(
                {"subject": "Re: interested", "email_from": enrollment.partner_id.email, "body": "<p>Interested</p>"},
                threaded=enrollment,
            )

    def test_a_contact_who_replied_elsewhere_is_not_sent_the_approved_draft_nor_enrolled_again(self):
        first = self._mixed_sequence([{}], name="Intro")
        first_enrollment = self._start(first, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        sequence = self._approval_sequence(name="Follow-up")
        enrollments = self._start(sequence, self.contacts[:2])
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=5))
        drafts = self._drafts(sequence)
        with self.at(MONDAY_0800_UTC + timedelta(minutes=10)):
            drafts.with_user(self.user_sales).action_approve()
        # The reply reaches the first sequence only (it quotes that email, from another address of the contact).
        self._reply_in(first_enrollment, MONDAY_0800_UTC + timedelta(minutes=20))
        self.assertEqual(enrollments[0].state, "active", "the reply did not reach this sequence")
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=30))
        replied = enrollments.filtered(lambda e: e.partner_id == self.contacts[0])
        self.assertFalse(self.sequence_mails(replied), "no email to someone who just replied")
        self.assertEqual(len(self.sequence_mails(enrollments - replied)), 1)
        self.assertEqual(replied.state, "paused")
        self.assertIn("replied to Intro on", replied.state_reason)
        skipped = drafts.filtered(lambda d: d.enrollment_id == replied)
        self.assertEqual(skipped.state, "skipped")
        self.assertIn("replied to Intro", skipped.reason)

        # The rep read the reply and resumes: a person's choice, the email is drafted again.
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            replied.with_user(self.user_sales).action_resume()
        self._run_at(MONDAY_0800_UTC + timedelta(hours=1))
        self.assertEqual(len(self._drafts(sequence).filtered(lambda d: d.enrollment_id == replied)), 1)

        # Enrolling them in a third sequence is refused, with the reason; a ruleset at 0 days allows it.
        third = self._mixed_sequence([{}], name="Third")
        with self.at(MONDAY_0800_UTC + timedelta(hours=2)):
            third.action_activate()
            _enrolled, refusals = third._enroll_partners(self.contacts[:1])
        self.assertIn("replied to Intro on", refusals[self.contacts[0]])
        third.ruleset_id.sudo().reply_cooldown_days = 0  # a Sequence Manager sets the rules
        with self.at(MONDAY_0800_UTC + timedelta(hours=2)):
            enrolled, refusals = third._enroll_partners(self.contacts[:1])
        self.assertFalse(refusals)
        self.assertTrue(enrolled)

    def test_edit_then_approve_sends_the_edited_email(self):
        sequence = self._approval_sequence()
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        draft = self._drafts(sequence).with_user(self.user_sales)
        draft.write({"subject": "Edited subject", "body_html": "<p>Edited body</p>"})
        with self.at(MONDAY_0800_UTC + timedelta(minutes=10)):
            draft.action_approve()
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        mail = self.sequence_mails(enrollment)
        self.assertEqual(mail.subject, "Edited subject")
        self.assertIn("Edited body", mail.body_html)
        with self.assertRaises(UserError):
            draft.write({"subject": "Too late"})
        with self.assertRaises(UserError):
            draft.write({"state": "pending"})

    def test_skip_moves_to_the_next_step(self):
        sequence = self._approval_sequence()
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            self._drafts(sequence).with_user(self.user_sales).action_skip()
        self.assertEqual(enrollment.step_id, sequence.step_ids[1])
        self.assertEqual(enrollment.next_run_at, MONDAY_0800_UTC + timedelta(hours=1, days=2))
        self.assertIn("Skipped by Sally Sales", self._events(enrollment, "skip").description)
        self.assertFalse(self.sequence_mails(enrollment))

    def test_unapproved_draft_expires_and_pauses_with_the_reason(self):
        sequence = self._approval_sequence()
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        draft = self._drafts(sequence)
        self.assertEqual(enrollment.next_run_at, MONDAY_0800_UTC + timedelta(days=3))
        self._run_at(MONDAY_0800_UTC + timedelta(days=3))
        self.assertEqual(draft.state, "expired")
        self.assertEqual(enrollment.state, "paused")
        self.assertIn("waited 3 days without approval and expired", enrollment.state_reason)
        self.assertFalse(self.sequence_mails(enrollment))
        # Resumed: a new draft is made.
        with self.at(MONDAY_0800_UTC + timedelta(days=3)):
            enrollment.with_user(self.user_sales).action_resume()
        self._run_at(MONDAY_0800_UTC + timedelta(days=3, minutes=10))
        self.assertEqual(len(self._drafts(sequence)), 1)

    def test_auto_approve_after_n_approvals_within_the_daily_cap(self):
        sequence = self._approval_sequence()
        step = sequence.step_ids[0]
        step.write({"auto_approve": True, "auto_approve_after": 2, "auto_approve_daily_cap": 3})
        self.assertIn("Approved by hand 0 times", step.auto_approve_preview)
        first = self._start(sequence, self.contacts[:2])
        self._run_at(MONDAY_0800_UTC)
        self._drafts(sequence).with_user(self.user_sales).action_approve()
        step.invalidate_recordset(["auto_approve_preview"])
        self.assertIn("drafts now go on their own, 0 of 3 today", step.auto_approve_preview)
        with self.at(MONDAY_0800_UTC):
            second, _refusals = sequence._enroll_partners(self.contacts[2:7])
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        auto = self._drafts(sequence, "sent").filtered("auto_approved")
        self.assertEqual(len(auto), 3, "the daily cap")
        self.assertEqual(len(self._drafts(sequence)), 2, "beyond the cap they wait for approval")
        self.assertEqual(len(self.sequence_mails(first | second)), 5)
        self.assertEqual(len(self._events(second, "approve")), 3)


@tagged("post_install", "-at_install", "sales_sequence")
class TestConditions(StepTypesCommon):
    def _open(self, enrollment):
        touch = enrollment.touch_ids.sorted("date")[-1]
        self.env["sales.sequence.event"]._record(enrollment, "open", touch_id=touch.id, step=touch.step_id)

    def test_classic_skip_keeps_the_next_step_on_its_own_day(self):
        sequence = self._mixed_sequence(
            [
                {},
                {"delay_days": 2, "condition_ids": [Command.create({"condition_type": "opened"})]},
                {"delay_days": 3},
            ]
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        self._open(enrollments[0])
        wednesday = MONDAY_0800_UTC + timedelta(days=2)
        self._run_at(wednesday)
        opened, unopened = enrollments
        self.assertEqual(len(opened.touch_ids), 2, "opened: step 2 sent")
        self.assertEqual(len(unopened.touch_ids), 1, "not opened: step 2 skipped")
        self.assertIn("Previous email opened", self._events(unopened, "skip").description)
        self.assertEqual(unopened.step_id, sequence.step_ids[2])
        monday_after = datetime(2026, 12, 14, 8, 0)  # Wednesday + 3 days is a Saturday
        self.assertEqual(unopened.next_run_at, monday_after, "step 3 keeps its own day")
        self.assertEqual(opened.next_run_at, monday_after)

    def test_not_replied_is_judged_on_the_delay_alone(self):
        sequence = self._mixed_sequence(
            [{}, {"delay_days": 2, "condition_ids": [Command.create({"condition_type": "not_replied"})]}]
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        # No open was ever seen (images blocked) and nobody replied: the step still runs on its day.
        self._run_at(MONDAY_0800_UTC + timedelta(days=2))
        self.assertEqual(len(self.sequence_mails(enrollments)), 4)

    def test_contact_conditions(self):
        tag = self.env["res.partner.category"].create({"name": "VIP"})
        self.contacts[0].category_id = tag
        domain = f"[('category_id', 'in', [{tag.id}])]"
        sequence = self._mixed_sequence(
            [{}, {"delay_days": 1, "condition_ids": [Command.create({"condition_type": "contact", "domain": domain})]}]
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        self._run_at(TUESDAY_0800_UTC)
        self.assertEqual(len(enrollments[0].touch_ids), 2)
        self.assertEqual(len(enrollments[1].touch_ids), 1)
        self.assertEqual(enrollments[1].state, "finished")
        self.assertIn("Contact matches", enrollments[1].state_reason)

    def test_smart_runs_the_first_matching_step_at_each_interval_and_ends_when_none_can(self):
        sequence = self._mixed_sequence(
            [
                {"name": "Welcome"},
                {"name": "Opened follow-up", "condition_ids": [Command.create({"condition_type": "opened"})]},
                {"name": "Nudge", "condition_ids": [Command.create({"condition_type": "not_opened"})]},
            ],
            sequence_type="smart",
            smart_interval_hours=24,
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        self.assertEqual(set(enrollments.touch_ids.step_id.mapped("name")), {"Welcome"})
        self.assertEqual(set(enrollments.mapped("next_run_at")), {TUESDAY_0800_UTC})
        opener, silent = enrollments
        self._open(opener)
        self._run_at(TUESDAY_0800_UTC)
        self.assertEqual(opener.touch_ids.sorted("date")[-1].step_id.name, "Opened follow-up")
        self.assertEqual(silent.touch_ids.sorted("date")[-1].step_id.name, "Nudge")
        # The opener opens the follow-up too: the nudge (not opened) can never match any more, so it ends.
        self._open(opener)
        self._run_at(TUESDAY_0800_UTC + timedelta(days=1))
        self.assertEqual(opener.state, "finished")
        self.assertIn("No step can match any more", opener.state_reason)
        self.assertEqual(len(opener.touch_ids), 2)
        # The silent one still may open the first email; it has run "Nudge", "Opened follow-up" waits.
        self.assertEqual(silent.state, "active")
        self._open(silent)
        self._run_at(TUESDAY_0800_UTC + timedelta(days=2))
        self.assertEqual(len(silent.touch_ids), 3)
        self.assertEqual(silent.state, "finished")


@tagged("post_install", "-at_install", "sales_sequence")
class TestVariants(StepTypesCommon):
    def test_variants_are_assigned_reproducibly_and_the_winner_is_picked_on_replies(self):
        contacts = self.env["res.partner"].create(
            # Enough contacts that the hash of the enrollment ids gives each variant its sample whatever the ids
            # (with 8, both variants get at least 3 only most of the time).
            [{"name": f"AB {i:02d}", "email": f"ab{i:02d}@customer.example.com"} for i in range(40)]
        )
        sequence = self._mixed_sequence(
            [
                {
                    "ab_pick_winner": True,
                    "ab_min_sample": 3,
                    "variant_ids": [
                        Command.create({"name": "A", "subject": "A for {{ object.name }}", "body_html": "<p>A</p>"}),
                        Command.create({"name": "B", "subject": "B for {{ object.name }}", "body_html": "<p>B</p>"}),
                    ],
                },
            ]
        )
        variant_a, variant_b = sequence.step_ids.variant_ids
        enrollments = self._start(sequence, contacts[:20])
        self._run_at(MONDAY_0800_UTC)
        by_variant = enrollments.touch_ids.grouped("variant_id")
        self.assertEqual(set(by_variant), {variant_a, variant_b})
        for touch in enrollments.touch_ids:
            self.assertTrue(touch.subject.startswith(touch.variant_id.name + " for"))
            self.assertEqual(touch.enrollment_id._variant_for(touch.step_id), touch.variant_id, "reproducible")
        self.assertFalse(sequence.step_ids.winner_variant_id, "picked when the run reaches the sample")
        replied_b = by_variant[variant_b].enrollment_id
        with self.at(MONDAY_0800_UTC + timedelta(minutes=5)):
            self.env["sales.sequence.event"]._record(replied_b, "reply", "Re")
        self.assertEqual(variant_b.replied_count, len(replied_b))
        with self.at(MONDAY_0800_UTC):
            sequence._enroll_partners(contacts[20:])
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        self.assertEqual(sequence.step_ids.winner_variant_id, variant_b, "B got replies, A none")
        with self.at(MONDAY_0800_UTC):
            last, _refusals = sequence._enroll_partners(
                self.env["res.partner"].create({"name": "Late", "email": "late@customer.example.com"})
            )
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=20))
        self.assertEqual(last.touch_ids.variant_id, variant_b, "only the winner from then on")
        self.assertEqual(variant_b.reply_rate, 100.0 * variant_b.replied_count / variant_b.sent_count)


@tagged("post_install", "-at_install", "sales_sequence")
class TestForecast(StepTypesCommon):
    def test_forecast_matches_hand_computed_dates_and_the_engine(self):
        sequence = self._mixed_sequence([{}, {"delay_days": 2}, {"delay_days": 3}], daily_limit=1)
        contacts = self.contacts[:2]
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(contacts)
            action = sequence.with_user(self.user_sales).action_open_forecast()
        lines = self.env["sales.sequence.forecast.line"].search(action["domain"])
        plan = {(line.partner_id, line.step_id.name): line.planned_at for line in lines}
        first, second = contacts
        # Mon-Fri 09:00-17:00 Brussels (08:00-16:00 UTC), one email a day for the mailbox: the second contact
        # goes the next day, and each later step counts its delay from its own previous send.
        expected = {
            (first, "Step 1"): datetime(2026, 12, 7, 8, 0),  # Monday
            (second, "Step 1"): datetime(2026, 12, 8, 8, 0),  # Tuesday: the limit
            (first, "Step 2"): datetime(2026, 12, 9, 8, 0),  # Wednesday (+2)
            (second, "Step 2"): datetime(2026, 12, 10, 8, 0),  # Thursday (+2)
            (first, "Step 3"): datetime(2026, 12, 14, 8, 0),  # Saturday (+3) -> Monday
            (second, "Step 3"): datetime(2026, 12, 15, 8, 0),  # Sunday -> Monday, over the limit -> Tuesday
        }
        self.assertEqual(plan, expected)
        self.assertEqual(
            lines.filtered(lambda line: line.moved_by).mapped("step_id.name"),
            ["Step 1", "Step 3"],
            "the moves by the daily limit are explained",
        )

        # The engine, run every 5 minutes of each working day, sends exactly on the forecast.
        moment = datetime(2026, 12, 7, 7, 55)
        while moment < datetime(2026, 12, 16):
            if 8 <= moment.hour < 9:
                self._run_at(moment)
            moment += timedelta(minutes=5)
        actual = {(touch.partner_id, touch.step_id.name): touch.date for touch in enrollments.touch_ids}
        self.assertEqual(actual, expected)

    def test_forecast_of_a_smart_sequence_assumes_one_step_per_interval(self):
        sequence = self._mixed_sequence([{}, {}], sequence_type="smart", smart_interval_hours=24)
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            sequence._enroll_partners(self.contacts[:1])
            action = sequence.with_user(self.user_sales).action_open_forecast()
        lines = self.env["sales.sequence.forecast.line"].search(action["domain"])
        self.assertEqual(lines.mapped("planned_at"), [MONDAY_0800_UTC, TUESDAY_0800_UTC])

    def test_forecast_of_an_audience_sample_before_activating(self):
        sequence = self._mixed_sequence(
            [{}, {"delay_days": 1}],
            audience_ids=[Command.create({"name": "Customers", "filter_domain": "[('ref', '=like', 'REF0%')]"})],
        )
        with self.at(MONDAY_0700_UTC):
            action = sequence.with_user(self.user_sales).action_open_forecast()
        lines = self.env["sales.sequence.forecast.line"].search(action["domain"])
        self.assertEqual(len(lines), 20, "ten matching contacts, two steps")
        self.assertFalse(sequence.enrollment_ids, "nobody is enrolled by a forecast")


@tagged("post_install", "-at_install", "sales_sequence")
class TestMetricsAndSharing(StepTypesCommon):
    def _reply(self, enrollment):
        touch = enrollment.touch_ids[:1]
        raw = (
            f"From: {enrollment.partner_id.email_formatted}\r\nTo: {self.user_sales.email}\r\n"
            f"Subject: Re: {touch.subject}\r\nMessage-ID: <metric-reply-{enrollment.id}@customer.example.com>\r\n"
            f"In-Reply-To: {touch.message_id}\r\nReferences: {touch.message_id}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInterested, call me.\r\n"
        )
        self.env["mail.thread"].message_process(None, raw.encode())

    def test_metrics_after_a_scripted_run(self):
        sequence = self._mixed_sequence([{}, {"delay_days": 2}])
        enrollments = self._start(sequence, self.contacts[:4])
        with self.mock_mail_gateway():
            self._run_at(MONDAY_0800_UTC)
            with self.at(MONDAY_0800_UTC):
                self.env["mail.mail"].sudo().process_email_queue()
        touches = {e: e.touch_ids for e in enrollments}
        events = self.env["sales.sequence.event"]
        for enrollment in enrollments[:2]:
            events._record(enrollment, "open", touch_id=touches[enrollment].id, step=touches[enrollment].step_id)
        events._record(
            enrollments[0], "click", touch_id=touches[enrollments[0]].id, step=touches[enrollments[0]].step_id
        )
        events._record(
            enrollments[3], "bounce", touch_id=touches[enrollments[3]].id, step=touches[enrollments[3]].step_id
        )
        with self.at(TUESDAY_0800_UTC):
            self._reply(enrollments[1])
        self.assertEqual(enrollments[1].state, "paused")
        sequence.invalidate_recordset()
        figures = {
            "metric_enrolled": 4,
            "metric_sent": 4,
            "metric_delivered": 3,
            "metric_opened": 2,
            "metric_clicked": 1,
            "metric_replied": 1,
            "metric_bounced": 1,
            "metric_unsubscribed": 0,
            "reply_rate": 25.0,
            "bounce_rate": 25.0,
            "open_rate": 100.0 * 2 / 3,
        }
        for field, value in figures.items():
            self.assertAlmostEqual(sequence[field], value, places=1, msg=field)
        step_1 = sequence.step_ids[0]
        self.assertEqual((step_1.metric_sent, step_1.metric_opened, step_1.metric_replied), (4, 2, 1))
        self.assertEqual(sequence.step_ids[1].metric_sent, 0)
        self.assertEqual(enrollments[0].partner_id.last_contacted_mode, "opened_no_reply")
        self.assertEqual(enrollments[1].partner_id.last_contacted_mode, "replied")
        self.assertEqual(enrollments[2].partner_id.last_contacted_mode, "no_reply")
        self.assertEqual(self.contacts[5].last_contacted_mode, "not_contacted")

    def test_test_run_renders_every_step_and_sends_nothing(self):
        self.env["iap.account"].create(
            {
                "service_id": self.env["iap.service"].search([("technical_name", "=", "sms")], limit=1).id,
                "account_token": "t",
            }
        )
        sequence = self._mixed_sequence(
            [
                {},
                {"step_type": "task", "activity_summary": "Call prep"},
                {"step_type": "sms", "sms_body": "Hi {{ object.name }}"},
            ]
        )
        self.contacts[3].mobile = "+32 470 12 34 57"  # an SMS step says when the contact has no valid mobile
        wizard = (
            self.env["sales.sequence.test.run"]
            .with_user(self.user_sales)
            .create({"sequence_id": sequence.id, "partner_id": self.contacts[3].id})
        )
        with self.at(MONDAY_0700_UTC):
            wizard.action_run()
        self.assertEqual(wizard.line_ids.mapped("subject")[:2], ["Hello Contact 03 1", "Call prep"])
        self.assertIn("Email 1 for Contact 03", wizard.line_ids[0].body_html)
        self.assertEqual(wizard.line_ids[2].text, "Hi Contact 03")
        self.assertEqual(wizard.line_ids[0].planned_at, datetime(2026, 12, 7, 8, 0))
        self.assertFalse(sequence.enrollment_ids)
        self.assertFalse(self.env["mail.mail"].search([("subject", "=", "Hello Contact 03 1")]))
        self.assertEqual(sequence.metric_sent, 0)

    def test_export_then_import_in_another_company(self):
        template = self.env["mail.template"].create(
            {
                "name": "Intro",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "subject": "Intro {{ object.name }}",
                "body_html": "<p>Template body</p>",
            }
        )
        sequence = self._mixed_sequence(
            [
                {"mail_template_id": template.id},
                {
                    "delay_days": 3,
                    "condition_ids": [Command.create({"condition_type": "not_replied"})],
                    "variant_ids": [
                        Command.create({"name": "A", "subject": "A", "body_html": "<p>A</p>"}),
                        Command.create({"name": "B", "subject": "B", "body_html": "<p>B</p>"}),
                    ],
                },
                {"step_type": "call", "activity_summary": "Call them"},
            ],
            require_approval=True,
        )
        action = sequence.with_user(self.user_sales).action_export_json()
        attachment = self.env["ir.attachment"].browse(int(action["url"].split("/")[3].split("?")[0]))
        wizard = (
            self.env["sales.sequence.share"]
            .with_user(self.user_sales_2)
            .create({"file": attachment.datas, "filename": attachment.name})
        )
        result = wizard.action_import()
        imported = self.env["sales.sequence"].browse(result["res_id"])
        self.assertEqual(imported.name, "Mixed (imported)")
        self.assertEqual(imported.user_id, self.user_sales_2)
        self.assertEqual(imported.state, "draft")
        self.assertTrue(imported.require_approval)
        self.assertEqual(imported.step_ids.mapped("step_type"), ["email", "email", "call"])
        self.assertEqual(imported.step_ids[0].subject, "Intro {{ object.name }}", "the template travels as content")
        self.assertEqual(imported.step_ids[1].condition_ids.condition_type, "not_replied")
        self.assertEqual(imported.step_ids[1].variant_ids.mapped("name"), ["A", "B"])
        bad = self.env["sales.sequence.share"].create({"file": "bm90IGpzb24="})  # "not json"
        with self.assertRaisesRegex(UserError, "JSON File"):
            bad.action_import()


@tagged("post_install", "-at_install", "sales_sequence")
class TestMixedBatchQueries(StepTypesCommon):
    """The run cron's cost per enrollment does not grow with the number of step types or conditions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["iap.account"].create(
            {
                "service_id": cls.env["iap.service"].search([("technical_name", "=", "sms")], limit=1).id,
                "account_token": "t",
            }
        )

    def _mixed_batch(self, size, conditions):
        condition_commands = [Command.create({"condition_type": "contact", "domain": "[('email', '!=', False)]"})] * (
            conditions - 1
        ) + [Command.create({"condition_type": "contact", "domain": "[('id', '=', 0)]"})]
        firsts = [
            {},
            {"step_type": "task", "activity_summary": "Task"},
            {"step_type": "call", "activity_summary": "Call", "wait_for_done": False},
            {"step_type": "sms", "sms_body": "Hi {{ object.name }}"},
            {"condition_ids": condition_commands},  # skipped by its condition
        ]
        contacts = self.env["res.partner"].create(
            [
                {
                    "name": f"Q{size}-{conditions}-{i}",
                    "email": f"q{size}.{conditions}.{i}@example.com",
                    "mobile": "+32470000000",
                }
                for i in range(size)
            ]
        )
        for index, first in enumerate(firsts):
            sequence = self._mixed_sequence([first, {"delay_days": 1}], name=f"Q {size} {conditions} {index}")
            with self.at(MONDAY_0700_UTC):
                sequence.action_activate()
                sequence._enroll_partners(contacts)
        self.env.flush_all()
        self.env.cr.precommit.run()  # the chatter tracking of earlier writes is not the run's cost
        with self.at(MONDAY_0800_UTC):
            before = self.env.cr.sql_log_count
            self.env["sales.sequence.enrollment"].with_user(self.cron.user_id)._cron_run_sequences()
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

    def test_queries_per_enrollment_are_constant(self):
        small = self._mixed_batch(4, 1)
        self.env["sales.sequence"].search([]).action_pause()
        large = self._mixed_batch(8, 1)
        self.env["sales.sequence"].search([]).action_pause()
        more_conditions = self._mixed_batch(8, 4)
        per_enrollment = (large - small) / (5 * 4)
        self.assertLessEqual(per_enrollment, 25, f"{per_enrollment:.1f} queries per enrollment")
        self.assertLessEqual(abs(more_conditions - large), 5 * 3, "more conditions cost per step, not per enrollment")
