from datetime import datetime

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MONDAY_0700_UTC, SalesSequenceCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestAudience(SalesSequenceCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme = cls.env["res.partner"].create({"name": "Acme", "is_company": True, "industry_id": False})
        cls.globex = cls.env["res.partner"].create({"name": "Globex", "is_company": True})
        cls.acme_people = cls.env["res.partner"].create(
            [
                {"name": "Ann Acme", "email": "ann@acme.example", "parent_id": cls.acme.id, "function": "CTO"},
                {"name": "Bob Acme", "email": "bob@acme.example", "parent_id": cls.acme.id, "function": "Intern"},
            ]
        )
        cls.globex_person = cls.env["res.partner"].create(
            {"name": "Gil Globex", "email": "gil@globex.example", "parent_id": cls.globex.id}
        )

    def _sequence(self, lines, **values):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(audience_ids=[Command.create(line) for line in lines], **values)
            sequence.action_activate()
        return sequence

    def test_contacts_matching_conditions_are_enrolled_once(self):
        twin = self.env["res.partner"].create({"name": "Contact 00 again", "email": self.contacts[0].email.upper()})
        sequence = self._sequence(
            [{"name": "Customer contacts", "filter_domain": "[('email', 'ilike', '@customer.example.com')]"}]
        )
        with self.at(MONDAY_0700_UTC):
            enrolled = sequence._sync_audience()
        self.assertEqual(set(enrolled.partner_id.ids), set(self.contacts.ids), "one per email: the twin is left out")
        self.assertNotIn(twin, enrolled.partner_id)
        self.assertEqual(set(enrolled.mapped("state")), {"active"})
        self.assertEqual(set(enrolled.mapped("next_run_at")), {datetime(2026, 12, 7, 8, 0)})
        with self.at(MONDAY_0700_UTC):
            again = sequence._sync_audience()
        self.assertFalse(again, "a second sync adds nobody")
        self.assertEqual(sequence.enrollment_count, 10)

    def test_accounts_expand_to_their_persons_with_a_filter(self):
        sequence = self._sequence(
            [
                {
                    "name": "Acme decision makers",
                    "source": "accounts",
                    "filter_domain": "[('name', '=', 'Acme')]",
                    "person_domain": "[('function', '=', 'CTO')]",
                }
            ]
        )
        enrolled = sequence._sync_audience()
        self.assertEqual(enrolled.partner_id, self.acme_people[0])

    def test_saved_views_the_owner_may_use(self):
        shared = self.env["ir.filters"].create(
            {"name": "Globex people", "model_id": "res.partner", "domain": "[('parent_id.name', '=', 'Globex')]"}
        )
        private = self.env["ir.filters"].create(
            {"name": "Someone's", "model_id": "res.partner", "domain": "[]", "user_id": self.user_sales_2.id}
        )
        sequence = self._sequence([{"name": "From a view", "source": "filter", "filter_id": shared.id}])
        self.assertEqual(sequence._sync_audience().partner_id, self.globex_person)
        with self.assertRaises(ValidationError) as caught:
            sequence.audience_ids = [Command.create({"name": "Not mine", "source": "filter", "filter_id": private.id})]
        self.assertIn("belongs to Sam Seller", str(caught.exception))

    def test_refusals_of_a_sync_are_recorded_once(self):
        self.env["mail.blacklist"]._add(self.contacts[0].email)
        sequence = self._sequence([{"name": "All", "filter_domain": "[('email', 'ilike', '@customer.example.com')]"}])
        sequence._sync_audience()
        sequence._sync_audience()
        refusals = self.env["sales.sequence.refusal"].search([("sequence_id", "=", sequence.id)])
        self.assertEqual(len(refusals), 1)
        self.assertEqual(
            (refusals.partner_id, refusals.rule, refusals.source), (self.contacts[0], "blacklisted", "audience")
        )

    def test_preview_before_enrolling(self):
        sequence = self._sequence([{"name": "Acme", "source": "accounts", "filter_domain": "[('name', '=', 'Acme')]"}])
        action = sequence.with_user(self.user_sales).action_preview_audience()
        self.assertEqual(self.env["res.partner"].search(action["domain"]), self.acme_people)
        self.assertIn("2 new contact(s)", action["name"])
        self.assertFalse(sequence.enrollment_ids, "a preview enrolls nobody")

    def test_the_cron_syncs_at_each_sequences_cadence(self):
        daily = self._sequence(
            [{"name": "Acme", "source": "accounts", "filter_domain": "[('name', '=', 'Acme')]"}],
            name="Daily",
            audience_sync="daily",
            audience_sync_hour=6.0,
        )
        manual = self._sequence(
            [{"name": "Globex", "source": "accounts", "filter_domain": "[('name', '=', 'Globex')]"}],
            name="Manual",
            audience_sync="manual",
        )
        cron = self.env.ref("sales_sequence.ir_cron_sync_audiences")
        with self.at(MONDAY_0700_UTC):
            cron.method_direct_trigger()
        self.assertEqual(daily.enrollment_count, 2)
        self.assertFalse(manual.enrollment_ids, "on demand only")
        # 06:00 Brussels the next day = 05:00 UTC
        self.assertEqual(daily.audience_next_sync, datetime(2026, 12, 8, 5, 0))
        newcomer = self.env["res.partner"].create(
            {"name": "Cy Acme", "email": "cy@acme.example", "parent_id": self.acme.id}
        )
        with self.at(datetime(2026, 12, 7, 12, 0)):
            cron.method_direct_trigger()
        self.assertNotIn(newcomer, daily.enrollment_ids.partner_id, "not due yet")
        with self.at(datetime(2026, 12, 8, 5, 0)):
            cron.method_direct_trigger()
        self.assertIn(newcomer, daily.enrollment_ids.partner_id)

    def test_a_concurrent_enrollment_is_skipped_without_error(self):
        sequence = self._sequence([{"name": "Acme", "source": "accounts", "filter_domain": "[('name', '=', 'Acme')]"}])
        Enrollment = self.env["sales.sequence.enrollment"]
        first = Enrollment._insert_open(sequence, self.acme_people)
        second = Enrollment._insert_open(sequence, self.acme_people)  # as a racing worker would, after the first
        self.assertEqual(len(first), 2)
        self.assertFalse(second)
