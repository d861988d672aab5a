from odoo import Command
from odoo.tests import tagged

from .common import MONDAY_0700_UTC, SalesSequenceCommon

# What the comparison reads of each result (an enrollment's id differs between the two runs, its contact does not).
ENROLLMENT_FIELDS = (
    "state",
    "state_reason",
    "step_id",
    "next_run_at",
    "user_id",
    "company_id",
    "active",
    "paused_by_sequence",
    "date_enrolled",
    "date_done",
    "held_by_limit",
    "last_touch_at",
)


@tagged("post_install", "-at_install", "sales_sequence")
class TestAudienceSqlPath(SalesSequenceCommon):
    """The audience sync enrolls in set-based SQL (inserted already started, ids taken beforehand); it must give
    exactly what the ORM path (`_enroll_partners`: create, then `_start`) gives the same contacts: the same
    enrollments, refusals and events, for an audience mixing every reason to refuse."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tag = cls.env["res.partner.category"].create({"name": "Audience SQL"})
        cls.other_company = cls.env["res.company"].create({"name": "Elsewhere Ltd"})

        def person(name, email, **values):
            return cls.env["res.partner"].create(
                {"name": name, "email": email, "category_id": [Command.link(cls.tag.id)], **values}
            )

        cls.fine = (
            person("Fine Brussels", "fine1@audience.example")
            | person("Fine New York", "fine2@audience.example", tz="America/New_York")
            | person("Fine Tokyo", "fine3@audience.example", tz="Asia/Tokyo")
            | person("Fine Plain", "fine4@audience.example")
        )
        cls.blacklisted = person("Blocked", "blocked@audience.example")
        cls.env["mail.blacklist"]._add(cls.blacklisted.email)
        cls.no_email = person("Nomail", False)
        cls.invalid_email = person("Invalid", "not-an-address")
        cls.elsewhere = person("Running Elsewhere", "elsewhere@audience.example")
        cls.came_back = person("Came Back", "back@audience.example")
        cls.competitor = person("Rival", "spy@rival.example")
        cls.replied = person("Replied", "replied@audience.example")
        cls.mismatch = person("Other Company", "other@audience.example", company_id=cls.other_company.id)
        cls.ruleset = cls.env["sales.sequence.ruleset"].create(
            {
                "name": "Strict rules",
                "reenrollment": "never",
                "multi_sequence": "block_any",
                "exclusion_ids": [
                    Command.create({"name": "Competitor", "domain": "[('email', '=ilike', '%@rival.example')]"})
                ],
            }
        )

    @property
    def audience_domain(self):
        return f"[('category_id', 'in', [{self.tag.id}])]"

    def _audience_sequence(self, **values):
        """A sequence of the strict rules whose audience is the tagged contacts; the history that makes some of them
        refused: running in another sequence, an ended enrollment here, a reply in a third sequence."""
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(
                audience_ids=[Command.create({"name": "Tagged", "filter_domain": self.audience_domain})],
                use_contact_tz=True,
                **values,
            )
            sequence.ruleset_id = self.ruleset
            sequence.action_activate()
            other = self._create_sequence(name="Other running")
            other.action_activate()
            other._enroll_partners(self.elsewhere)
            ended, _refusals = sequence._enroll_partners(self.came_back)
            ended.action_cancel()
            third = self._create_sequence(name="Third")
            third.action_activate()
            talked, _refusals = third._enroll_partners(self.replied)
            talked.action_cancel()
            self.env["sales.sequence.event"].sudo().create(
                {"enrollment_id": talked.id, "event_type": "reply", "date": MONDAY_0700_UTC}
            )
        return sequence

    def _snapshot(self, sequence, since_trigger):
        """Everything a sync leaves behind for `sequence`, keyed by contact."""
        self.env.flush_all()
        self.env.invalidate_all()
        enrollments = self.env["sales.sequence.enrollment"].search(
            [("sequence_id", "=", sequence.id), ("state", "not in", ("canceled",))]
        )
        refusals = self.env["sales.sequence.refusal"].search([("sequence_id", "=", sequence.id)])
        events = self.env["sales.sequence.event"].search([("enrollment_id", "in", enrollments.ids)])
        crons = self.env.ref("sales_sequence.ir_cron_run_sequences") | self.env.ref(
            "sales_sequence.ir_cron_run_sequences_parallel"
        )
        triggers = self.env["ir.cron.trigger"].search([("id", ">", since_trigger), ("cron_id", "in", crons.ids)])
        return {
            "enrollments": {
                e.partner_id: tuple(e[name] for name in ENROLLMENT_FIELDS) for e in enrollments.sorted("partner_id")
            },
            "refusals": {(r.partner_id, r.rule, r.reason, r.exclusion_id, r.source) for r in refusals},
            "events": sorted((e.partner_id.id, e.event_type, e.description or "") for e in events),
            "triggers": sorted((t.cron_id.id, t.call_at) for t in triggers),
        }

    def _compare_paths(self, sequence):
        """(the ORM path's result, the sync's result), each from the same database state."""
        last_trigger = self.env["ir.cron.trigger"].search([], order="id desc", limit=1).id
        self.env.flush_all()
        self.env.cr.execute("SAVEPOINT orm_path")
        with self.at(MONDAY_0700_UTC):
            candidates = self.env["res.partner"].browse(sequence._audience_candidates())
            sequence._enroll_partners(candidates, source="audience")
            expected = self._snapshot(sequence, last_trigger)
        self.env.cr.execute("ROLLBACK TO SAVEPOINT orm_path")
        self.env.invalidate_all()
        with self.at(MONDAY_0700_UTC):
            enrolled = sequence._sync_audience()
            got = self._snapshot(sequence, last_trigger)
        return expected, got, enrolled

    def test_the_sql_path_gives_what_the_orm_path_gives(self):
        sequence = self._audience_sequence()
        expected, got, enrolled = self._compare_paths(sequence)
        self.assertEqual(got, expected)
        self.assertEqual(set(enrolled.partner_id), set(self.fine))
        self.assertEqual(
            {(partner, rule) for partner, rule, *_rest in got["refusals"]},
            {
                (self.blacklisted, "blacklisted"),
                (self.no_email, "no_email"),
                (self.invalid_email, "invalid_email"),
                (self.elsewhere, "other_sequence"),
                (self.came_back, "reenrollment"),
                (self.competitor, "exclusion"),
                (self.replied, "replied"),
            },
        )
        self.assertNotIn(self.mismatch, got["enrollments"], "the owner cannot see another company's contact")
        self.assertEqual(
            len({row[ENROLLMENT_FIELDS.index("next_run_at")] for row in got["enrollments"].values()}),
            3,
            "the 09:00 slot of each contact's timezone (Brussels for the two without one)",
        )
        self.assertTrue(got["triggers"], "the run cron is woken for the first slots")

    def test_randomized_slots_are_seeded_by_the_enrollment_as_before(self):
        sequence = self._audience_sequence(randomize=True)
        with self.at(MONDAY_0700_UTC):
            enrolled = sequence._sync_audience()
            schedule = sequence._get_send_schedule()
            first_step = sequence.step_ids[:1]
            for enrollment in enrolled:
                # The per-enrollment computation `_reschedule` uses: the id is the seed.
                self.assertEqual(
                    enrollment.next_run_at, enrollment._slot_for_step(schedule, first_step, MONDAY_0700_UTC, False)
                )
        self.assertEqual(set(enrolled.partner_id), set(self.fine))
        self.assertEqual(set(enrolled.mapped("state")), {"active"})

    def test_a_paused_sequence_gives_what_the_orm_path_gives(self):
        sequence = self._audience_sequence()
        sequence.action_pause()
        expected, got, enrolled = self._compare_paths(sequence)
        self.assertEqual(got, expected)
        self.assertEqual(set(enrolled.mapped("state")), {"paused"})
        self.assertIn("pause", {event_type for _partner, event_type, _description in got["events"]})

    def test_a_contact_enrolled_meanwhile_is_skipped_by_the_started_insert(self):
        sequence = self._audience_sequence()
        with self.at(MONDAY_0700_UTC):
            manual, _refusals = sequence._enroll_partners(self.fine[0])
            Enrollment = self.env["sales.sequence.enrollment"]
            # As a racing worker would, with candidates read before the manual enrollment committed.
            inserted = Enrollment._insert_started(sequence, self.fine.ids)
        self.assertEqual(inserted.partner_id, self.fine[1:])
        self.assertEqual(sequence.enrollment_count, 5, "the ended one and four open, the manual one once")
        self.assertIn(manual, sequence.enrollment_ids)
