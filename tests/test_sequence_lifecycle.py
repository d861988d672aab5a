import re
from datetime import datetime
from pathlib import Path

from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from ..models.sales_sequence_enrollment import ENROLLMENT_STATES
from .common import MONDAY_0700_UTC, SalesSequenceCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceLifecycle(SalesSequenceCommon):
    def test_activation_lists_every_problem_at_once(self):
        no_window = self.env["resource.calendar"].create(
            {"name": "No hours", "tz": "UTC", "attendance_ids": [Command.clear()]}
        )
        owner_without_email = self.user_sales_2
        owner_without_email.email = False
        sequence = self._create_sequence(user=owner_without_email, calendar_id=no_window.id)
        sequence.step_ids[0].write({"subject": False, "body_html": False})
        empty = self._create_sequence(user=owner_without_email, name="Empty", delays=())
        with self.assertRaises(UserError) as caught:
            (sequence | empty).action_activate()
        message = str(caught.exception)
        self.assertIn("Step 1 'Step 1': fill the Subject", message)
        self.assertIn("Step 1 'Step 1': write the Body", message)
        self.assertIn("Send From: no sender address", message)
        self.assertIn("send window", message)
        self.assertIn("Sequence 'Empty' cannot be activated", message)
        self.assertIn("Steps: add at least one step.", message)
        self.assertEqual(set((sequence | empty).mapped("state")), {"draft"})

    def test_reply_steps_need_no_subject_and_a_template_replaces_content(self):
        sequence = self._create_sequence()
        template = self.env["mail.template"].create(
            {
                "name": "T",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "S",
                "body_html": "<p>B</p>",
            }
        )
        sequence.step_ids[1].write({"body_html": False, "mail_template_id": template.id})
        sequence.action_activate()
        self.assertEqual(sequence.state, "active")

    def test_name_unique_per_company(self):
        self._create_sequence(name="Same name")
        with self.assertRaises(ValidationError):
            self._create_sequence(name="Same name")

    def test_draft_enrollments_start_on_activation(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
            self.assertEqual(set(enrollments.mapped("state")), {"draft"})
            self.assertFalse(any(enrollments.mapped("next_run_at")))
            sequence.action_activate()
        self.assertEqual(set(enrollments.mapped("state")), {"active"})
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 7, 8, 0)})

    def test_enroll_refusals_are_reported_per_contact(self):
        sequence = self._create_sequence()
        sequence.action_activate()
        no_email = self.env["res.partner"].create({"name": "No Email"})
        bad_email = self.env["res.partner"].create({"name": "Bad Email", "email": "bad@"})
        sequence._enroll_partners(self.contacts[:1])
        wizard = (
            self.env["sales.sequence.enroll.wizard"]
            .with_user(self.user_sales)
            .with_context(active_model="res.partner", active_ids=(self.contacts[:3] | no_email | bad_email).ids)
            .create({"sequence_id": sequence.id})
        )
        self.assertEqual(len(wizard.partner_ids), 5)
        action = wizard.action_enroll()
        self.assertEqual(action["res_model"], "sales.sequence.enroll.wizard", "refusals keep the wizard open")
        self.assertEqual(wizard.enrolled_count, 2)
        self.assertEqual(wizard.refused_count, 3)
        reasons = {line.partner_id: line.reason for line in wizard.result_line_ids}
        self.assertIn("already enrolled", reasons[self.contacts[0]])
        self.assertIn("has no email address", reasons[no_email])
        self.assertIn("invalid email address 'bad@'", reasons[bad_email])
        self.assertEqual(sequence.enrollment_count, 3)

    def test_enroll_from_sequence_button(self):
        sequence = self._create_sequence()
        sequence.action_activate()
        action = sequence.action_open_enroll_wizard()
        form = Form(self.env["sales.sequence.enroll.wizard"].with_context(**action["context"]))
        form.partner_ids.add(self.contacts[0])
        result = form.save().action_enroll()
        self.assertEqual(result["tag"], "display_notification")
        self.assertEqual(sequence.enrollment_active_count, 1)

    def test_a_contact_is_open_in_a_sequence_once(self):
        sequence = self._create_sequence()
        enrollment = self.env["sales.sequence.enrollment"].create(
            {"sequence_id": sequence.id, "partner_id": self.contacts[0].id}
        )
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env["sales.sequence.enrollment"].create(
                {"sequence_id": sequence.id, "partner_id": self.contacts[0].id}
            )
            self.env.flush_all()
        enrollment.action_cancel()
        again, refusals = sequence._enroll_partners(self.contacts[0])
        self.assertFalse(refusals, "a canceled enrollment does not prevent a new one")
        self.assertEqual(len(again), 1)

    def test_step_changes_apply_to_steps_not_yet_run(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(delays=(0, 2, 3))
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        step_1, step_2, step_3 = sequence.step_ids
        # A template edited later applies to the next sends.
        step_3.body_html = '<p>Edited last step for <t t-out="object.name"/></p>'
        # The waiting step's delay changes: its send date moves.
        with self.at(datetime(2026, 12, 7, 9, 0)):
            step_2.delay_days = 1
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 8, 8, 0)})
        # Removing the waiting step moves the enrollments to the next one, timed from the last send.
        with self.at(datetime(2026, 12, 7, 9, 0)):
            step_2.unlink()
        self.assertEqual(enrollments.step_id, step_3)
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 10, 8, 0)})
        # A step added before the current position is not run for those already past it.
        new_first = self.env["sales.sequence.step"].create(
            {"sequence_id": sequence.id, "sequence": 1, "name": "New first", "subject": "N", "body_html": "<p>N</p>"}
        )
        self.assertEqual(sequence.step_ids[0], new_first)
        with self.at(datetime(2026, 12, 10, 8, 0)):
            self.run_cron()
        self.assertEqual(set(enrollments.mapped("state")), {"finished"})
        self.assertEqual(enrollments[0].touch_ids.step_id, step_1 | step_3)
        last = enrollments[0].touch_ids.filtered(lambda t: t.step_id == step_3).mail_message_id
        self.assertIn("Edited last step", last.body)

    def test_manual_pause_resume_and_unenroll(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
            first, second = enrollments
            first.with_user(self.user_sales).action_pause()
            second.with_user(self.user_sales).action_cancel()
        self.assertEqual(first.state, "paused")
        self.assertIn("Paused by Sally Sales", first.state_reason)
        self.assertEqual(second.state, "canceled")
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        self.assertFalse(self.sequence_mails(enrollments))
        with self.at(datetime(2026, 12, 7, 9, 0)):
            first.action_resume()
            self.run_cron()
        self.assertEqual(first.touch_count, 1)
        self.assertEqual(second.touch_count, 0)
        # Resuming the sequence does not resume what a salesperson paused by hand.
        first.action_pause()
        sequence.action_pause()
        sequence.action_resume()
        self.assertEqual(first.state, "paused")

    def test_only_the_contact_receives_the_emails(self):
        """Whoever enrolls a contact does not follow the enrollment, so gets no copy of its emails."""
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            sequence.action_activate()
            enrollment = (
                self.env["sales.sequence.enrollment"]
                .with_user(self.user_sales)
                .create({"sequence_id": sequence.id, "partner_id": self.contacts[0].id})
            )
            enrollment._start()
        self.assertFalse(enrollment.message_partner_ids)
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        mail = self.sequence_mails(enrollment)
        self.assertEqual(mail.recipient_ids, self.contacts[0])

    def test_duplicate_gets_a_new_name(self):
        sequence = self._create_sequence(name="Original")
        copy = sequence.copy()
        self.assertEqual(copy.name, "Original (copy)")
        self.assertEqual(len(copy.step_ids), 3)
        self.assertEqual(copy.state, "draft")

    def test_enrolled_while_paused_starts_on_resume(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            sequence.action_activate()
            sequence.action_pause()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
            self.assertEqual(set(enrollments.mapped("state")), {"paused"})
            sequence.action_resume()
        self.assertEqual(set(enrollments.mapped("state")), {"active"})
        self.assertEqual(enrollments.step_id, sequence.step_ids[0])
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 7, 8, 0)})

    def test_schedule_change_moves_waiting_steps(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence()
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
            later = self.calendar.copy({"name": "Afternoons", "tz": "Europe/Brussels"})
            later.attendance_ids.write({"hour_from": 14})
            sequence.calendar_id = later
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 7, 13, 0)})

    def test_enrollment_state_is_written_by_the_transitions_only(self):
        """Outside models/sales_sequence_enrollment.py, no code sets an enrollment state itself: every change goes
        through a named transition (_activate, _queue, _block, _pause, _finish, _end...). sales_sequence.py is left
        out: the sequence's own states share the names active and paused."""
        addon = Path(__file__).resolve().parent.parent
        values = "|".join(state for state, _label in ENROLLMENT_STATES)
        # A values key ("state": "paused", "state": state) or an assignment (enrollment.state = "active").
        literal = re.compile(
            rf"""["']state["']\s*:\s*(["']({values})["']|state\b)"""
            rf"""|^\s*[\w.]+\.state\s*=\s*["']({values})["']"""
        )
        skipped = {"sales_sequence_enrollment.py", "sales_sequence.py"}
        offending = [
            f"{path.relative_to(addon)}:{number}: {line.strip()}"
            for folder in ("models", "wizards", "controllers")
            for path in sorted((addon / folder).glob("*.py"))
            if path.name not in skipped
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if literal.search(line)
        ]
        self.assertEqual(offending, [])
