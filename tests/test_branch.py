import base64
import json
from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .common import MONDAY_0700_UTC
from .test_step_types import MONDAY_0800_UTC, StepTypesCommon


class BranchCommon(StepTypesCommon):
    def _branch_sequence(self, condition, yes, no, steps):
        """A classic sequence of `steps` (values), then the branch's targets set by name."""
        sequence = self._mixed_sequence(steps)
        branch = sequence.step_ids.filtered(lambda s: s.step_type == "branch")
        by_name = {step.name: step for step in sequence.step_ids}
        branch.write(
            {
                "condition_ids": [Command.create(condition)],
                "branch_yes_step_id": by_name[yes].id if yes else False,
                "branch_no_step_id": by_name[no].id if no else False,
            }
        )
        return sequence


@tagged("post_install", "-at_install", "sales_sequence")
class TestCallOutcome(BranchCommon):
    def test_required_outcome_is_logged_stored_and_branched_on(self):
        connected = self.env.ref("sales_sequence.call_outcome_connected")
        no_answer = self.env.ref("sales_sequence.call_outcome_no_answer")
        sequence = self._branch_sequence(
            {"condition_type": "call_outcome", "call_outcome_ids": [Command.set(connected.ids)]},
            "Thanks",
            "Missed",
            [
                {"name": "Call", "step_type": "call", "activity_summary": "Intro call", "require_call_outcome": True},
                {"name": "Reached?", "step_type": "branch"},
                {"name": "Thanks", "delay_days": 1},
                {"name": "Missed", "delay_days": 2},
            ],
        )
        enrollments = self._start(sequence)
        self._run_at(MONDAY_0800_UTC)
        first, second = enrollments
        call = first.partner_id.activity_ids
        self.assertEqual(call.sales_sequence_call, "required")
        with self.assertRaisesRegex(UserError, "Call Outcome"):
            call.with_user(self.user_sales).action_done()
        # The activity's form (the chatter's pencil) shows the outcome; its Mark as Done button then goes.
        with Form(call.with_user(self.user_sales), view="mail.mail_activity_view_form_popup") as form:
            form.sales_sequence_call_outcome_id = connected
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            call.with_user(self.user_sales).action_done()
            second_call = second.partner_id.activity_ids
            second_call.with_user(self.user_sales).write({"sales_sequence_call_outcome_id": no_answer.id})
            second_call.with_user(self.user_sales).action_done()
        self.assertEqual(first.touch_ids.call_outcome_id, connected)
        done = self._events(first, "activity_done")
        self.assertEqual(done.call_outcome_id, connected)
        self.assertIn("Connected", done.description)
        self.assertEqual(second.touch_ids.call_outcome_id, no_answer)

        self._run_at(MONDAY_0800_UTC + timedelta(hours=1, minutes=10))
        self.assertEqual(first.step_id.name, "Thanks")
        self.assertEqual(second.step_id.name, "Missed")
        self.assertIn("yes -> Step 3 'Thanks'", self._events(first, "branch").description)
        self.assertIn("no -> Step 4 'Missed'", self._events(second, "branch").description)
        self.assertEqual(first.touch_ids.filtered(lambda t: t.kind == "branch").branch_answer, "yes")
        self.assertFalse(self.sequence_mails(enrollments), "a branch sends nothing")

    def test_outcome_as_a_step_condition(self):
        connected = self.env.ref("sales_sequence.call_outcome_connected")
        sequence = self._mixed_sequence(
            [
                {"step_type": "call", "activity_summary": "Call", "wait_for_done": True},
                {
                    "name": "Recap",
                    "condition_ids": [
                        Command.create(
                            {"condition_type": "call_outcome", "call_outcome_ids": [Command.set(connected.ids)]}
                        )
                    ],
                },
            ]
        )
        enrollment = self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        with self.at(MONDAY_0800_UTC):
            enrollment.partner_id.activity_ids.with_user(self.user_sales).action_done()  # optional: none given
        self._run_at(MONDAY_0800_UTC + timedelta(minutes=10))
        self.assertEqual(enrollment.state, "finished")
        self.assertIn("Last call's outcome is", self._events(enrollment, "skip").description)
        with self.assertRaisesRegex(ValidationError, "Call Outcomes"):
            sequence.step_ids[1].condition_ids.call_outcome_ids = False


@tagged("post_install", "-at_install", "sales_sequence")
class TestBranchSteps(BranchCommon):
    STEPS = [
        {"name": "Intro"},
        {"name": "Opened?", "step_type": "branch", "delay_days": 2},
        {"name": "Yes email", "delay_days": 1},
        {"name": "Yes call", "step_type": "call", "activity_summary": "Call", "delay_days": 1, "wait_for_done": False},
        {"name": "No email", "delay_days": 3},
    ]

    def test_targets_are_later_steps_of_the_same_sequence(self):
        sequence = self._branch_sequence({"condition_type": "any_opened"}, "Yes email", "No email", self.STEPS)
        branch = sequence.step_ids[1]
        self.assertEqual(
            branch.branch_label, "Branch: Any earlier email opened yes -> Step 3 'Yes email', no -> Step 5 'No email'"
        )
        self.assertEqual(sequence.step_ids.mapped("path_label"), [False, False, "2 yes", "2 yes", "2 no"])
        with self.assertRaisesRegex(ValidationError, "If Yes, Go To"):
            branch.branch_yes_step_id = sequence.step_ids[0]
        with self.assertRaisesRegex(ValidationError, "the same"):
            branch.branch_yes_step_id = branch.branch_no_step_id
        with self.assertRaisesRegex(ValidationError, "If Yes, Go To"):
            sequence.step_ids[2].sequence = 1  # moving the target before the branch would loop
        other = self._mixed_sequence([{"name": "Elsewhere"}], name="Other")
        with self.assertRaisesRegex(ValidationError, "If No, Go To"):
            branch.branch_no_step_id = other.step_ids
        with self.assertRaisesRegex(UserError, "target of the branch"):
            sequence.step_ids[4].unlink()

    def test_forecast_and_cron_agree_on_branches(self):
        sequence = self._branch_sequence({"condition_type": "any_opened"}, "Yes email", "No email", self.STEPS)
        enrollments = self._start(sequence, self.contacts[:2])
        opener, silent = enrollments
        self._run_at(MONDAY_0800_UTC)
        intro = opener.touch_ids
        self.env["sales.sequence.event"]._record(opener, "open", touch_id=intro.id)
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            action = sequence.with_user(self.user_sales).action_open_forecast()
        lines = self.env["sales.sequence.forecast.line"].search(action["domain"])
        forecast = {(line.partner_id, line.step_id.name): line.planned_at for line in lines}
        wednesday = datetime(2026, 12, 9, 8, 0)
        self.assertEqual(
            forecast,
            {
                (opener.partner_id, "Opened?"): wednesday,
                (opener.partner_id, "Yes email"): wednesday + timedelta(days=1),
                (opener.partner_id, "Yes call"): wednesday + timedelta(days=2),
                (silent.partner_id, "Opened?"): wednesday,
                (silent.partner_id, "No email"): datetime(2026, 12, 14, 8, 0),  # Saturday -> Monday
            },
            "the opener takes the yes path, which ends before the no path; the other one the no path",
        )
        self.assertEqual(
            {line.partner_id: line.branch_answer for line in lines if line.branch_answer},
            {opener.partner_id: "yes", silent.partner_id: "no"},
        )

        moment = datetime(2026, 12, 8, 7, 55)
        while moment < datetime(2026, 12, 16):
            if 8 <= moment.hour < 9:
                self._run_at(moment)
            moment += timedelta(minutes=5)
        actual = {
            (touch.partner_id, touch.step_id.name): touch.date
            for touch in enrollments.touch_ids
            if touch.date > MONDAY_0800_UTC
        }
        self.assertEqual(actual, forecast, "the cron runs exactly the forecast's steps, on its dates")
        self.assertEqual(set(enrollments.mapped("state")), {"finished"})
        self.assertIn("Opened?", self._events(opener, "branch").description)

    def test_smart_sequences_refuse_branches_at_activation(self):
        sequence = self._branch_sequence({"condition_type": "any_opened"}, "Yes email", "No email", self.STEPS)
        sequence.sequence_type = "smart"
        with self.at(MONDAY_0700_UTC), self.assertRaisesRegex(UserError, "branch steps are for classic"):
            sequence.action_activate()


@tagged("post_install", "-at_install", "sales_sequence")
class TestBranchOnOpportunity(BranchCommon):
    """A branch (or a step) judged on the enrollment's opportunity: its fields, searched as the sequence's owner."""

    STEPS = [
        {"name": "Intro"},
        {"name": "Big deal?", "step_type": "branch", "delay_days": 1},
        {"name": "Exec email", "delay_days": 1},
        {"name": "Standard email", "delay_days": 2},
    ]

    def test_the_opportunity_chooses_the_path_and_the_forecast_agrees(self):
        sequence = self._branch_sequence(
            {"condition_type": "opportunity", "lead_domain": "[('expected_revenue', '>=', 10000)]"},
            "Exec email",
            "Standard email",
            self.STEPS,
        )
        big, small = self.contacts[:2]
        leads = self.env["crm.lead"].create(
            [
                {"name": "Big", "partner_id": big.id, "expected_revenue": 50000, "user_id": self.user_sales.id},
                {"name": "Small", "partner_id": small.id, "expected_revenue": 500, "user_id": self.user_sales.id},
            ]
        )
        with self.at(MONDAY_0700_UTC):
            sequence.action_activate()
            by_contact = {big: leads[0], small: leads[1]}
            enrollments, refusals = sequence._enroll_partners(big | small, leads=by_contact)
        self.assertFalse(refusals)
        self.assertEqual(enrollments.lead_id, leads)
        third = self._start_plain(sequence)  # no opportunity: the condition does not hold
        self._run_at(MONDAY_0800_UTC)
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            action = sequence.with_user(self.user_sales).action_open_forecast()
        lines = self.env["sales.sequence.forecast.line"].search(action["domain"])
        self.assertEqual(
            {line.partner_id: line.branch_answer for line in lines if line.branch_answer},
            {big: "yes", small: "no", third.partner_id: "no"},
        )
        forecast = {(line.partner_id, line.step_id.name) for line in lines}
        moment = datetime(2026, 12, 8, 7, 55)
        while moment < datetime(2026, 12, 14):
            if 8 <= moment.hour < 9:
                self._run_at(moment)
            moment += timedelta(minutes=5)
        actual = {
            (touch.partner_id, touch.step_id.name)
            for touch in (enrollments | third).touch_ids
            if touch.date > MONDAY_0800_UTC
        }
        self.assertEqual(actual, forecast)
        self.assertIn((big, "Exec email"), actual)
        self.assertIn((small, "Standard email"), actual)
        self.assertIn("yes -> Step 3 'Exec email'", self._events(enrollments[0], "branch").description)

    def test_opportunity_conditions_the_owner_cannot_run_are_refused(self):
        sequence = self._mixed_sequence(self.STEPS)
        with self.assertRaisesRegex(ValidationError, "Opportunity Conditions"):
            sequence.step_ids[1].write(
                {
                    "condition_ids": [
                        Command.create({"condition_type": "opportunity", "lead_domain": "[('nope', '=', 1)]"})
                    ]
                }
            )

    def test_export_and_import_keep_branches_and_call_outcomes(self):
        connected = self.env.ref("sales_sequence.call_outcome_connected")
        sequence = self._branch_sequence(
            {"condition_type": "call_outcome", "call_outcome_ids": [Command.set(connected.ids)]},
            "Exec email",
            "Standard email",
            [{"name": "Intro", "step_type": "call", "activity_summary": "Call", "require_call_outcome": True}]
            + self.STEPS[1:],
        )
        data = self.env["sales.sequence.share"]._export_data(sequence)
        wizard = (
            self.env["sales.sequence.share"]
            .with_user(self.user_sales_2)
            .create({"file": base64.b64encode(json.dumps(data).encode())})
        )
        imported = self.env["sales.sequence"].browse(wizard.action_import()["res_id"])
        branch = imported.step_ids[1]
        self.assertEqual(branch.branch_yes_step_id.name, "Exec email")
        self.assertEqual(branch.branch_no_step_id.name, "Standard email")
        self.assertEqual(branch.condition_ids.call_outcome_ids, connected)
        self.assertTrue(imported.step_ids[0].require_call_outcome)
        data["steps"][1]["conditions"][0]["call_outcomes"] = ["Reached the CEO"]
        wizard = self.env["sales.sequence.share"].create({"file": base64.b64encode(json.dumps(data).encode())})
        with self.assertRaisesRegex(UserError, "Reached the CEO"):
            wizard.action_import()

    def _start_plain(self, sequence):
        with self.at(MONDAY_0700_UTC):
            enrollment, refusals = sequence._enroll_partners(self.contacts[2:3])
        self.assertFalse(refusals)
        return enrollment
