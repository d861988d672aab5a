from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, tagged

from .common import MONDAY_0700_UTC, SalesSequenceCommon
from .test_conversation import ConversationCommon

MONDAY_0800_UTC = datetime(2026, 12, 7, 8, 0)  # 09:00 in Brussels


class OpportunityCommon(SalesSequenceCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stages = cls.env["crm.stage"].search([("team_id", "=", False)], order="sequence, id")
        cls.stage_new = cls.stages.filtered(lambda s: not s.is_won)[:1]
        cls.stage_later = cls.stages.filtered(lambda s: not s.is_won and s.sequence > cls.stage_new.sequence)[:1]
        cls.lead = cls._lead("Big deal", cls.contacts[0])
        cls.lead_2 = cls._lead("Second deal", cls.contacts[1])

    @classmethod
    def _lead(cls, name, partner=None, user=None, **values):
        return cls.env["crm.lead"].create(
            {
                "name": name,
                "type": "opportunity",
                "partner_id": partner.id if partner else False,
                "user_id": (user or cls.user_sales).id,
                "stage_id": cls.stage_new.id,
                **values,
            }
        )

    def _enroll_leads(self, sequence, leads, user=None):
        """Through the wizard, as the lead form's button and the pipeline list's action open it."""
        user = user or self.user_sales
        action = leads.with_user(user).action_enroll_in_sales_sequence()
        wizard_form = Form(self.env["sales.sequence.enroll.wizard"].with_user(user).with_context(**action["context"]))
        wizard_form.sequence_id = sequence
        wizard = wizard_form.save()
        with self.at(MONDAY_0700_UTC):
            wizard.action_enroll()
        return wizard

    def _active_sequence(self, **values):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(**values)
            sequence.action_activate()
        return sequence


@tagged("post_install", "-at_install", "sales_sequence")
class TestEnrollFromOpportunity(OpportunityCommon):
    def test_enroll_from_the_opportunity_links_it_and_shows_the_smart_button(self):
        sequence = self._active_sequence()
        wizard = self._enroll_leads(sequence, self.lead)
        self.assertEqual(wizard.enrolled_count, 1)
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.partner_id, self.contacts[0])
        self.assertEqual(enrollment.lead_id, self.lead)
        self.assertEqual(enrollment.state, "active")
        lead = self.lead.with_user(self.user_sales)
        self.assertEqual(lead.sales_sequence_enrollment_count, 1)
        self.assertEqual(lead.sales_sequence_running_count, 1)
        action = lead.action_view_sales_sequence_enrollments()
        self.assertEqual(
            self.env["sales.sequence.enrollment"].with_user(self.user_sales).search(action["domain"]), enrollment
        )
        # Pause and resume from the opportunity, as from the contact.
        lead.action_pause_sales_sequences()
        self.assertEqual(enrollment.state, "paused")
        lead.invalidate_recordset()  # as the form reloads after the button
        self.assertEqual(lead.sales_sequence_paused_count, 1)
        with self.at(MONDAY_0700_UTC):
            lead.action_resume_sales_sequences()
        self.assertEqual(enrollment.state, "active")

    def test_bulk_from_the_pipeline_and_a_lead_without_contact_gets_one_created(self):
        sequence = self._active_sequence()
        bare = self._lead(
            "Web form lead",
            type="lead",
            contact_name="Nora New",
            partner_name="Newco",
            email_from="nora@newco.example.com",
        )
        no_email = self._lead("Phone lead", type="lead", contact_name="Silent Sam")
        wizard = self._enroll_leads(sequence, self.lead | self.lead_2 | bare | no_email)
        # The contact was created as Odoo's lead conversion creates it (a person under the company), and linked.
        self.assertEqual(bare.partner_id.name, "Nora New")
        self.assertEqual(bare.partner_id.email, "nora@newco.example.com")
        self.assertEqual(bare.partner_id.parent_id.name, "Newco")
        self.assertTrue(no_email.partner_id, "its contact is created too, and refused with a reason")
        self.assertEqual(wizard.enrolled_count, 3)
        self.assertEqual(wizard.refused_count, 1)
        self.assertIn("has no email address", wizard.result_line_ids.reason)
        self.assertEqual(wizard.result_line_ids.partner_id, no_email.partner_id)
        self.assertEqual(
            {(e.partner_id, e.lead_id) for e in sequence.enrollment_ids},
            {(self.contacts[0], self.lead), (self.contacts[1], self.lead_2), (bare.partner_id, bare)},
        )

    def test_the_rules_apply_as_from_contacts(self):
        sequence = self._active_sequence()
        self._enroll_leads(sequence, self.lead)
        self.env["mail.blacklist"]._add(self.contacts[1].email)
        wizard = self._enroll_leads(sequence, self.lead | self.lead_2)
        self.assertEqual(wizard.enrolled_count, 0)
        reasons = " ".join(wizard.result_line_ids.mapped("reason"))
        self.assertIn("already enrolled", reasons)
        self.assertIn("blacklist", reasons)
        self.assertEqual(sequence.refusal_count, 2)

    def test_a_lead_the_user_cannot_read_cannot_be_enrolled(self):
        sequence = self._active_sequence()
        others = self._lead("Sam's deal", self.contacts[2], user=self.user_sales_2)
        with self.assertRaises(AccessError):
            others.with_user(self.user_sales).action_enroll_in_sales_sequence()
        with self.assertRaises(AccessError):
            self.env["sales.sequence.enroll.wizard"].with_user(self.user_sales).with_context(
                active_model="crm.lead", active_ids=others.ids
            ).default_get(["lead_ids", "partner_ids"])
        # Any path, RPC included: the enrollment refuses a lead its writer cannot read.
        with self.assertRaisesRegex(AccessError, "cannot read opportunity"):
            self.env["sales.sequence.enrollment"].with_user(self.user_sales).create(
                {"sequence_id": sequence.id, "partner_id": self.contacts[2].id, "lead_id": others.id}
            )
        enrollment = (
            self.env["sales.sequence.enrollment"]
            .with_user(self.user_sales)
            .create({"sequence_id": sequence.id, "partner_id": self.contacts[2].id})
        )
        with self.assertRaisesRegex(AccessError, "cannot read opportunity"):
            enrollment.lead_id = others

    def test_the_smart_button_counts_only_enrollments_the_user_may_read(self):
        mine = self._active_sequence()
        theirs = self._active_sequence(user=self.user_sales_2, name="Sam's")
        self._enroll_leads(mine, self.lead)
        self.lead.user_id = False  # a lead both may read
        self._enroll_leads(theirs, self.lead, user=self.user_sales_2)
        self.assertEqual(self.lead.with_user(self.user_sales).sales_sequence_enrollment_count, 1)
        self.assertEqual(self.lead.with_user(self.user_sales_2).sales_sequence_enrollment_count, 1)
        self.assertEqual(self.lead.with_user(self.user_sales_manager).sales_sequence_enrollment_count, 2)
        # Pausing from the opportunity pauses only what the user may run.
        self.lead.with_user(self.user_sales).action_pause_sales_sequences()
        self.assertEqual(mine.enrollment_ids.state, "paused")
        self.assertEqual(theirs.enrollment_ids.state, "active")


@tagged("post_install", "-at_install", "sales_sequence")
class TestOpportunityExit(OpportunityCommon):
    def test_won_lost_and_stage_end_the_enrollments_with_a_reason(self):
        sequence = self._active_sequence(exit_lead_stage_id=self.stage_later.id)
        third = self._lead("Third deal", self.contacts[2])
        fourth = self._lead("Fourth deal", self.contacts[3])
        self._enroll_leads(sequence, self.lead | self.lead_2 | third | fourth)
        by_lead = {e.lead_id: e for e in sequence.enrollment_ids}
        self.lead.with_user(self.user_sales).action_set_won()
        self.lead_2.with_user(self.user_sales).action_set_lost()
        third.with_user(self.user_sales).stage_id = self.stage_later
        for lead, words in ((self.lead, "won"), (self.lead_2, "lost"), (third, "reached the sequence's exit stage")):
            enrollment = by_lead[lead]
            self.assertEqual(enrollment.state, "completed")
            self.assertIn(words, enrollment.state_reason)
            self.assertEqual(
                enrollment.event_ids.filtered(lambda e: e.event_type == "skip").description, enrollment.state_reason
            )
        self.assertEqual(by_lead[fourth].state, "active", "an opportunity that did not change goes on")

    def test_criteria_off_leave_the_enrollment_running(self):
        sequence = self._active_sequence(exit_on_lead_won=False, exit_on_lead_lost=False)
        self._enroll_leads(sequence, self.lead | self.lead_2)
        self.lead.action_set_won()
        self.lead_2.action_set_lost()
        self.assertEqual(set(sequence.enrollment_ids.mapped("state")), {"active"})

    def test_a_domain_on_the_opportunity_is_checked_before_each_step(self):
        sequence = self._active_sequence(exit_lead_domain="[('priority', '=', '3')]")
        self._enroll_leads(sequence, self.lead | self.lead_2)
        self.lead.priority = "3"  # not a field that triggers the check: the cron checks before the step
        enrollments = {e.lead_id: e for e in sequence.enrollment_ids}
        self.assertEqual(enrollments[self.lead].state, "active")
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(enrollments[self.lead].state, "completed")
        self.assertIn("matches the sequence's exit conditions", enrollments[self.lead].state_reason)
        self.assertFalse(enrollments[self.lead].touch_ids, "ended before its step")
        self.assertEqual(len(enrollments[self.lead_2].touch_ids), 1)

    def test_a_domain_the_owner_can_no_longer_run_holds_the_step(self):
        sequence = self._active_sequence(exit_lead_domain="[('priority', '=', '3')]")
        self._enroll_leads(sequence, self.lead)
        # Stored by a path that skipped the check (SQL): evaluated as the owner, never as superuser.
        self.env.cr.execute(
            "UPDATE sales_sequence SET exit_lead_domain = %s WHERE id = %s",
            ("[('no_such_field', '=', 1)]", sequence.id),
        )
        sequence.invalidate_recordset(["exit_lead_domain"])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.state, "blocked")
        self.assertIn("opportunity exit conditions cannot be checked", enrollment.state_reason)
        self.assertFalse(enrollment.touch_ids, "held: its step did not go")

    def test_a_domain_the_owner_cannot_run_is_refused_at_save(self):
        with self.assertRaisesRegex(ValidationError, "Exit When the Opportunity Matches"):
            self._create_sequence(exit_lead_domain="[('no_such_field', '=', 1)]")

    def test_many_leads_won_at_once_end_in_one_write_per_criterion(self):
        sequence = self._active_sequence()
        contacts = self.env["res.partner"].create(
            [{"name": f"Bulk {i}", "email": f"bulk{i}@customer.example.com"} for i in range(30)]
        )
        leads = self.env["crm.lead"].create(
            [
                {"name": f"Bulk {i}", "type": "opportunity", "partner_id": c.id, "user_id": self.user_sales.id}
                for i, c in enumerate(contacts)
            ]
        )
        self._enroll_leads(sequence, leads)
        self.assertEqual(len(sequence.enrollment_ids), 30)
        enrollments = sequence.enrollment_ids
        self.env.invalidate_all()
        with self.assertQueryCount(__system__=400):  # bounded whatever the number: no query per enrollment
            leads.action_set_won()
        self.assertEqual(set(enrollments.mapped("state")), {"completed"})


@tagged("post_install", "-at_install", "sales_sequence")
class TestOpportunityAudience(OpportunityCommon):
    def test_audience_from_pipeline_conditions_and_saved_view(self):
        orphan = self._lead(
            "No contact yet", type="lead", contact_name="Orphan", email_from="orphan@x.example.com", priority="2"
        )
        self.lead.priority = "2"
        others = self._lead("Sam's hot deal", self.contacts[4], user=self.user_sales_2, priority="2")
        view = self.env["ir.filters"].create(
            {
                "name": "Second deal",
                "model_id": "crm.lead",
                "domain": "[('name', '=', 'Second deal')]",
                "user_id": False,
            }
        )
        sequence = self._active_sequence(
            audience_ids=[
                Command.create({"name": "Hot", "source": "leads", "lead_domain": "[('priority', '=', '2')]"}),
                Command.create({"name": "View", "source": "lead_filter", "lead_filter_id": view.id}),
            ]
        )
        with self.at(MONDAY_0700_UTC):
            sequence.with_user(self.user_sales).action_sync_audience()
        self.assertEqual(
            {(e.partner_id, e.lead_id) for e in sequence.enrollment_ids},
            {(self.contacts[0], self.lead), (self.contacts[1], self.lead_2)},
            "as the owner: a colleague's opportunity is not theirs to read; a lead without contact is left out",
        )
        self.assertFalse(orphan.partner_id, "a sync creates no contact")
        self.assertTrue(others.exists())

    def test_a_pipeline_view_of_another_user_is_refused(self):
        view = self.env["ir.filters"].create(
            {"name": "Sam's view", "model_id": "crm.lead", "domain": "[]", "user_id": self.user_sales_2.id}
        )
        with self.assertRaisesRegex(ValidationError, "belongs to Sam Seller"):
            self._create_sequence(
                audience_ids=[Command.create({"name": "V", "source": "lead_filter", "lead_filter_id": view.id})]
            )


@tagged("post_install", "-at_install", "sales_sequence")
class TestOpportunityChatter(ConversationCommon, OpportunityCommon):
    def test_a_reply_and_a_meeting_show_on_the_opportunity(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(exit_on_meeting=False)
            sequence.action_activate()
        self._enroll_leads(sequence, self.lead | self.lead_2)
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        enrollment = sequence.enrollment_ids.filtered(lambda e: e.lead_id == self.lead)
        self._process(self._reply(enrollment))
        self.assertEqual(enrollment.state, "paused")
        note = self.lead.message_ids.filtered(lambda m: "replied to the sales sequence" in (m.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn("call me Thursday", note.body)
        meeting = (
            self.env["calendar.event"]
            .with_user(self.user_sales)
            .create(
                {
                    "name": "Demo",
                    "start": datetime(2026, 12, 10, 9, 0),
                    "stop": datetime(2026, 12, 10, 10, 0),
                    "partner_ids": [Command.set(self.contacts[1].ids)],
                }
            )
        )
        self.assertEqual(meeting.opportunity_id, self.lead_2)
        self.assertTrue(self.lead_2.message_ids.filtered(lambda m: "Meeting scheduled" in (m.body or "")))


@tagged("post_install", "-at_install", "sales_sequence")
class TestVariantsOnOpportunitiesWon(OpportunityCommon):
    def test_the_winner_is_the_variant_whose_opportunities_were_won(self):
        contacts = self.env["res.partner"].create(
            [{"name": f"AB {i:02d}", "email": f"ab{i:02d}@customer.example.com"} for i in range(40)]
        )
        leads = self.env["crm.lead"].create(
            [
                {"name": f"AB {i}", "type": "opportunity", "partner_id": c.id, "user_id": self.user_sales.id}
                for i, c in enumerate(contacts)
            ]
        )
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(delays=(0,), exit_on_lead_won=False)
            sequence.step_ids.write(
                {
                    "ab_pick_winner": True,
                    "ab_min_sample": 3,
                    "ab_metric": "won",
                    "variant_ids": [
                        Command.create({"name": "A", "subject": "A {{ object.name }}", "body_html": "<p>A</p>"}),
                        Command.create({"name": "B", "subject": "B {{ object.name }}", "body_html": "<p>B</p>"}),
                    ],
                }
            )
            sequence.action_activate()
        self._enroll_leads(sequence, leads[:20])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        variant_a, variant_b = sequence.step_ids.variant_ids
        by_variant = sequence.enrollment_ids.touch_ids.grouped("variant_id")
        # B gets the replies, A the won opportunities: judged on opportunities won, A wins.
        with self.at(MONDAY_0800_UTC + timedelta(minutes=5)):
            self.env["sales.sequence.event"]._record(by_variant[variant_b].enrollment_id, "reply", "Re")
        by_variant[variant_a].enrollment_id[:2].lead_id.action_set_won()
        self.assertFalse(sequence.step_ids.winner_variant_id)
        self._enroll_leads(sequence, leads[20:])
        with self.at(MONDAY_0800_UTC + timedelta(minutes=10)):
            self.run_cron()
        self.assertEqual(sequence.step_ids.winner_variant_id, variant_a)
        self.assertEqual((variant_a.won_count, variant_b.won_count), (2, 0))
        self.assertIn("won on opportunities won", sequence.message_ids[:1].body)
