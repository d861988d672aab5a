from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import MONDAY_0700_UTC, SalesSequenceCommon

MONDAY_0800_UTC = datetime(2026, 12, 7, 8, 0)


@tagged("post_install", "-at_install", "sales_sequence")
class TestRuleset(SalesSequenceCommon):
    """The enrollment ruleset and the "Not enrolled" records (first part of the audiences-and-rules work)."""

    def _ruleset(self, **values):
        return self.env["sales.sequence.ruleset"].create({"name": "Test rules", **values})

    def _sequence(self, ruleset=None, **values):
        sequence = self._create_sequence(**values)
        if ruleset:
            sequence.ruleset_id = ruleset
        return sequence

    def test_every_sequence_gets_its_company_default_rules(self):
        sequence = self._create_sequence()
        self.assertEqual(sequence.ruleset_id, self.env.ref("sales_sequence.ruleset_default"))
        company = self.env["res.company"].create({"name": "Rules Co"})
        ruleset = self.env["sales.sequence.ruleset"]._get_default(company)
        self.assertEqual(ruleset.company_id, company)
        self.assertEqual(self.env["sales.sequence.ruleset"]._get_default(company), ruleset)

    def test_refusals_are_recorded_with_rule_and_source(self):
        sequence = self._sequence()
        sequence.action_activate()
        no_email = self.env["res.partner"].create({"name": "No Email"})
        sequence._enroll_partners(self.contacts[:1])
        wizard = (
            self.env["sales.sequence.enroll.wizard"]
            .with_user(self.user_sales)
            .with_context(active_model="res.partner", active_ids=(self.contacts[:2] | no_email).ids)
            .create({"sequence_id": sequence.id})
        )
        wizard.action_enroll()
        self.assertIn("1 contact(s) enrolled", wizard.result_message)
        self.assertIn("2 not enrolled", wizard.result_message)
        refusals = (
            self.env["sales.sequence.refusal"].with_user(self.user_sales).search([("sequence_id", "=", sequence.id)])
        )
        self.assertEqual(
            {(r.partner_id, r.rule, r.source) for r in refusals},
            {(self.contacts[0], "already_enrolled", "bulk"), (no_email, "no_email", "bulk")},
        )
        self.assertEqual(sequence.refusal_count, 2)
        action = sequence.with_user(self.user_sales).action_view_refusals()
        self.assertEqual(action["res_model"], "sales.sequence.refusal")

    def test_a_contact_without_a_resolvable_sender_is_refused(self):
        sequence = self._sequence(user=self.user_sales_2, name="No sender")
        self.user_sales_2.email = False
        _enrolled, refusals = sequence._enroll_partners(self.contacts[:1])
        self.assertIn("No sender can be resolved", refusals[self.contacts[0]])
        self.assertEqual(
            self.env["sales.sequence.refusal"].search([("sequence_id", "=", sequence.id)]).rule, "no_sender"
        )

    def test_reenrollment_never_and_after_a_cooldown(self):
        never = self._sequence(ruleset=self._ruleset(reenrollment="never"), name="Never again")
        never.action_activate()
        enrollment, _refusals = never._enroll_partners(self.contacts[:1])
        enrollment.action_cancel()
        _again, refusals = never._enroll_partners(self.contacts[:1])
        self.assertIn("allow no re-enrollment", refusals[self.contacts[0]])

        cooldown = self._sequence(ruleset=self._ruleset(reenrollment="cooldown", reenrollment_days=10), name="Cool")
        cooldown.action_activate()
        with self.at(datetime(2026, 12, 1, 10, 0)):
            enrollment, _refusals = cooldown._enroll_partners(self.contacts[1])
            enrollment.action_cancel()
        with self.at(datetime(2026, 12, 5, 10, 0)):
            _again, refusals = cooldown._enroll_partners(self.contacts[1])
        self.assertIn("after 10 days", refusals[self.contacts[1]])
        with self.at(datetime(2026, 12, 12, 10, 0)):
            again, refusals = cooldown._enroll_partners(self.contacts[1])
        self.assertFalse(refusals)
        self.assertEqual(len(again), 1)

    def test_one_sequence_at_a_time(self):
        first = self._sequence(name="First")
        first.action_activate()
        first._enroll_partners(self.contacts[:2])
        other_owner = self._sequence(user=self.user_sales_2, name="Other owner's")
        other_owner.action_activate()
        other_owner._enroll_partners(self.contacts[2])

        block_any = self._sequence(ruleset=self._ruleset(multi_sequence="block_any"), name="Block any")
        block_any.action_activate()
        enrolled, refusals = block_any._enroll_partners(self.contacts[:4])
        self.assertEqual(enrolled.partner_id, self.contacts[3])
        self.assertIn("running in First", refusals[self.contacts[0]])
        self.assertIn("running in Other owner's", refusals[self.contacts[2]])

        block_owner = self._sequence(ruleset=self._ruleset(multi_sequence="block_owner"), name="Block mine")
        block_owner.action_activate()
        enrolled, refusals = block_owner._enroll_partners(self.contacts[:3])
        self.assertEqual(enrolled.partner_id, self.contacts[2], "another owner's sequence does not block")
        self.assertEqual(set(refusals), set(self.contacts[:2]))

    def test_exclusions_at_enrollment_and_again_before_sending(self):
        tag = self.env["res.partner.category"].create({"name": "Customer"})
        ruleset = self._ruleset(
            exclusion_ids=[
                Command.create({"name": "Competitor", "domain": "[('email', '=ilike', '%@competitor.example')]"}),
                Command.create({"name": "Already a customer", "domain": f"[('category_id', 'in', [{tag.id}])]"}),
            ]
        )
        competitor = self.env["res.partner"].create({"name": "Rival", "email": "spy@competitor.example"})
        with self.at(MONDAY_0700_UTC):
            sequence = self._sequence(ruleset=ruleset)
            sequence.action_activate()
            enrollments, refusals = sequence._enroll_partners(self.contacts[:2] | competitor)
        self.assertIn("excluded by the rule 'Competitor'", refusals[competitor])
        refusal = self.env["sales.sequence.refusal"].search([("partner_id", "=", competitor.id)])
        self.assertEqual(refusal.exclusion_id.name, "Competitor")
        self.contacts[0].category_id = tag  # became a customer after enrolling
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        excluded = enrollments.filtered(lambda e: e.partner_id == self.contacts[0])
        self.assertEqual(excluded.state, "excluded")
        self.assertEqual(excluded.state_reason, "Excluded by the rule 'Already a customer'.")
        self.assertFalse(self.sequence_mails(excluded))
        self.assertEqual(len(self.sequence_mails(enrollments - excluded)), 1)

    def test_sends_wait_while_the_owner_is_on_leave(self):
        resource = self.env["resource.resource"].create(
            {"name": self.user_sales.name, "user_id": self.user_sales.id, "calendar_id": self.calendar.id}
        )
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Holiday",
                "resource_id": resource.id,
                "calendar_id": self.calendar.id,
                "date_from": datetime(2026, 12, 6, 0, 0),
                "date_to": datetime(2026, 12, 9, 0, 0),
            }
        )
        with self.at(MONDAY_0700_UTC):
            sequence = self._sequence()
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:2])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertFalse(self.sequence_mails(enrollments))
        self.assertEqual(set(enrollments.mapped("state")), {"queued"})
        self.assertIn("on leave until 2026-12-09", enrollments[0].state_reason)
        self.assertEqual(set(enrollments.mapped("next_run_at")), {datetime(2026, 12, 9, 8, 0)})
        with self.at(datetime(2026, 12, 9, 8, 0)):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 2)

    def test_rules_may_send_while_the_owner_is_away(self):
        resource = self.env["resource.resource"].create({"name": "Sally", "user_id": self.user_sales.id})
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Holiday",
                "resource_id": resource.id,
                "calendar_id": self.calendar.id,
                "date_from": datetime(2026, 12, 6, 0, 0),
                "date_to": datetime(2026, 12, 9, 0, 0),
            }
        )
        with self.at(MONDAY_0700_UTC):
            sequence = self._sequence(ruleset=self._ruleset(send_when_owner_absent=True))
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:1])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 1)


@tagged("post_install", "-at_install", "sales_sequence")
class TestExitCriteria(SalesSequenceCommon):
    def _running(self, contacts, **values):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(**values)
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(contacts)
        return sequence, enrollments

    def test_exit_conditions_end_the_enrollment_before_a_send(self):
        tag = self.env["res.partner.category"].create({"name": "Customer"})
        _sequence, enrollments = self._running(self.contacts[:2], exit_domain=f"[('category_id', 'in', [{tag.id}])]")
        self.contacts[0].category_id = tag
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(enrollments[0].state, "completed")
        self.assertIn("Exit criterion met", enrollments[0].state_reason)
        self.assertFalse(self.sequence_mails(enrollments[0]))
        self.assertEqual(enrollments[1].state, "active")

    def test_a_meeting_booked_ends_the_enrollment_at_once(self):
        _sequence, enrollments = self._running(self.contacts[:2])
        with self.at(datetime(2026, 12, 7, 7, 30)):
            self.env["calendar.event"].create(
                {
                    "name": "Demo call",
                    "start": datetime(2026, 12, 9, 10, 0),
                    "stop": datetime(2026, 12, 9, 11, 0),
                    "partner_ids": [Command.link(self.contacts[0].id)],
                }
            )
        self.assertEqual(enrollments[0].state, "completed")
        self.assertIn("Meeting booked", enrollments[0].state_reason)
        self.assertEqual(enrollments[1].state, "active")

    def test_a_meeting_from_before_the_enrollment_does_not_count(self):
        with self.at(datetime(2026, 12, 1, 9, 0)):
            self.env["calendar.event"].create(
                {
                    "name": "Old call",
                    "start": datetime(2026, 12, 2, 10, 0),
                    "stop": datetime(2026, 12, 2, 11, 0),
                    "partner_ids": [Command.link(self.contacts[0].id)],
                }
            )
        _sequence, enrollments = self._running(self.contacts[:1])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        self.assertEqual(enrollments.state, "active")
        self.assertEqual(len(self.sequence_mails(enrollments)), 1)

    def test_the_whole_account_exits_when_one_contact_books(self):
        company = self.env["res.partner"].create({"name": "Acme", "is_company": True})
        self.contacts[:2].parent_id = company
        _sequence, enrollments = self._running(self.contacts[:3], exit_account_wide=True)
        self.env["calendar.event"].create(
            {
                "name": "Demo",
                "start": datetime(2026, 12, 9, 10, 0),
                "stop": datetime(2026, 12, 9, 11, 0),
                "partner_ids": [Command.link(self.contacts[0].id)],
            }
        )
        self.assertEqual(enrollments[:2].mapped("state"), ["completed", "completed"])
        self.assertEqual(enrollments[2].state, "active", "another company's contact goes on")


@tagged("post_install", "-at_install", "sales_sequence")
class TestUserLimits(SalesSequenceCommon):
    def _set(self, key, value):
        self.env["ir.config_parameter"].sudo().set_param(f"sales_sequence.{key}", value)

    def test_active_sequences_per_user(self):
        self._set("max_active_per_user", 1)
        first = self._create_sequence(name="First")
        first.action_activate()
        second = self._create_sequence(name="Second")
        with self.assertRaises(UserError) as caught:
            second.action_activate()
        self.assertIn("already has 1 active sequence(s)", str(caught.exception))
        self.assertEqual(second.state, "draft")
        self._create_sequence(user=self.user_sales_2, name="Someone else's").action_activate()
        first.action_pause()
        second.action_activate()
        self.assertEqual(second.state, "active")
        # The rep is at the limit again, yet may resume their own paused sequence: it was active already.
        first.with_user(self.user_sales).action_resume()
        self.assertEqual(first.state, "active")

    def test_lifting_the_user_limit_releases_what_it_queued(self):
        self._set("max_emails_per_user", 1)
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(name="One", delays=(0,))
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.contacts[:3])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        queued = enrollments.filtered(lambda e: e.state == "queued")
        self.assertEqual(len(queued), 2)
        self.assertEqual(set(queued.mapped("held_by_limit")), {"user"})
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            settings = self.env["res.config.settings"].create({"sales_sequence_max_emails_per_user": 0})
            settings.execute()
            self.assertEqual(set(queued.mapped("state")), {"active"})
            self.assertNotIn("limit of 1", queued[0].state_reason)
            self.assertEqual(queued[0].next_run_at.date(), MONDAY_0800_UTC.date(), "today, not tomorrow")
            self.run_cron()
        self.assertEqual(len(enrollments.touch_ids), 3)

    def test_sequence_emails_per_user_per_day(self):
        self._set("max_emails_per_user", 3)
        with self.at(MONDAY_0700_UTC):
            one = self._create_sequence(name="One", delays=(0,))
            two = self._create_sequence(name="Two", delays=(0,), sender_mode="fixed", email_from="team@example.com")
            (one | two).action_activate()
            first, _refusals = one._enroll_partners(self.contacts[:2])
            second, _refusals = two._enroll_partners(self.contacts[2:5])
        with self.at(MONDAY_0800_UTC):
            self.run_cron()
        enrollments = first | second
        self.assertEqual(len(self.sequence_mails(enrollments)), 3, "3 a day for the owner, all mailboxes together")
        queued = enrollments.filtered(lambda e: e.state == "queued")
        self.assertEqual(len(queued), 2)
        self.assertIn("per user reached for Sally Sales", queued[0].state_reason)
        with self.at(datetime(2026, 12, 8, 8, 0)):
            self.run_cron()
        self.assertEqual(len(self.sequence_mails(enrollments)), 5)
