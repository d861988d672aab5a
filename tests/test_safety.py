from datetime import timedelta

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MONDAY_0700_UTC
from .test_step_types import MONDAY_0800_UTC, StepTypesCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestRateLimits(StepTypesCommon):
    """A mailbox's hourly and per-minute limits: over them the email is queued to the next hour or minute, never
    dropped; the forecast plans exactly what the cron then does."""

    def _forecast(self, sequence):
        forecast = self.env["sales.sequence.forecast"].create({"sequence_id": sequence.id, "source": "enrolled"})
        forecast._compute_lines()
        return forecast.line_ids

    def test_forecast_and_cron_agree_under_hourly_and_minute_limits(self):
        self.maxDiff = None
        contacts = self.env["res.partner"].create(
            [{"name": f"Rate {i}", "email": f"rate{i}@example.com"} for i in range(8)]
        )
        sequence = self._mixed_sequence([{}, {"delay_days": 1}], minute_limit=3, hourly_limit=5)
        enrollments = self._start(sequence, contacts)
        with self.at(MONDAY_0700_UTC):
            lines = self._forecast(sequence)
        planned = {
            (line.partner_id, line.step_id): line.planned_at for line in lines if line.step_id == sequence.step_ids[0]
        }
        self.assertEqual(
            sorted(planned.values()),
            [MONDAY_0800_UTC] * 3
            + [MONDAY_0800_UTC + timedelta(minutes=1)] * 2
            + [MONDAY_0800_UTC + timedelta(hours=1)] * 3,
        )
        self.assertEqual(
            set(
                lines.filtered(lambda line: line.planned_at == MONDAY_0800_UTC + timedelta(hours=1)).mapped("moved_by")
            ),
            {"Hourly limit"},
        )
        # The cron, every minute from 09:00 to 10:05 Brussels.
        for minute in range(66):
            self._run_at(MONDAY_0800_UTC + timedelta(minutes=minute))
        sent = {
            (touch.partner_id, touch.step_id): touch.date
            for touch in enrollments.touch_ids
            if touch.step_id == sequence.step_ids[0]
        }
        self.assertEqual(sent, planned, "each email went when the forecast said")
        self.assertEqual(len(self.sequence_mails(enrollments)), 8, "none dropped")
        # The next steps too: planned from when the first really went.
        second = {
            (line.partner_id, line.step_id): line.planned_at for line in lines if line.step_id == sequence.step_ids[1]
        }
        self.assertEqual({(e.partner_id, e.step_id): e.next_run_at for e in enrollments}, second)

    def test_over_the_minute_limit_is_queued_with_the_reason_and_a_limit_change_releases_it(self):
        sequence = self._mixed_sequence([{}], minute_limit=1)
        enrollments = self._start(sequence, self.contacts[:2])
        self._run_at(MONDAY_0800_UTC)
        held = enrollments.filtered(lambda e: e.state == "queued")
        self.assertEqual(len(held), 1)
        self.assertEqual(held.held_by_limit, "minute")
        self.assertIn("Per-minute limit of 1", held.state_reason)
        self.assertEqual(held.next_run_at, MONDAY_0800_UTC + timedelta(minutes=1))
        with self.at(MONDAY_0800_UTC + timedelta(seconds=20)):
            sequence.minute_limit = 5
        self.assertEqual(held.state, "active", "released")
        self._run_at(MONDAY_0800_UTC + timedelta(seconds=30))
        self.assertEqual(len(self.sequence_mails(enrollments)), 2)


@tagged("post_install", "-at_install", "sales_sequence")
class TestBounceHold(StepTypesCommon):
    """Above the rules' 24 h bounce rate a sequence's first step is held (later steps go on) until the owner
    releases it; above the warning level the owner is warned once a day."""

    def _sequence_with_bounces(self, sent, bounced, **rules):
        contacts = self.env["res.partner"].create(
            [{"name": f"Bouncy {i}", "email": f"bouncy{i}@example.com"} for i in range(sent)]
        )
        sequence = self._mixed_sequence([{}, {"delay_days": 0}], name="Bouncy")
        sequence.ruleset_id = self.env["sales.sequence.ruleset"].create(
            {"name": "Strict", "bounce_min_sends": sent, **rules}
        )
        enrollments = self._start(sequence, contacts)
        self._run_at(MONDAY_0800_UTC)
        for enrollment in enrollments[:bounced]:
            self.env["sales.sequence.event"]._record(
                enrollment, "bounce", "550 no such user", touch_id=enrollment.touch_ids[:1].id
            )
            enrollment._end("bounced", "The address bounced.")
        return sequence, enrollments - enrollments[:bounced]

    def _owner_activities(self, sequence, summary):
        return sequence.activity_ids.filtered(lambda a: a.summary == summary)

    def test_first_step_held_above_the_threshold_later_steps_go_on_and_the_owner_releases_it(self):
        sequence, running = self._sequence_with_bounces(5, 1)  # 20% > the default 8%
        with self.at(MONDAY_0700_UTC):
            newcomer, _refusals = sequence._enroll_partners(self.contacts[:1])
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        self.assertTrue(sequence.bounce_hold)
        self.assertIn("20.0%", sequence.bounce_hold_reason)
        self.assertTrue(self._owner_activities(sequence, "First step held: bounce rate"))
        self.assertEqual((newcomer.state, newcomer.held_by_limit), ("queued", "bounce"))
        self.assertIn("safety_hold", newcomer.event_ids.mapped("event_type"))
        self.assertFalse(self.sequence_mails(newcomer))
        self.assertEqual(set(running.mapped("state")), {"finished"}, "the second step went for the others")

        with self.at(MONDAY_0800_UTC + timedelta(minutes=20)):
            sequence.with_user(self.user_sales).action_release_bounce_hold()
        self.assertFalse(sequence.bounce_hold)
        self.assertEqual(newcomer.state, "active")
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=30))
        self.assertTrue(self.sequence_mails(newcomer), "sent after the release")
        self.assertFalse(sequence.bounce_hold, "bounces before the release no longer count")

    def test_warning_once_a_day_below_the_hold(self):
        sequence, _running = self._sequence_with_bounces(5, 1, bounce_hold_rate=30, bounce_warning_rate=10)
        for minutes in (10, 20):
            self._run_at(MONDAY_0800_UTC + timedelta(minutes=minutes))
        self.assertFalse(sequence.bounce_hold)
        self.assertEqual(len(self._owner_activities(sequence, "Bounce rate warning")), 1, "once a day")

    def test_too_few_emails_hold_nothing(self):
        sequence, _running = self._sequence_with_bounces(5, 1, bounce_min_sends=20)
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        self.assertFalse(sequence.bounce_hold)

    def test_warning_above_the_hold_is_refused(self):
        with self.assertRaises(ValidationError):
            self.env["sales.sequence.ruleset"].create({"name": "Odd", "bounce_hold_rate": 5, "bounce_warning_rate": 10})


@tagged("post_install", "-at_install", "sales_sequence")
class TestMissingData(StepTypesCommon):
    """A step whose contact lacks its data skips (logged) or holds, as the step says; the default is what the
    engine did before: emails and SMS hold, calls run."""

    def test_defaults_keep_the_former_behaviour(self):
        sequence = self._mixed_sequence(
            [{}, {"step_type": "sms", "sms_body": "Hi"}, {"step_type": "call", "activity_summary": "Call"}]
        )
        self.assertEqual(sequence.step_ids.mapped("on_missing_data"), ["hold", "hold", "run"])
        with self.assertRaises(ValidationError):
            sequence.step_ids[0].on_missing_data = "run"

    def test_call_without_phone_is_skipped_with_the_reason_then_the_next_step_goes(self):
        sequence = self._mixed_sequence(
            [{"step_type": "call", "activity_summary": "Call", "on_missing_data": "skip"}, {"delay_days": 1}]
        )
        self.contacts[1].phone = "+32 2 555 12 12"
        enrollments = self._start(sequence, self.contacts[:2])
        self._run_at(MONDAY_0800_UTC)
        skipped, called = enrollments
        self.assertEqual(
            skipped.event_ids.filtered(lambda e: e.event_type == "skip").description,
            "Skipped: no phone number on the contact.",
        )
        self.assertEqual(skipped.step_id, sequence.step_ids[1])
        self.assertFalse(skipped.partner_id.activity_ids)
        self.assertTrue(called.partner_id.activity_ids, "the contact with a phone gets the call")

    def test_call_without_phone_holds_when_the_step_says_so(self):
        sequence = self._mixed_sequence([{"step_type": "call", "activity_summary": "Call", "on_missing_data": "hold"}])
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        self.assertEqual(enrollment.state, "blocked")
        self.assertIn("no phone number", enrollment.state_reason)

    def test_sms_without_mobile_skipped_and_email_without_address_held(self):
        self.env["iap.account"].create(
            {
                "service_id": self.env["iap.service"].search([("technical_name", "=", "sms")], limit=1).id,
                "account_token": "test-token",
                "state": "registered",
            }
        )
        sequence = self._mixed_sequence([{"step_type": "sms", "sms_body": "Hi", "on_missing_data": "skip"}, {}])
        enrollment = self._start(sequence, self.contacts[:1])
        with self.at(MONDAY_0700_UTC):
            # Created directly: enrolling refuses a contact without email, the run holds one that lost it.
            no_email = self.env["sales.sequence.enrollment"].create(
                {"sequence_id": sequence.id, "partner_id": self.env["res.partner"].create({"name": "Nobody"}).id}
            )
            no_email._start()
        self._run_at(MONDAY_0800_UTC)
        self.assertIn("Skipped: no valid mobile number on the contact.", enrollment.event_ids.mapped("description"))
        self.assertEqual(enrollment.step_id, sequence.step_ids[1])
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        self.assertTrue(self.sequence_mails(enrollment), "the email step went")
        self.assertIn("skip", no_email.event_ids.mapped("event_type"), "skipped the SMS too")
        self.assertEqual(no_email.state, "blocked", "the email step holds by default")
        self.assertIn("no email address", no_email.state_reason)

    def test_the_forecast_says_what_the_cron_does_without_the_data(self):
        sequence = self._mixed_sequence(
            [
                {"step_type": "call", "activity_summary": "Call", "on_missing_data": "skip"},
                {"step_type": "call", "activity_summary": "Call again", "on_missing_data": "hold", "delay_days": 1},
            ]
        )
        self.contacts[1].phone = "+32 2 555 12 12"
        enrollments = self._start(sequence, self.contacts[:2])
        with self.at(MONDAY_0700_UTC):
            action = sequence.with_user(self.user_sales).action_open_forecast()
        lines = self.env["sales.sequence.forecast.line"].search(action["domain"])
        problems = {(line.partner_id, line.step_id.name): line.problem or False for line in lines}
        no_phone, phone = enrollments.partner_id
        self.assertEqual(problems[(no_phone, "Step 1")], "Skipped: no phone number on the contact.")
        self.assertIn("no phone number", problems[(no_phone, "Step 2")])
        self.assertFalse(problems[(phone, "Step 1")])
        self._run_at(MONDAY_0800_UTC)
        skipped = enrollments[0]
        self.assertEqual(
            skipped.event_ids.filtered(lambda e: e.event_type == "skip").description, problems[(no_phone, "Step 1")]
        )
        self._run_at(MONDAY_0800_UTC + timedelta(days=1))
        self.assertEqual(skipped.state, "blocked")
        self.assertEqual(skipped.state_reason, problems[(no_phone, "Step 2")])
