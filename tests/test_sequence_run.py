from ast import literal_eval
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MONDAY_0700_UTC, SalesSequenceCommon

BRUSSELS = ZoneInfo("Europe/Brussels")


def local(utc_naive, zone=BRUSSELS):
    return utc_naive.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceRun(SalesSequenceCommon):
    def _start_sequence(self, contacts=None, when=MONDAY_0700_UTC, **values):
        with self.at(when):
            sequence = self._create_sequence(**values)
            sequence.action_activate()
            enrollments, refusals = sequence._enroll_partners(contacts or self.contacts)
        self.assertFalse(refusals)
        return sequence, enrollments

    def assertInWindow(self, utc_naive, zone=BRUSSELS):
        moment = local(utc_naive, zone)
        self.assertLess(moment.weekday(), 5, f"{moment} is not a weekday")
        self.assertTrue(9 <= moment.hour < 17, f"{moment} is outside 09:00-17:00")

    def test_three_steps_ten_contacts_run_to_the_end(self):
        """Step 1 at the window start, step 2 two days later, step 3 moved off the weekend, then finished."""
        sequence, enrollments = self._start_sequence()
        self.assertEqual(set(enrollments.mapped("state")), {"active"})
        monday_0800 = datetime(2026, 12, 7, 8, 0)  # 09:00 Brussels
        self.assertEqual(set(enrollments.mapped("next_run_at")), {monday_0800})

        with self.at(datetime(2026, 12, 7, 7, 30)):
            self.run_cron()
        self.assertFalse(self.sequence_mails(enrollments), "nothing leaves before the window opens")

        with self.mock_mail_gateway(), self.at(monday_0800):
            self.run_cron()
            mails = self.sequence_mails(enrollments)
            self.assertEqual(len(mails), 10)
            self.assertEqual(set(mails.mapped("state")), {"outgoing"}, "the emails wait in Odoo's mail queue")
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(len(self._mails), 10, "the mail queue sent one email per contact")
        sent = {mail["email_to"][0]: mail for mail in self._mails}
        for contact in self.contacts:
            mail = sent[contact.email_formatted]
            self.assertEqual(mail["subject"], f"Hello {contact.name}")
            self.assertIn(f"Step 1 for {contact.name}", mail["body"])
            self.assertEqual(mail["email_from"], self.user_sales.email_formatted)
        for enrollment in enrollments:
            self.assertEqual(enrollment.touch_ids.date, monday_0800)
            self.assertInWindow(enrollment.touch_ids.date)
            self.assertEqual(enrollment.step_id, sequence.step_ids[1])
            self.assertEqual(enrollment.next_run_at, monday_0800 + timedelta(days=2))
            self.assertIn(f"Hello {enrollment.partner_id.name}", enrollment.message_ids.mapped("subject"))
            self.assertTrue(
                any("Step 1" in body for body in enrollment.partner_id.message_ids.mapped("body")),
                "the send is logged on the contact's chatter",
            )

        wednesday_0800 = datetime(2026, 12, 9, 8, 0)
        with self.at(wednesday_0800):
            self.run_cron()
        for enrollment in enrollments:
            second = enrollment.touch_ids.filtered(lambda t: t.step_id == sequence.step_ids[1])
            self.assertEqual(second.subject, f"Re: Hello {enrollment.partner_id.name}")
            first_message = enrollment.touch_ids.sorted("date")[0].mail_message_id
            second_mail = self.env["mail.mail"].sudo().search([("mail_message_id", "=", second.mail_message_id.id)])
            self.assertIn(first_message.message_id, second_mail.references, "the follow-up threads under step 1")
            # Wednesday + 3 days is a Saturday: moved to Monday 09:00 Brussels.
            self.assertEqual(enrollment.next_run_at, datetime(2026, 12, 14, 8, 0))
            self.assertInWindow(enrollment.next_run_at)

        with self.at(datetime(2026, 12, 14, 8, 0)):
            self.run_cron()
        self.assertEqual(set(enrollments.mapped("state")), {"finished"})
        self.assertEqual(len(self.sequence_mails(enrollments)), 30)
        self.assertEqual(enrollments[0].touch_count, 3)
        self.assertFalse(any(enrollments.mapped("next_run_at")))
        self.assertTrue(all(enrollments.mapped("date_done")))
        self.assertEqual(sequence.enrollment_finished_count, 10)

    def test_delay_lands_outside_window_moves_to_next_opening(self):
        """Friday 16:30 + 1 day is Saturday: the step waits for Monday 09:00."""
        friday_1530 = datetime(2026, 12, 11, 15, 30)  # 16:30 Brussels, inside the window
        _sequence, enrollments = self._start_sequence(self.contacts[:2], when=friday_1530, delays=(0, 1))
        self.assertEqual(set(enrollments.mapped("next_run_at")), {friday_1530}, "step 1 leaves at once")
        with self.at(friday_1530):
            self.run_cron()
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 14, 8, 0)})

    def test_excluded_date_is_skipped(self):
        """Wednesday is a global leave of the calendar: step 2 goes out on Thursday at 09:00."""
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Company event",
                "calendar_id": self.calendar.id,
                "date_from": datetime(2026, 12, 8, 23, 0),  # Wednesday 00:00 Brussels
                "date_to": datetime(2026, 12, 9, 23, 0),
            }
        )
        _sequence, enrollments = self._start_sequence(self.contacts[:3])
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 10, 8, 0)})
        with self.at(datetime(2026, 12, 9, 12, 0)):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 3, "nothing leaves on the excluded date")

    def test_contact_timezone(self):
        """With use_contact_tz, 09:00 is the contact's 09:00; a contact without timezone gets the schedule's."""
        new_york, brussels, no_tz = self.contacts[:3]
        new_york.tz = "America/New_York"
        brussels.tz = "Europe/Brussels"
        no_tz.tz = False
        _sequence, enrollments = self._start_sequence(new_york | brussels | no_tz, use_contact_tz=True)
        by_contact = {enrollment.partner_id: enrollment for enrollment in enrollments}
        self.assertEqual(by_contact[new_york].next_run_at, datetime(2026, 12, 7, 14, 0))  # 09:00 EST
        self.assertEqual(by_contact[brussels].next_run_at, datetime(2026, 12, 7, 8, 0))
        self.assertEqual(by_contact[no_tz].next_run_at, datetime(2026, 12, 7, 8, 0))
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        self.assertEqual(by_contact[new_york].touch_count, 0, "still 03:00 in New York")
        self.assertEqual(by_contact[brussels].touch_count, 1)
        with self.at(datetime(2026, 12, 7, 14, 0)):
            self.run_cron()
        self.assertEqual(by_contact[new_york].touch_count, 1)
        self.assertInWindow(by_contact[new_york].touch_ids.date, ZoneInfo("America/New_York"))

    def test_randomized_send_time_is_inside_window_and_reproducible(self):
        _sequence, enrollments = self._start_sequence(randomize=True)
        times = enrollments.mapped("next_run_at")
        for moment in times:
            self.assertInWindow(moment)
        self.assertGreater(len(set(times)), 1, "contacts do not all get the same minute")
        with self.at(MONDAY_0700_UTC):
            enrollments._reschedule()
        self.assertEqual(enrollments.mapped("next_run_at"), times, "the same enrollment gets the same time")

        # 16:59:59 Brussels, the window's last second: every drawn time is due (at 16:59:00, a contact drawn at
        # 16:59:30 was not: which one depends on the enrollment ids, so on the tests run before).
        with self.at(datetime(2026, 12, 7, 15, 59, 59)):  # all due, sent at the end of the window
            self.run_cron()
        self.assertEqual(len(enrollments.touch_ids), 10)
        for enrollment in enrollments:
            # Step 2 (2 days later) goes at any moment of Wednesday's window, not only after 16:59.
            self.assertEqual(enrollment.next_run_at.date(), datetime(2026, 12, 9).date())
            self.assertInWindow(enrollment.next_run_at)
        self.assertTrue(any(e.next_run_at < datetime(2026, 12, 9, 12, 0) for e in enrollments))

    def test_randomized_sequence_still_sends_step_one_at_once_in_an_open_window(self):
        monday_1000 = datetime(2026, 12, 7, 10, 0)
        _sequence, enrollments = self._start_sequence(self.contacts[:3], when=monday_1000, randomize=True)
        self.assertEqual(set(enrollments.mapped("next_run_at")), {monday_1000})

    def test_daily_limit_queues_then_sends_next_day(self):
        """A mailbox sends at most daily_limit emails a day, across all the sequences sending from it."""
        sequence, enrollments = self._start_sequence(daily_limit=4)
        other, other_enrollments = self._start_sequence(
            self.contacts[:2], name="Second sequence, same mailbox", daily_limit=4
        )
        monday_0800 = datetime(2026, 12, 7, 8, 0)
        with self.at(monday_0800):
            self.run_cron()
        all_enrollments = enrollments | other_enrollments
        touches = all_enrollments.touch_ids
        self.assertEqual(len(touches), 4)
        self.assertEqual(set(touches.mapped("mailbox")), {"sally.sales@test.example.com"})
        queued = all_enrollments.filtered(lambda e: e.state == "queued")
        self.assertEqual(len(queued), 8)
        self.assertIn("Daily limit of 4 emails reached", queued[0].state_reason)
        self.assertEqual(set(queued.mapped("next_run_at")), {datetime(2026, 12, 8, 8, 0)})
        self.assertEqual(sequence.enrollment_queued_count + other.enrollment_queued_count, 8)

        with self.at(datetime(2026, 12, 7, 15, 0)):
            self.run_cron()
        self.assertEqual(len(all_enrollments.touch_ids), 4, "still Monday: nothing more")

        with self.at(datetime(2026, 12, 8, 8, 0)):
            self.run_cron()
        self.assertEqual(len(all_enrollments.touch_ids), 8)
        sent_tuesday = all_enrollments.touch_ids.filtered(lambda t: t.date.day == 8)
        self.assertEqual(len(sent_tuesday), 4)
        self.assertEqual(set(sent_tuesday.enrollment_id.mapped("state")), {"active"})

    def test_raising_the_daily_limit_releases_the_queued_and_send_now(self):
        sequence, enrollments = self._start_sequence(self.contacts[:5], daily_limit=2)
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        queued = enrollments.filtered(lambda e: e.state == "queued")
        self.assertEqual(len(queued), 3)
        self.assertIn("Daily limit of 2 emails", queued[0].state_reason)

        # Send Now within the limits: released to the next run, which queues them again (the limit still holds).
        with self.at(datetime(2026, 12, 7, 9, 0)):
            queued[:1].with_user(self.user_sales).action_send_now()
            self.assertEqual(queued[0].state, "active")
            self.assertEqual(queued[0].next_run_at, datetime(2026, 12, 7, 9, 0))
            self.run_cron()
        self.assertEqual(queued[0].state, "queued")
        self.assertFalse(queued[0].touch_ids)

        # Send Now ignoring the limits: that one goes at the next run.
        with self.at(datetime(2026, 12, 7, 9, 30)):
            queued[:1].with_user(self.user_sales).action_send_now_ignore_limits()
            self.run_cron()
        self.assertEqual(len(queued[0].touch_ids), 1)
        self.assertFalse(queued[0].limit_override)

        # The owner raises the limit: the others are evaluated again at the next slot, today, with the new limit.
        with self.at(datetime(2026, 12, 7, 10, 0)):
            sequence.daily_limit = 10
            rest = queued[1:]
            self.assertEqual(set(rest.mapped("state")), {"active"})
            self.assertNotIn("limit of 2", rest[0].state_reason)
            self.assertEqual(rest[0].next_run_at, datetime(2026, 12, 7, 10, 0))
            self.run_cron()
        self.assertEqual(len(rest.touch_ids), 2)

    def test_a_late_cron_never_sends_outside_the_window(self):
        """The cron was down all afternoon: at 19:00 the window is closed, so the steps wait for Tuesday 09:00."""
        _sequence, enrollments = self._start_sequence(self.contacts[:3])
        with self.at(datetime(2026, 12, 7, 18, 0)):  # 19:00 Brussels
            self.run_cron()
        self.assertFalse(enrollments.touch_ids)
        self.assertEqual(set(enrollments.mapped("state")), {"queued"})
        self.assertIn("send window closed", enrollments[0].state_reason)
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 8, 8, 0)})
        with self.at(datetime(2026, 12, 8, 8, 0)):
            self.run_cron()
        self.assertEqual(len(enrollments.touch_ids), 3)
        self.assertEqual(set(enrollments.mapped("state")), {"active"})

    def test_a_few_minutes_late_at_the_end_of_the_window_is_still_on_time(self):
        _sequence, enrollments = self._start_sequence(self.contacts[:1])
        enrollments.next_run_at = datetime(2026, 12, 7, 15, 58)  # 16:58 Brussels
        with self.at(datetime(2026, 12, 7, 16, 5)):  # woken at 17:05, the window just closed
            self.run_cron()
        self.assertEqual(enrollments.touch_count, 1)

    def test_template_error_blocks_one_contact_and_the_rest_is_sent(self):
        template = self.env["mail.template"].create(
            {
                "name": "Offer",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "Offer {{ object.ref.lower() }}",
                "body_html": '<p>Dear <t t-out="object.name"/></p>',
            }
        )
        self.contacts[3].ref = False
        sequence, enrollments = self._start_sequence()
        sequence.step_ids[0].mail_template_id = template
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        broken = enrollments.filtered(lambda e: e.partner_id == self.contacts[3])
        self.assertEqual(broken.state, "blocked")
        self.assertIn("could not be rendered", broken.state_reason)
        self.assertFalse(broken.touch_ids)
        others = enrollments - broken
        self.assertEqual(set(others.mapped("state")), {"active"})
        self.assertEqual(len(self.sequence_mails(others)), 9)
        self.assertEqual(others[0].touch_ids.subject, f"Offer {others[0].partner_id.ref.lower()}")

    def test_a_broken_schedule_blocks_its_sequence_only(self):
        own_calendar = self.calendar.copy({"name": "Soon emptied"})
        _broken, broken_enrollments = self._start_sequence(
            self.contacts[:2], name="Broken", calendar_id=own_calendar.id
        )
        _healthy, healthy_enrollments = self._start_sequence(self.contacts[2:4], name="Healthy")
        # Someone empties the calendar's working hours while the sequence runs.
        own_calendar.attendance_ids.unlink()
        with (
            self.at(datetime(2026, 12, 7, 8, 0)),
            mute_logger("odoo.addons.sales_sequence.models.sales_sequence_enrollment_run"),
        ):
            self.run_cron()
        self.assertEqual(set(broken_enrollments.mapped("state")), {"blocked"})
        self.assertIn("no send window", broken_enrollments[0].state_reason)
        self.assertEqual(len(healthy_enrollments.touch_ids), 2)

    def test_contact_without_valid_email_is_blocked(self):
        _sequence, enrollments = self._start_sequence(self.contacts[:3])
        self.contacts[0].email = "not-an-address"
        self.contacts[1].email = False
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        by_contact = {enrollment.partner_id: enrollment for enrollment in enrollments}
        self.assertEqual(by_contact[self.contacts[0]].state, "blocked")
        self.assertIn("'not-an-address' is invalid", by_contact[self.contacts[0]].state_reason)
        self.assertEqual(by_contact[self.contacts[1]].state, "blocked")
        self.assertIn("no email address", by_contact[self.contacts[1]].state_reason)
        self.assertEqual(by_contact[self.contacts[2]].touch_count, 1)

        # Fixed and resumed: it runs at the next slot.
        self.contacts[0].email = "fixed@customer.example.com"
        with self.at(datetime(2026, 12, 7, 9, 0)):
            by_contact[self.contacts[0]].action_resume()
            self.assertEqual(by_contact[self.contacts[0]].state, "active")
            self.run_cron()
        self.assertEqual(by_contact[self.contacts[0]].touch_count, 1)

    def test_plain_text_part_has_no_tracking_pixel_and_no_none_link(self):
        sequence, enrollments = self._start_sequence(self.contacts[:1], tracking_enabled=True)
        # What the editor writes after a link edit in a draft: the label inside a span.
        sequence.step_ids[
            0
        ].body_html = '<p>have a look at <a href="https://demo.example.com/tour"><span>our demo</span></a> today</p>'
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        mail = self.sequence_mails(enrollments)
        [values] = mail._prepare_outgoing_list()
        self.assertIn("/sales_sequence/o/", values["body"], "the HTML part keeps the open pixel")
        text = values["body_alternative"]
        self.assertNotIn("Image [", text)
        self.assertNotIn("/sales_sequence/o/", text)
        self.assertNotIn("None [", text)
        self.assertIn("our demo [1]", text)

    def _blocked_activities(self, sequence):
        return self.env["mail.activity"].search(
            [
                ("res_model", "=", "sales.sequence"),
                ("res_id", "=", sequence.id),
                ("summary", "=", "Blocked enrollments"),
            ]
        )

    def test_blocked_enrollments_tell_the_owner_once_per_sequence_and_show_on_the_card(self):
        sequence, enrollments = self._start_sequence(self.contacts[:4])
        self.contacts[0].email = "not-an-address"
        self.contacts[1].email = False
        self.contacts[2].email = False
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        activity = self._blocked_activities(sequence)
        self.assertEqual(len(activity), 1, "one activity for the sequence, not one per enrollment")
        self.assertEqual(activity.user_id, sequence.user_id)
        self.assertIn("3 enrollments were blocked", str(activity.note))
        self.assertIn("2: The contact has no email address", str(activity.note))
        self.assertEqual(sequence.enrollment_blocked_count, 3)
        kanban = self.env["sales.sequence"].get_views([(False, "kanban")])["views"]["kanban"]["arch"]
        self.assertIn("enrollment_blocked_count", kanban)
        blocked_menu = self.env.ref("sales_sequence.action_sales_sequence_enrollment_blocked")
        self.assertEqual(
            self.env["sales.sequence.enrollment"].search_count(literal_eval(blocked_menu.domain)),
            3,
        )

        # A later run that blocks another one updates the open activity instead of adding a second.
        enrollments.filtered(lambda e: e.partner_id == self.contacts[3]).next_run_at = datetime(2026, 12, 8, 8, 0)
        self.contacts[3].email = False
        with self.at(datetime(2026, 12, 8, 8, 0)):
            self.run_cron()
        activity = self._blocked_activities(sequence)
        self.assertEqual(len(activity), 1)
        self.assertIn("1 enrollments were blocked", str(activity.note))

        # A run that blocks nothing says nothing.
        activity.action_feedback()
        with self.at(datetime(2026, 12, 9, 8, 0)):
            self.run_cron()
        self.assertFalse(self._blocked_activities(sequence))

    def test_cron_twice_in_the_same_minute_never_sends_twice(self):
        _sequence, enrollments = self._start_sequence()
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
            self.run_cron()
            self.env["sales.sequence.enrollment"]._cron_run_sequences()
        self.assertEqual(len(self.sequence_mails(enrollments)), 10)
        self.assertEqual(len(enrollments.touch_ids), 10)

    def test_pause_and_resume(self):
        sequence, enrollments = self._start_sequence(self.contacts[:4])
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        with self.at(datetime(2026, 12, 8, 10, 0)):
            sequence.action_pause()
        self.assertEqual(sequence.state, "paused")
        self.assertEqual(set(enrollments.mapped("state")), {"paused"})
        self.assertEqual(set(enrollments.step_id.mapped("name")), {"Step 2"}, "paused where they were")
        with self.at(datetime(2026, 12, 9, 8, 0)):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 4, "a paused sequence sends nothing")

        thursday_1000 = datetime(2026, 12, 10, 10, 0)  # 11:00 Brussels
        with self.at(thursday_1000):
            sequence.action_resume()
            self.assertEqual(set(enrollments.mapped("state")), {"active"})
            self.assertEqual(set(enrollments.mapped("next_run_at")), {thursday_1000}, "overdue: next slot, now")
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 8)
        self.assertEqual(set(enrollments.step_id.mapped("name")), {"Step 3"})

    def test_enrolling_inside_an_open_window_wakes_the_cron(self):
        monday_1000 = datetime(2026, 12, 7, 10, 0)
        with self.at(monday_1000), self.capture_triggers("sales_sequence.ir_cron_run_sequences") as capture:
            self._start_sequence(self.contacts[:2], when=monday_1000)
        self.assertIn(monday_1000, capture.records.mapped("call_at"))

    def test_cron_wake_ups_are_rounded_up_to_five_minutes(self):
        monday_1002 = datetime(2026, 12, 7, 10, 2, 30)
        with self.at(monday_1002), self.capture_triggers("sales_sequence.ir_cron_run_sequences") as capture:
            self._start_sequence(self.contacts[:2], when=monday_1002)
        self.assertEqual(capture.records.mapped("call_at"), [datetime(2026, 12, 7, 10, 5)])

    def test_progress_is_reported_in_batches(self):
        _sequence, enrollments = self._start_sequence()
        with self.at(datetime(2026, 12, 7, 8, 0)):
            done = self.env["sales.sequence.enrollment"]._cron_run_sequences(batch_size=4, chunk_size=3)
            self.assertEqual(done, 4)
            self.assertEqual(len(enrollments.touch_ids), 4)
            self.assertEqual(self.env["sales.sequence.enrollment"]._count_due(datetime(2026, 12, 7, 8, 0)), 6)
            self.env["sales.sequence.enrollment"]._cron_run_sequences(batch_size=100)
        self.assertEqual(len(enrollments.touch_ids), 10)
