from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install", "sales_sequence")
class TestSequenceTour(HttpCase):
    """A salesperson, in a real browser: build a sequence with a {{ }} placeholder in the body, activate it,
    enroll a contact, preview the step and send a test; then the cron sends the real email."""

    def test_build_activate_enroll(self):
        seller = new_test_user(
            self.env,
            login="tour_sales",
            name="Tour Seller",
            email="tour.seller@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        contact = self.env["res.partner"].create({"name": "Tour Contact", "email": "tour.contact@example.com"})
        self.start_tour("/odoo", "sales_sequence_tour", login="tour_sales")

        sequence = self.env["sales.sequence"].search([("name", "=", "Tour sequence")])
        self.assertEqual(sequence.state, "active")
        self.assertEqual(sequence.user_id.login, "tour_sales")
        self.assertEqual(sequence.step_ids.mapped("name"), ["Introduction"])
        self.assertIn('t-out="object.name"', sequence.step_ids.body_html, "the typed {{ }} became a placeholder")
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.partner_id, contact)
        self.assertEqual(enrollment.state, "active")
        self.assertTrue(enrollment.next_run_at)

        test_mail = self.env["mail.mail"].search([("subject", "=", "[TEST] Hello Tour Contact")])
        self.assertEqual(test_mail.email_to, seller.email_formatted)
        self.assertIn("Hello Tour Contact, nice to meet you.", test_mail.body_html)
        self.assertFalse(enrollment.touch_ids, "the test send is not a step run")

        with freeze_time(enrollment.next_run_at):
            self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        mail = self.env["mail.mail"].search(
            [("model", "=", "sales.sequence.enrollment"), ("res_id", "=", enrollment.id)]
        )
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.state, "outgoing", "queued in Odoo's mail queue")
        self.assertEqual(mail.subject, "Hello Tour Contact")
        self.assertIn("Hello Tour Contact, nice to meet you.", mail.body_html)
        self.assertNotIn("{{", mail.body_html)


@tagged("post_install", "-at_install", "sales_sequence")
class TestStepsTour(HttpCase):
    """In Chromium: a sequence with an email and a task step, asking before sending; a contact enrolled from its
    form; the first email approved in Needs Attention; the enrollment's timeline; then the cron sends it."""

    def test_build_enroll_approve_timeline(self):
        new_test_user(
            self.env,
            login="tour_approver",
            name="Tour Approver",
            email="tour.approver@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
            tz="UTC",
        )
        contact = self.env["res.partner"].create({"name": "Tour Contact", "email": "tour.contact@example.com"})
        self.start_tour("/odoo", "sales_sequence_steps_build_tour", login="tour_approver")
        sequence = self.env["sales.sequence"].search([("name", "=", "Approval tour")])
        self.assertEqual(sequence.state, "active")
        self.assertTrue(sequence.require_approval)
        self.assertEqual(sequence.step_ids.mapped("step_type"), ["email", "task"])

        # Send at any hour: the tour's clock is the machine's.
        sequence.calendar_id = self.env["resource.calendar"].create(
            {
                "name": "Always",
                "tz": "UTC",
                "attendance_ids": [Command.clear()]
                + [
                    Command.create({"name": str(d), "dayofweek": str(d), "hour_from": 0, "hour_to": 24})
                    for d in range(7)
                ],
            }
        )
        self.start_tour(f"/odoo/contacts/{contact.id}", "sales_sequence_steps_enroll_tour", login="tour_approver")
        enrollment = sequence.enrollment_ids
        self.assertEqual(enrollment.partner_id, contact)
        enrollment.next_run_at = fields.Datetime.now()
        self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        draft = self.env["sales.sequence.draft"].search([("enrollment_id", "=", enrollment.id)])
        self.assertEqual(draft.state, "pending")

        self.start_tour(
            "/odoo/action-sales_sequence.action_sales_sequence_draft",
            "sales_sequence_steps_approve_tour",
            login="tour_approver",
        )
        self.assertEqual(draft.state, "approved")
        self.assertEqual(draft.decided_by_id.login, "tour_approver")
        enrollment.next_run_at = fields.Datetime.now()
        self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        self.assertEqual(draft.state, "sent")
        mail = self.env["mail.mail"].search(
            [("model", "=", "sales.sequence.enrollment"), ("res_id", "=", enrollment.id)]
        )
        self.assertEqual(mail.subject, "Hello Tour Contact")
        self.assertEqual(enrollment.step_id.step_type, "task", "the task step is next")


@tagged("post_install", "-at_install", "sales_sequence")
class TestTeamTour(HttpCase):
    """In Chromium: a manager shares a sequence and reads the funnel report; a salesperson who is no Mail Template
    Editor copies it, inserts a merge field from the picker, sees the preview hold a contact whose field is empty,
    and sends a test carrying the footer and signature the prospect gets."""

    def test_share_report_copy_personalize(self):
        editor_group = self.env.ref("mail.group_mail_template_editor")
        self.env.ref("base.group_user").implied_ids -= editor_group
        manager = new_test_user(
            self.env,
            login="tour_manager",
            name="Tour Manager",
            email="tour.manager@test.example.com",
            groups="base.group_user,sales_team.group_sale_manager",
        )
        rep = new_test_user(
            self.env,
            login="tour_rep",
            name="Tour Rep",
            email="tour.rep@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
            signature="<p>Tour Rep, Account Executive</p>",
        )
        editor_group.users -= rep
        acme = self.env["res.partner"].create({"name": "Acme", "is_company": True})
        self.env["res.partner"].create({"name": "Ann Smith", "email": "ann@acme.example", "parent_id": acme.id})
        playbook = (
            self.env["sales.sequence"]
            .with_user(manager)
            .create(
                {
                    "name": "Team playbook",
                    "step_ids": [
                        Command.create(
                            {
                                "name": "Intro",
                                "subject": "Hello",
                                "body_html": "<p>I saw that {{ object.commercial_company_name }} is growing.</p>",
                                "thread_mode": "new",
                            }
                        )
                    ],
                }
            )
        )
        contact = self.env["res.partner"].create({"name": "Funnel Contact", "email": "funnel@example.com"})
        enrollment = (
            self.env["sales.sequence.enrollment"].sudo().create({"sequence_id": playbook.id, "partner_id": contact.id})
        )
        touch = (
            self.env["sales.sequence.touch"]
            .sudo()
            .create(
                {"enrollment_id": enrollment.id, "step_id": playbook.step_ids.id, "subject": "Hello", "mailbox": "m@x"}
            )
        )
        self.env["sales.sequence.event"]._record(enrollment, "reply", step=playbook.step_ids, touch_id=touch.id)

        self.start_tour("/odoo", "sales_sequence_manager_tour", login="tour_manager")
        self.assertTrue(playbook.shared)

        self.start_tour("/odoo", "sales_sequence_rep_tour", login="tour_rep")
        copy = self.env["sales.sequence"].search([("name", "=", "Team playbook (Tour Rep)")])
        self.assertEqual(copy.user_id, rep)
        self.assertIn('<t t-out="object.first_name">there</t>', copy.step_ids.body_html)
        self.assertEqual(playbook.step_ids.body_html.count("first_name"), 0, "the shared original is unchanged")
        test_mail = self.env["mail.mail"].search([("subject", "=", "[TEST] Hello")])
        self.assertEqual(test_mail.email_to, rep.email_formatted)
        self.assertIn("Acme is growing", test_mail.body_html)
        self.assertIn("Tour Rep, Account Executive", test_mail.body_html)
        self.assertIn("Unsubscribe from these emails", test_mail.body_html)


@tagged("post_install", "-at_install", "sales_sequence")
class TestAttentionTour(HttpCase):
    """In Chromium, after a run: the blocked enrollment on the sequence's card and in Sequences > Blocked with its
    reason, and an email held by the daily limit sent with Send Now (issue 18, items 4 and 9)."""

    def test_blocked_and_held_after_a_run(self):
        rep = new_test_user(
            self.env,
            login="tour_attention",
            name="Tour Attention",
            email="tour.attention@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        contacts = self.env["res.partner"].create(
            [
                {"name": "Ada Able", "email": "ada@example.com", "function": "CEO"},
                {"name": "Ben Busy", "email": "ben@example.com", "function": "CTO"},
                {"name": "Nadia Nojob", "email": "nadia@example.com"},
            ]
        )
        sequence = (
            self.env["sales.sequence"]
            .with_user(rep)
            .create(
                {
                    "name": "Held cadence",
                    "daily_limit": 3,
                    "step_ids": [
                        Command.create(
                            {"name": "Intro", "subject": "Hello", "body_html": "<p>As {{ object.function }}</p>"}
                        ),
                        Command.create({"name": "Follow-up", "delay_days": 2, "body_html": "<p>Again</p>"}),
                    ],
                }
            )
        )
        sequence.action_activate()
        cron = self.env.ref("sales_sequence.ir_cron_run_sequences")
        enrollments, _refusals = sequence._enroll_partners(contacts)
        slot = max(enrollments.mapped("next_run_at"))
        with freeze_time(slot):
            cron.method_direct_trigger()
        blocked = enrollments.filtered(lambda e: e.state == "blocked")
        self.assertEqual(blocked.partner_id.name, "Nadia Nojob", enrollments.mapped("state_reason"))
        self.assertIn("is empty for Nadia Nojob", blocked.state_reason)
        # Two emails went today; with a limit of 2 the next contact's email is held.
        sequence.daily_limit = 2
        with freeze_time(slot):
            held, _refusals = sequence._enroll_partners(
                self.env["res.partner"].create({"name": "Dan Later", "email": "dan@example.com", "function": "CFO"})
            )
        with freeze_time(slot + timedelta(minutes=30)):
            cron.method_direct_trigger()
        self.assertEqual(held.state, "queued", held.state_reason)
        self.start_tour(
            "/odoo/action-sales_sequence.action_sales_sequence", "sales_sequence_blocked_tour", login="tour_attention"
        )
        self.start_tour(
            f"/odoo/sales.sequence.enrollment/{held.id}", "sales_sequence_send_now_tour", login="tour_attention"
        )
        self.assertEqual(held.state, "active", "released for the next run")
        self.assertIn("Send Now", held.state_reason)


@tagged("post_install", "-at_install", "sales_sequence")
class TestBranchTour(HttpCase):
    """In Chromium: a branch step added in the sequence form and shown in the step list; a sequence call marked
    done from the contact's chatter with its outcome (issue 20, items 2 and 3)."""

    def test_branch_step_and_call_outcome(self):
        rep = new_test_user(
            self.env,
            login="tour_branch",
            name="Tour Branch",
            email="tour.branch@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        sequence = (
            self.env["sales.sequence"]
            .with_user(rep)
            .create(
                {
                    "name": "Branch cadence",
                    "step_ids": [
                        Command.create(
                            {
                                "name": "Intro call",
                                "sequence": 10,
                                "step_type": "call",
                                "activity_summary": "Intro call",
                                "require_call_outcome": True,
                            }
                        ),
                        Command.create({"name": "Decide", "sequence": 20, "subject": "D", "body_html": "<p>D</p>"}),
                        Command.create({"name": "Thanks", "sequence": 30, "delay_days": 1, "body_html": "<p>T</p>"}),
                        Command.create({"name": "Nudge", "sequence": 40, "delay_days": 2, "body_html": "<p>N</p>"}),
                    ],
                }
            )
        )
        self.start_tour(
            f"/odoo/action-sales_sequence.action_sales_sequence/{sequence.id}",
            "sales_sequence_branch_tour",
            login="tour_branch",
        )
        branch = sequence.step_ids.filtered(lambda s: s.step_type == "branch")
        self.assertEqual(branch.branch_yes_step_id.name, "Thanks")
        self.assertEqual(branch.condition_ids.condition_type, "any_replied")

        contact = self.env["res.partner"].create({"name": "Callie Call", "email": "callie@example.com"})
        sequence.action_activate()
        enrollment, _refusals = sequence._enroll_partners(contact)
        with freeze_time(enrollment.next_run_at):
            self.env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        self.assertTrue(contact.activity_ids)
        self.start_tour(f"/odoo/contacts/{contact.id}", "sales_sequence_call_outcome_tour", login="tour_branch")
        self.assertEqual(enrollment.touch_ids.call_outcome_id, self.env.ref("sales_sequence.call_outcome_connected"))


@tagged("post_install", "-at_install", "sales_sequence")
class TestNeedsAttentionTour(HttpCase):
    """In Chromium: Sequences > Needs Attention counts each kind in its group header, and a reply is resumed in one
    click (issue 20, item 3)."""

    def test_counts_and_resume_a_reply(self):
        rep = new_test_user(
            self.env,
            login="tour_day",
            name="Tour Day",
            email="tour.day@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        sequence = (
            self.env["sales.sequence"]
            .with_user(rep)
            .create(
                {
                    "name": "Day cadence",
                    "step_ids": [
                        Command.create({"name": "Intro", "subject": "Hello", "body_html": "<p>Hi</p>"}),
                        Command.create({"name": "Again", "delay_days": 2, "body_html": "<p>Again</p>"}),
                    ],
                }
            )
        )
        sequence.action_activate()
        contacts = self.env["res.partner"].create(
            [{"name": "Rita Replied", "email": "rita@example.com"}, {"name": "Bob Blocked", "email": "bob@example.com"}]
        )
        replied, blocked = sequence._enroll_partners(contacts)[0]
        self.env["sales.sequence.event"]._record(replied, "reply", "Re: Hello")
        replied._pause("Replied today.", next_run_at=False)
        blocked._block("The contact has no email address.")
        self.start_tour("/odoo/crm", "sales_sequence_needs_attention_tour", login="tour_day")
        self.assertEqual(replied.state, "active", "resumed from Needs Attention")
        self.assertEqual(blocked.state, "blocked")


@tagged("post_install", "-at_install", "sales_sequence")
class TestOpportunityTour(HttpCase):
    """In Chromium: a salesperson opens an opportunity, adds it to a sequence from its form, and sees the smart
    button count the enrollment and list it with the opportunity."""

    def test_enroll_from_the_opportunity(self):
        seller = new_test_user(
            self.env,
            login="tour_pipeline",
            name="Tour Pipeline",
            email="tour.pipeline@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        buyer = self.env["res.partner"].create({"name": "Tour Buyer", "email": "tour.buyer@example.com"})
        lead = self.env["crm.lead"].create(
            {"name": "Tour deal", "type": "opportunity", "partner_id": buyer.id, "user_id": seller.id}
        )
        sequence = self.env["sales.sequence"].create(
            {
                "name": "Pipeline tour",
                "user_id": seller.id,
                "step_ids": [Command.create({"name": "Hello", "subject": "Hello", "body_html": "<p>Hello</p>"})],
            }
        )
        sequence.with_user(seller).action_activate()
        self.start_tour(
            f"/odoo/action-crm.crm_lead_action_pipeline/{lead.id}",
            "sales_sequence_opportunity_tour",
            login="tour_pipeline",
        )
        enrollment = sequence.enrollment_ids
        self.assertEqual((enrollment.partner_id, enrollment.lead_id), (buyer, lead))
        self.assertEqual(enrollment.state, "active")


@tagged("post_install", "-at_install", "sales_sequence")
class TestEraseTour(HttpCase):
    """In Chromium, a Sequence Manager deletes a contact a sequence wrote to: the deletion offers Erase Personal Data,
    the erasure runs, the contact is gone (issue 20, item 5)."""

    def test_delete_offers_erasure(self):
        new_test_user(
            self.env,
            login="tour_eraser",
            name="Tour Eraser",
            email="tour.eraser@test.example.com",
            groups="base.group_user,base.group_partner_manager,sales_team.group_sale_manager",
        )
        contact = self.env["res.partner"].create({"name": "Zebulon Quartzfield", "email": "zebulon@example.com"})
        self.env["res.partner"].create({"name": "Tour Neighbour", "email": "neighbour@example.com"})
        sequence = self.env["sales.sequence"].create(
            {
                "name": "Erase tour",
                "step_ids": [Command.create({"name": "Intro", "subject": "Hi", "body_html": "<p>Hi</p>"})],
            }
        )
        enrollment = self.env["sales.sequence.enrollment"].create(
            {"sequence_id": sequence.id, "partner_id": contact.id}
        )
        touch = self.env["sales.sequence.touch"].create(
            {"enrollment_id": enrollment.id, "step_id": sequence.step_ids.id, "subject": "Hi Zebulon"}
        )
        self.env["sales.sequence.event"]._record(enrollment, "send", "Sent", step=touch.step_id, touch_id=touch.id)

        self.start_tour(f"/odoo/contacts/{contact.id}", "sales_sequence_erase_tour", login="tour_eraser")

        contact = contact.with_context(active_test=False)
        self.assertEqual((contact.name, contact.email, contact.active), (f"Erased contact #{contact.id}", False, False))
        self.assertFalse(touch.subject)
        log = self.env["sales.sequence.erasure"].search([("contact_ref", "=", contact.id)])
        self.assertEqual((log.user_id.login, log.source), ("tour_eraser", "contact_delete"))
