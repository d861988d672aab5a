from datetime import timedelta

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import MONDAY_0700_UTC
from .test_step_types import MONDAY_0800_UTC, StepTypesCommon


@tagged("post_install", "-at_install", "sales_sequence")
class TestNeedsAttention(StepTypesCommon):
    """Needs Attention lists, per user, the drafts to approve, the replies to handle, the sequence calls and tasks
    due, the blocked and bounced enrollments; each row's button calls the source record's own action."""

    def _rows(self, user, **domain):
        Attention = self.env["sales.sequence.attention"].with_user(user)
        return Attention.search([(field, "=", value) for field, value in domain.items()])

    def _kinds(self, user):
        return sorted(self._rows(user).mapped("kind"))

    def _all_four(self):
        """Sally's sequence with one of each: a draft, a reply, a call due, a blocked enrollment, a bounce."""
        approval = self._mixed_sequence([{}, {"delay_days": 2}], name="Approve me", require_approval=True)
        calls = self._mixed_sequence([{"step_type": "call", "activity_summary": "Call {{ object.name }}"}])
        replies = self._mixed_sequence([{}, {"delay_days": 2}], name="Replies")
        nojob = self.env["res.partner"].create({"name": "No Email"})  # the run blocks it
        enrollments = {
            "approval": self._start(approval, self.contacts[:1]),
            "call": self._start(calls, self.contacts[1:2]),
            "reply": self._start(replies, self.contacts[2:4]),
        }
        with self.at(MONDAY_0700_UTC):
            # Created directly: enrolling refuses a contact without email, the run blocks one that lost it.
            enrollments["blocked"] = self.env["sales.sequence.enrollment"].create(
                {"sequence_id": replies.id, "partner_id": nojob.id}
            )
            enrollments["blocked"]._start()
        self._run_at(MONDAY_0800_UTC)
        replied, bounced = enrollments["reply"]
        with self.at(MONDAY_0800_UTC + timedelta(hours=1)):
            replied._on_reply(
                {"subject": "Re: hi", "email_from": replied.partner_id.email, "body": "<p>Yes</p>"}, replied
            )
            bounced._end("bounced", "The address bounced.")
        enrollments["reply"], enrollments["bounced"] = replied, bounced
        return enrollments

    def test_the_activity_menu_counts_what_waits_on_the_rep(self):
        self._all_four()
        with self.at(MONDAY_0800_UTC + timedelta(hours=2)):
            groups = self.env["res.users"].with_user(self.user_sales)._get_activity_groups()
            others = self.env["res.users"].with_user(self.user_sales_2)._get_activity_groups()
        (ours,) = [group for group in groups if group["type"] == "sales_sequence_attention"]
        self.assertEqual(ours["name"], "Sequences: 5 need attention")
        self.assertEqual(
            {kind["label"]: kind["count"] for kind in ours["kinds"]},
            {
                "Draft to approve": 1,
                "Reply to handle": 1,
                "Call due": 1,
                "Blocked enrollment": 1,
                "Bounced enrollment": 1,
            },
        )
        self.assertFalse([group for group in others if group["type"] == "sales_sequence_attention"], "nothing waits")

    def test_each_kind_is_listed_for_the_owner_only_and_managers_see_all(self):
        enrollments = self._all_four()
        self.assertEqual(enrollments["blocked"].state, "blocked", enrollments["blocked"].state_reason)
        with self.at(MONDAY_0800_UTC + timedelta(hours=2)):
            self.assertEqual(
                self._kinds(self.user_sales), ["approval", "blocked", "bounced", "call", "reply"], "Sally's day"
            )
            self.assertFalse(self._rows(self.user_sales_2), "another rep sees none of it")
            self.assertEqual(len(self._rows(self.user_sales_manager)), 5, "a manager sees everyone's")
            rows = self._rows(self.user_sales)
            with self.assertRaises(AccessError):
                rows.with_user(self.user_sales_2).read(["reason"])
            counts = dict(
                self.env["sales.sequence.attention"]
                .with_user(self.user_sales)
                ._read_group([("due", "=", True)], ["kind"], ["__count"])
            )
            self.assertEqual(counts, dict.fromkeys(["approval", "blocked", "bounced", "call", "reply"], 1))
            reply = self._rows(self.user_sales, kind="reply")
            self.assertEqual(reply.partner_id, enrollments["reply"].partner_id)
            self.assertEqual(reply.record_ref, enrollments["reply"])
            self.assertIn("Replied", reply.reason)

    def test_a_call_due_later_is_not_due_today(self):
        sequence = self._mixed_sequence([{"step_type": "call", "activity_summary": "Later", "activity_due_days": 3}])
        self._start(sequence, self.contacts[:1])
        self._run_at(MONDAY_0800_UTC)
        Attention = self.env["sales.sequence.attention"].with_user(self.user_sales)
        with self.at(MONDAY_0800_UTC):
            self.assertEqual(Attention.search([]).kind, "call")
            self.assertFalse(Attention.search([("due", "=", True)]))
        with self.at(MONDAY_0800_UTC + timedelta(days=3)):
            self.assertEqual(Attention.search([("due", "=", True)]).kind, "call")

    def test_one_click_actions_call_the_records_own_actions(self):
        enrollments = self._all_four()
        sally = self.user_sales
        with self.at(MONDAY_0800_UTC + timedelta(hours=2)):
            self._rows(sally, kind="approval").action_approve()
            self.assertEqual(
                self.env["sales.sequence.draft"].search([("enrollment_id", "=", enrollments["approval"].id)]).state,
                "approved",
            )
            self._rows(sally, kind="call").action_mark_done()
            self.assertTrue(enrollments["call"].touch_ids.done_at)
            self._rows(sally, kind="reply").action_close()
            self.assertEqual(enrollments["reply"].state, "completed")
            self.assertIn("close", enrollments["reply"].event_ids.mapped("event_type"))
            self._rows(sally, kind="bounced").action_dismiss()
            enrollments["blocked"].partner_id.email = "now@example.com"
            self._rows(sally, kind="blocked").action_resume()
            self.assertEqual(enrollments["blocked"].state, "active")
            self.assertFalse(self._rows(sally), "nothing waits any more")

    def test_another_rep_cannot_act_on_the_rows(self):
        enrollments = self._all_four()
        row = self._rows(self.user_sales_manager, kind="reply")
        with self.assertRaises(AccessError):
            row.with_user(self.user_sales_2).action_close()
        self.assertEqual(enrollments["reply"].state, "paused")

    def test_open_goes_to_the_source_record(self):
        enrollments = self._all_four()
        action = self._rows(self.user_sales, kind="call").action_open()
        self.assertEqual((action["res_model"], action["res_id"]), ("sales.sequence.enrollment", enrollments["call"].id))
        action = self._rows(self.user_sales, kind="approval").action_open()
        self.assertEqual(action["res_model"], "sales.sequence.draft")
