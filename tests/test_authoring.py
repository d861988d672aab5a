from datetime import datetime

from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from ..models.sales_sequence import DEFAULT_DAILY_LIMIT
from .common import MONDAY_0700_UTC, SalesSequenceCommon

MONDAY_0800_UTC = datetime(2026, 12, 7, 8, 0)  # 09:00 in Brussels: the window is open


@tagged("post_install", "-at_install", "sales_sequence")
class TestPlaceholders(SalesSequenceCommon):
    """One placeholder language in subject and body, and errors that name what broke."""

    def _run_first_step(self, body, contacts=None):
        contacts = contacts or self.contacts[:2]
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(delays=(0,))
            sequence.step_ids.body_html = body
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(contacts)
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        return sequence, enrollments

    def test_inline_placeholder_in_the_body_renders(self):
        sequence, enrollments = self._run_first_step(
            "<p>Hello {{ object.name }}, nice to meet you. "
            '<a href="https://example.com/c/{{ object.ref }}">Yours</a></p>'
        )
        self.assertIn('<t t-out="object.name"', sequence.step_ids.body_html, "stored as the editor's placeholder")
        for enrollment in enrollments:
            mail = self.sequence_mails(enrollment)
            self.assertEqual(len(mail), 1)
            contact = enrollment.partner_id
            self.assertIn(f"Hello {contact.name}, nice to meet you.", mail.body_html)
            self.assertIn(f"https://example.com/c/{contact.ref}", mail.body_html)
            self.assertNotIn("{{", mail.body_html)

    def test_placeholder_written_around_the_orm_still_renders(self):
        """A body that reaches the table without the ORM's write (SQL, an older version) renders too."""
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(delays=(0,))
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:1])
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE sales_sequence_step SET body_html = %s WHERE id = %s",
            ['{"en_US": "<p>Dear {{ object.name }}</p>"}', sequence.step_ids.id],
        )
        self.env.invalidate_all()
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertIn(f"Dear {self.contacts[0].name}", self.sequence_mails(enrollments).body_html)

    def test_qweb_placeholder_still_renders(self):
        _sequence, enrollments = self._run_first_step('<p>Hi <t t-out="object.name"/></p>')
        self.assertIn(f"Hi {enrollments[0].partner_id.name}", self.sequence_mails(enrollments[0]).body_html)

    def test_render_error_names_step_placeholder_and_cause(self):
        self.contacts[1].ref = False
        _sequence, enrollments = self._run_first_step("<p>Code {{ object.ref.lower() }}</p>")
        ok, broken = enrollments
        self.assertEqual(ok.state, "finished", "the other contact got the email")
        self.assertEqual(broken.state, "blocked")
        self.assertIn("Step 'Step 1'", broken.state_reason)
        self.assertIn("{{ object.ref.lower() }}", broken.state_reason)
        self.assertIn("Body", broken.state_reason)
        self.assertIn("'bool' object has no attribute 'lower'", broken.state_reason)
        self.assertNotIn("Traceback", broken.state_reason)

    def test_inline_placeholder_is_judged_as_code_for_restricted_editors(self):
        """{{ }} in a body runs as QWeb: a user who may not write dynamic code may not write it there either."""
        editor_group = self.env.ref("mail.group_mail_template_editor")
        self.env.ref("base.group_user").implied_ids -= editor_group
        editor_group.users -= self.user_sales
        sequence = self._create_sequence(delays=(0,))
        step = sequence.step_ids.with_user(self.user_sales)
        step.body_html = "<p>Plain field: {{ object.name }}</p>"  # a field path is allowed
        with self.assertRaises(AccessError):
            step.body_html = "<p>{{ object.env['res.users'].search([]) }}</p>"


@tagged("post_install", "-at_install", "sales_sequence")
class TestPreviewAndTest(SalesSequenceCommon):
    def _preview(self, step, partner):
        return (
            self.env["sales.sequence.step.preview"]
            .with_user(self.user_sales)
            .with_context(default_step_id=step.id)
            .create({"partner_id": partner.id})
        )

    def test_preview_renders_subject_and_body_for_the_chosen_contact(self):
        sequence = self._create_sequence()
        first, second, _third = sequence.step_ids
        first.body_html = "<p>Hello {{ object.name }}</p>"
        preview = self._preview(first, self.contacts[2])
        self.assertEqual(preview.subject, f"Hello {self.contacts[2].name}")
        self.assertIn(f"Hello {self.contacts[2].name}", preview.body_html)
        self.assertFalse(preview.error)
        reply = self._preview(second, self.contacts[2])
        self.assertEqual(reply.subject, f"Re: Hello {self.contacts[2].name}", "a reply answers step 1's subject")

    def test_preview_shows_the_render_error(self):
        sequence = self._create_sequence(delays=(0,))
        sequence.step_ids.body_html = "<p>{{ object.parent_id.name.upper() }}</p>"
        preview = self._preview(sequence.step_ids, self.contacts[0])
        self.assertIn("{{ object.parent_id.name.upper() }}", preview.error)
        self.assertIn("'bool' object has no attribute 'upper'", preview.error)

    def test_preview_defaults_to_an_enrolled_contact(self):
        sequence = self._create_sequence(delays=(0,))
        sequence._enroll_partners(self.contacts[4])
        preview = (
            self.env["sales.sequence.step.preview"]
            .with_user(self.user_sales)
            .with_context(default_step_id=sequence.step_ids.id)
            .create({})
        )
        self.assertEqual(preview.partner_id, self.contacts[4])

    def test_send_a_test_goes_through_the_mail_queue_and_touches_no_enrollment(self):
        sequence = self._create_sequence(delays=(0,))
        sequence.step_ids.body_html = "<p>Hello {{ object.name }}</p>"
        sequence.action_activate()
        enrollments, _refusals = sequence._enroll_partners(self.contacts[:1])
        preview = self._preview(sequence.step_ids, self.contacts[0])
        with self.mock_mail_gateway():
            action = preview.action_send_test()
            self.assertEqual(action["params"]["type"], "success")
            queued = self.env["mail.mail"].sudo().search([("subject", "like", "[TEST]%")])
            self.assertEqual(len(queued), 1)
            self.assertEqual(queued.state, "outgoing", "the test waits in Odoo's mail queue like a real send")
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(len(self._mails), 1)
        sent = self._mails[0]
        self.assertEqual(sent["subject"], f"[TEST] Hello {self.contacts[0].name}")
        self.assertEqual(sent["email_to"], [self.user_sales.email_formatted])
        self.assertIn(f"Hello {self.contacts[0].name}", sent["body"])
        self.assertFalse(enrollments.touch_ids, "a test is not a step run")
        self.assertFalse(self.sequence_mails(enrollments))
        self.assertEqual(enrollments.step_id, sequence.step_ids)

    def test_send_a_test_needs_the_users_email(self):
        sequence = self._create_sequence(delays=(0,))
        preview = self._preview(sequence.step_ids, self.contacts[0])
        self.user_sales.email = False
        with self.assertRaises(UserError) as caught:
            preview.action_send_test()
        self.assertIn("Email", str(caught.exception))


@tagged("post_install", "-at_install", "sales_sequence")
class TestEnrollWizard(SalesSequenceCommon):
    def _wizard(self, sequence, partners):
        return (
            self.env["sales.sequence.enroll.wizard"]
            .with_user(self.user_sales)
            .with_context(active_model="res.partner", active_ids=partners.ids)
            .create({"sequence_id": sequence.id})
        )

    def test_contact_without_email_is_kept_and_reported(self):
        sequence = self._create_sequence()
        sequence.action_activate()
        no_email = self.env["res.partner"].create({"name": "Nobody At All"})
        wizard = self._wizard(sequence, no_email)
        self.assertEqual(wizard.partner_ids, no_email, "the contact stays chosen")
        action = wizard.action_enroll()
        self.assertEqual(action["res_model"], wizard._name, "the result dialog opens")
        self.assertEqual(wizard.enrolled_count, 0)
        self.assertEqual(wizard.result_line_ids.partner_id, no_email)
        self.assertIn("has no email address", wizard.result_line_ids.reason)

    def test_wizard_view_does_not_force_an_email_on_contacts(self):
        arch = self.env["sales.sequence.enroll.wizard"].get_view(
            self.env.ref("sales_sequence.view_sales_sequence_enroll_wizard_form").id
        )["arch"]
        self.assertNotIn("many2many_tags_email", arch)

    def test_enrolling_in_a_draft_or_paused_sequence_says_when_they_start(self):
        draft = self._create_sequence(name="Draft one")
        wizard = self._wizard(draft, self.contacts[:2])
        action = wizard.action_enroll()
        self.assertEqual(action["res_model"], wizard._name)
        self.assertIn("2 contact(s) enrolled", wizard.result_message)
        self.assertIn("draft: nothing is sent until you activate it", wizard.result_message)

        paused = self._create_sequence(name="Paused one")
        paused.action_activate()
        paused.action_pause()
        wizard = self._wizard(paused, self.contacts[2:3])
        wizard.action_enroll()
        self.assertIn("paused: they start when you resume it", wizard.result_message)

    def test_enrolling_in_an_active_sequence_says_when_step_one_goes(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            sequence.action_activate()
            action = self._wizard(sequence, self.contacts[:1]).action_enroll()
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("Step 1 goes out from 2026-12-07 09:00 (Europe/Brussels)", action["params"]["message"])

    def test_the_first_send_is_said_in_the_readers_timezone(self):
        self.user_sales.tz = "Europe/Brussels"
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(tz="UTC")
            sequence.action_activate()
            action = self._wizard(sequence, self.contacts[:1]).with_user(self.user_sales).action_enroll()
        self.assertIn("(Europe/Brussels)", action["params"]["message"])
        self.assertNotIn("(UTC)", action["params"]["message"])

    def test_contacts_active_in_another_sequence_are_pointed_out(self):
        other = self._create_sequence(name="Other outreach")
        other.action_activate()
        other._enroll_partners(self.contacts[:1])
        sequence = self._create_sequence(name="Second outreach")
        sequence.action_activate()
        wizard = self._wizard(sequence, self.contacts[:2])
        self.assertEqual(wizard.other_sequences_warning, f"{self.contacts[0].name} is already in Other outreach")
        action = wizard.action_enroll()
        self.assertEqual(action["res_model"], wizard._name, "the warning is shown with the result")
        self.assertEqual(wizard.enrolled_count, 2)
        self.assertTrue(wizard.other_sequences_warning)

    def test_every_refusal_is_listed(self):
        sequence = self._create_sequence()
        sequence.action_activate()
        sequence._enroll_partners(self.contacts[:1])
        bad = self.env["res.partner"].create({"name": "Bad Email", "email": "bad@"})
        none = self.env["res.partner"].create({"name": "No Email"})
        wizard = self._wizard(sequence, self.contacts[:2] | bad | none)
        wizard.action_enroll()
        self.assertEqual(wizard.enrolled_count, 1)
        self.assertEqual(wizard.result_line_ids.partner_id, self.contacts[0] | bad | none)


@tagged("post_install", "-at_install", "sales_sequence")
class TestFirstUseDefects(SalesSequenceCommon):
    def test_names_are_unique_ignoring_case_and_spaces(self):
        first = self._create_sequence(name="  Newcomer Test  ")
        self.assertEqual(first.name, "Newcomer Test", "surrounding spaces are dropped")
        for same in ("NEWCOMER TEST", "newcomer test ", " Newcomer test"):
            with self.assertRaises(ValidationError) as caught:
                self._create_sequence(name=same)
            self.assertIn("Name:", str(caught.exception))
            self.assertIn(f"'{same.strip()}' already exists", str(caught.exception))
        other = self._create_sequence(name="Another")
        with self.assertRaises(ValidationError):
            other.name = "newcomer TEST"
        other.name = " Another "  # its own name, re-saved
        self.assertEqual(other.name, "Another")

    def test_name_index_stops_what_the_check_cannot_see(self):
        self._create_sequence(name="Raced name")
        self.env.flush_all()
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env.cr.execute(
                "INSERT INTO sales_sequence (name, company_id, user_id, calendar_id, state, sequence_type, "
                "daily_limit, active) SELECT ' RACED NAME', company_id, user_id, calendar_id, state, sequence_type, "
                "daily_limit, active FROM sales_sequence WHERE name = 'Raced name'"
            )

    def test_step_delay_out_of_range_is_refused_naming_the_step(self):
        sequence = self._create_sequence()
        for delay in (400, -3):
            with self.assertRaises(ValidationError) as caught:
                sequence.step_ids[1].delay_days = delay
            message = str(caught.exception)
            self.assertIn("Step 'Step 2'", message)
            self.assertIn("between 0 and 365", message)
            self.assertIn(str(delay), message)

    def test_step_dialog_clamps_the_delay_and_says_why(self):
        sequence = self._create_sequence()
        step = self.env["sales.sequence.step"].new({"sequence_id": sequence.id, "name": "Late", "delay_days": 400})
        result = step._onchange_delay_days()
        self.assertEqual(step.delay_days, 365)
        self.assertIn("Step 'Late'", result["warning"]["message"])
        self.assertIn("400", result["warning"]["message"])
        step.delay_days = -3
        step._onchange_delay_days()
        self.assertEqual(step.delay_days, 0)

    def test_resume_keeps_a_reason(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
            self.assertEqual(enrollments[0].state_reason, "Waiting for step 1 'Step 1'.")
            sequence.action_pause()
            sequence.action_resume()
            self.assertEqual(set(enrollments.mapped("state_reason")), {"Waiting for step 1 'Step 1'."})
            enrollments[0].action_pause()
            enrollments[0].action_resume()
            self.assertEqual(enrollments[0].state_reason, "Waiting for step 1 'Step 1'.")
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
            enrollments[1].action_pause()
            enrollments[1].action_resume()
        self.assertEqual(enrollments[1].state_reason, "Waiting for step 2 'Step 2'.")

    def test_canceled_enrollment_has_no_next_step(self):
        sequence = self._create_sequence()
        sequence.action_activate()
        enrollment, _refusals = sequence._enroll_partners(self.contacts[:1])
        self.assertTrue(enrollment.step_id)
        enrollment.action_cancel()
        self.assertEqual(enrollment.state, "canceled")
        self.assertFalse(enrollment.step_id)
        self.assertFalse(enrollment.next_run_at)

    def test_first_step_starts_the_thread_whatever_its_mode(self):
        sequence = self._create_sequence(delays=(0, 1))
        first, second = sequence.step_ids
        self.assertTrue(first.is_first_step)
        self.assertFalse(second.is_first_step)
        first.thread_mode = "reply"
        self.assertFalse(first._reuses_thread_subject())
        sequence.action_activate()  # step 1 in reply mode still needs and uses its own subject

    def test_smart_type_is_offered_now_that_it_runs(self):
        arch = self.env["sales.sequence"].get_view(self.env.ref("sales_sequence.view_sales_sequence_form").id)["arch"]
        self.assertIn('name="sequence_type"', arch)
        self.assertIn('name="audience_ids"', arch, "audiences enroll people now: they are shown")
        smart = self._create_sequence(sequence_type="smart")
        with self.at(MONDAY_0700_UTC):
            smart.action_activate()
        self.assertEqual(smart.state, "active")

    def test_defaults_send_schedule_timezone_and_daily_limit(self):
        self.user_sales.tz = "Europe/Brussels"
        sequence = self.env["sales.sequence"].with_user(self.user_sales).create({"name": "Defaults"})
        calendar = sequence.calendar_id
        self.assertEqual(calendar, self.env.ref("sales_sequence.resource_calendar_send_hours"))
        self.assertEqual(
            sorted((int(a.dayofweek), a.hour_from, a.hour_to) for a in calendar.attendance_ids),
            [(day, 9.0, 17.0) for day in range(5)],
        )
        self.assertEqual(sequence.tz, "Europe/Brussels", "the owner's timezone")
        self.assertEqual(sequence.daily_limit, DEFAULT_DAILY_LIMIT)
        sequence.step_ids = [Command.create({"name": "Hi", "subject": "Hi", "body_html": "<p>Hi</p>"})]
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            enrollment, _refusals = sequence._enroll_partners(self.contacts[:1])
        self.assertEqual(enrollment.next_run_at, MONDAY_0800_UTC, "09:00 in the owner's Brussels")

    def test_each_company_gets_its_default_calendar_once(self):
        company = self.env["res.company"].create({"name": "Second Company"})
        sequence_model = self.env["sales.sequence"]
        calendar = sequence_model._get_default_calendar(company)
        self.assertEqual(calendar.company_id, company)
        self.assertEqual(sequence_model._get_default_calendar(company), calendar)
        self.assertNotEqual(calendar, sequence_model._get_default_calendar(self.env.ref("base.main_company")))

    def test_timezone_falls_back_to_the_calendar(self):
        sequence = self._create_sequence()  # owner without a timezone
        self.assertFalse(self.user_sales.tz)
        self.assertEqual(sequence.tz, "Europe/Brussels")

    def test_buttons_confirm_what_they_did(self):
        sequence = self._create_sequence(name="Feedback")
        for method, words in (
            ("action_activate", "is active"),
            ("action_pause", "is paused"),
            ("action_resume", "resumed"),
        ):
            action = getattr(sequence, method)()
            self.assertEqual(action["tag"], "display_notification")
            self.assertIn("'Feedback'", action["params"]["message"])
            self.assertIn(words, action["params"]["message"])
            self.assertEqual(action["params"]["next"], {"type": "ir.actions.act_window_close"})

    def test_search_has_a_completed_filter_and_status_labels(self):
        Enrollment = self.env["sales.sequence.enrollment"]
        arch = Enrollment.get_view(self.env.ref("sales_sequence.view_sales_sequence_enrollment_search").id)["arch"]
        self.assertIn('name="filter_completed"', arch)
        self.assertEqual(Enrollment._fields["state"].string, "Status")
        self.assertEqual(self.env["sales.sequence"]._fields["state"].string, "Status")

    def test_finished_button_opens_finished_and_completed(self):
        sequence = self._create_sequence()
        action = sequence.with_context(enrollment_state="finished,completed").action_view_enrollments()
        self.assertEqual(action["context"]["search_default_filter_finished"], 1)
        self.assertEqual(action["context"]["search_default_filter_completed"], 1)

    def test_step_form_offers_dynamic_placeholders(self):
        sequence = self._create_sequence(delays=(0,))
        with Form(sequence.step_ids) as form:
            self.assertEqual(form.render_model, "res.partner")
        arch = self.env["sales.sequence.step"].get_view(
            self.env.ref("sales_sequence.view_sales_sequence_step_form").id
        )["arch"]
        self.assertIn("dynamic_placeholder", arch)
