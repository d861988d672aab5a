from datetime import timedelta

from odoo.tests import tagged

from .test_step_types import MONDAY_0800_UTC, StepTypesCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceReport(StepTypesCommon):
    """Sequences > Reporting: the funnel per sequence, step and rep, read from the step runs and their events."""

    def _created_at(self, records, when):
        self.env.flush_all()
        self.env.cr.execute(
            f"UPDATE {records._table} SET create_date = %s WHERE id = ANY(%s)",  # noqa: S608 - a model's own table
            [when, records.ids],
        )

    def test_funnel_per_step_and_rep_with_reply_rate(self):
        sequence = self._mixed_sequence([{"delay_days": 0}, {"delay_days": 0, "thread_mode": "reply"}])
        enrollments = self._start(sequence, self.contacts[:4])
        self._run_at(MONDAY_0800_UTC)
        first_step = sequence.step_ids[0]
        touches = enrollments.touch_ids.filtered(lambda t: t.step_id == first_step)
        self.assertEqual(len(touches), 4)
        one, two = touches.sorted("id")[:2]
        after = one.date + timedelta(hours=1)
        Event = self.env["sales.sequence.event"]
        Event._record(one.enrollment_id | two.enrollment_id, "open", step=first_step)
        Event.search([("event_type", "=", "open")]).write({"date": after})
        Event.search([("event_type", "=", "open")]).filtered(
            lambda e: e.enrollment_id == one.enrollment_id
        ).touch_id = one
        Event.search([("event_type", "=", "open")]).filtered(
            lambda e: e.enrollment_id == two.enrollment_id
        ).touch_id = two
        Event._record(one.enrollment_id, "reply", step=first_step).date = after
        meeting = self.env["calendar.event"].create(
            {"name": "Demo", "start": after, "stop": after + timedelta(hours=1), "partner_ids": one.partner_id.ids}
        )
        lead = self.env["crm.lead"].create({"name": "Deal", "type": "opportunity", "partner_id": one.partner_id.id})
        self._created_at(meeting, after)
        self._created_at(lead, after)

        Report = self.env["sales.sequence.report"].with_user(self.user_sales_manager)
        rows = Report._read_group(
            [("sequence_id", "=", sequence.id)],
            ["step_id"],
            ["sent:sum", "opened:sum", "replied:sum", "meetings:sum", "opportunities:sum", "reply_rate:avg"],
        )
        by_step = {step: values for step, *values in rows}
        self.assertEqual(by_step[first_step], [4, 2, 1, 1, 1, 25.0])
        self.assertNotIn(sequence.step_ids[1], by_step, "the second step has not run yet")

        per_rep = Report._read_group([("sequence_id", "=", sequence.id)], ["user_id"], ["sent:sum", "replied:sum"])
        self.assertEqual(per_rep, [(self.user_sales, 4, 1)])

    def test_a_rep_reads_only_their_own_rows(self):
        mine = self._mixed_sequence([{"delay_days": 0}], name="Mine")
        self._start(mine, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        Report = self.env["sales.sequence.report"]
        self.assertEqual(Report.with_user(self.user_sales).search_count([("sequence_id", "=", mine.id)]), 1)
        self.assertEqual(Report.with_user(self.user_sales_2).search_count([("sequence_id", "=", mine.id)]), 0)
        self.assertEqual(Report.with_user(self.user_sales_manager).search_count([("sequence_id", "=", mine.id)]), 1)
