from datetime import timedelta

from odoo.exceptions import AccessError, RedirectWarning, UserError
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from .test_conversation import MONDAY_0800_UTC, ConversationCommon

# What the person's data looks like in the database: the name's parts, the address, the phone in its two forms.
NAME = "Zebulon Quartzfield"
EMAIL = "zebulon.quartz@erasure.example.com"
TRACES = ("Zebulon", "Quartzfield", "zebulon.quartz", "470 55 66 77", "470556677", "Rue Secrete")
# Odoo's mail tables that hold what was sent to, received from or noted about the contact and their enrollments.
MAIL_TABLES = (
    "res_partner",
    "mail_message",
    "mail_mail",
    "mail_tracking_value",
    "mail_notification",
    "mail_followers",
    "mail_activity",
    "sms_sms",
    "ir_attachment",
    "link_tracker_click",
)
REPORT_FIGURES = ["step_runs:sum", "sent:sum", "opened:sum", "clicked:sum", "replied:sum", "bounced:sum"]
REPORT_FIGURES += ["meetings:sum", "opportunities:sum"]
METRICS = ["metric_sent", "metric_delivered", "metric_opened", "metric_clicked", "metric_replied", "metric_sms"]
METRICS += ["metric_bounced", "metric_unsubscribed", "metric_activities", "reply_rate", "open_rate"]


@tagged("post_install", "-at_install", "sales_sequence")
class TestErasure(ConversationCommon):
    """Erase Personal Data: the person's data leaves every table of the addon and Odoo's mail tables, the figures
    of the sequences and of the report stay."""

    def setUp(self):
        super().setUp()
        self.person = self.env["res.partner"].create(
            {
                "name": NAME,
                "email": EMAIL,
                "phone": "+32 470 55 66 77",
                "street": "Rue Secrete 12",
                "city": "Namur",
                "function": "Buyer",
            }
        )
        self.sequence, enrollments = self._send_first_step(self.person | self.contacts[0])
        self.enrollment = enrollments.filtered(lambda e: e.partner_id == self.person)
        touch = self.enrollment.touch_ids
        with self.at(MONDAY_0800_UTC + timedelta(hours=3)):
            self._process(self._reply(self.enrollment, body=f"Thanks, this is {NAME}, call me at +32 470 55 66 77."))
            Event = self.env["sales.sequence.event"]
            Event._record(self.enrollment, "open", step=touch.step_id, touch_id=touch.id)
            link = f"https://example.com/?who={EMAIL}"
            Event._record(self.enrollment, "click", link, step=touch.step_id, touch_id=touch.id, url=link)
        self.env["sales.sequence.draft"].sudo().create(
            {
                "enrollment_id": self.enrollment.id,
                "step_id": self.sequence.step_ids[1].id,
                "subject": f"Follow-up for {NAME}",
                "body_html": f"<p>Dear {NAME}</p>",
            }
        )
        self.env["sales.sequence.refusal"]._record(
            self.sequence, {self.person: ("invalid_email", f"Invalid email {EMAIL}", None)}, "manual"
        )
        self.env["sms.sms"].sudo().create(
            {"number": "+32470556677", "body": f"Hi {NAME}", "partner_id": self.person.id}
        )
        self.person.message_post(body=f"Met {NAME} at the fair, lives Rue Secrete 12.")
        self.env["crm.lead"].create({"name": "Deal", "type": "opportunity", "partner_id": self.person.id})

    def _figures(self):
        self.env.invalidate_all()
        report = self.env["sales.sequence.report"]._read_group(
            [("sequence_id", "=", self.sequence.id)], ["step_id"], REPORT_FIGURES
        )
        metrics = {name: self.sequence[name] for name in METRICS}
        steps = [{name: step[name] for name in METRICS} for step in self.sequence.step_ids]
        return report, metrics, steps, self.sequence.metric_enrolled

    def _traces(self):
        """{table: rows} of the tables (the addon's and Odoo's mail tables) whose text still holds the person."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT table_name, array_agg(column_name::text)
              FROM information_schema.columns
             WHERE table_schema = 'public' AND data_type IN ('character varying', 'text', 'jsonb')
               AND (table_name LIKE 'sales\\_sequence\\_%%' OR table_name = ANY(%s))
               AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')
             GROUP BY table_name
            """,
            [list(MAIL_TABLES)],
        )
        found = {}
        for table, columns in self.env.cr.fetchall():
            text = SQL(" || ' ' || ").join(SQL("coalesce(%s::text, '')", SQL.identifier(column)) for column in columns)
            self.env.cr.execute(
                SQL(
                    "SELECT count(*) FROM %s WHERE %s ILIKE ANY(%s)",
                    SQL.identifier(table),
                    text,
                    [f"%{trace}%" for trace in TRACES],
                )
            )
            count = self.env.cr.fetchone()[0]
            if count:
                found[table] = count
        return found

    def _erase(self, user=None):
        wizard = (
            self.env["sales.sequence.erase.wizard"]
            .with_user(user or self.user_sales_manager)
            .with_context(active_model="res.partner", active_ids=self.person.ids)
            .create({})
        )
        self.assertEqual(wizard.enrollment_count, 1)
        return wizard.action_erase()

    def test_erasure_leaves_no_trace_and_the_figures_unchanged(self):
        before = self._figures()
        self.assertEqual(before[1]["metric_replied"], 1, "the reply counts")
        traces = self._traces()
        for table in ("res_partner", "mail_message", "mail_mail", "sales_sequence_touch", "sales_sequence_event"):
            self.assertIn(table, traces, "the test really looks for the person where they are")

        self._erase()

        self.assertEqual(self._figures(), before, "the report and the metrics keep their numbers")
        self.assertEqual(self._traces(), {}, "no table still holds the person's name, address or phone")
        person = self.person.with_context(active_test=False)
        self.assertFalse(person.active)
        self.assertEqual(person.name, f"Erased contact #{self.person.id}")
        self.assertFalse(self.env["res.partner"].search([("name", "ilike", "Quartzfield")]), "the contact is gone")
        self.assertEqual(self.enrollment.state, "canceled")
        self.assertEqual(len(self.enrollment.touch_ids), 1, "the step run stays, for the figures")
        log = self.env["sales.sequence.erasure"].search([("contact_ref", "=", self.person.id)])
        self.assertEqual((log.user_id, log.source, log.blacklisted), (self.user_sales_manager, "wizard", True))
        self.assertGreaterEqual(log.message_count, 3)
        privacy_log = self.env["privacy.log"].search([("execution_details", "ilike", f"contact #{self.person.id} ")])
        self.assertEqual(len(privacy_log), 1, "Odoo's privacy register lists the erasure too")

    def test_the_address_stays_on_the_blacklist_only(self):
        self._erase()
        self.assertTrue(self.env["mail.blacklist"].search([("email", "=", EMAIL)]))
        again = self.env["res.partner"].create({"name": "Imported again", "email": EMAIL})
        with self.at(MONDAY_0800_UTC):
            enrolled, _refusals = self.sequence._enroll_partners(again)
        self.assertFalse(enrolled)
        refusal = self.env["sales.sequence.refusal"].search([("partner_id", "=", again.id)])
        self.assertEqual(refusal.rule, "blacklisted", "no future import mails them")

    def test_deleting_a_contact_with_history_offers_the_erasure(self):
        for user in self.user_sales | self.user_sales_manager:
            user.groups_id += self.env.ref("base.group_partner_manager")
        with self.assertRaises(RedirectWarning) as caught:
            self.person.with_user(self.user_sales_manager).unlink()
        _message, action_id, button, context = caught.exception.args
        self.assertEqual(action_id, self.env.ref("sales_sequence.action_sales_sequence_erase_wizard").id)
        self.assertEqual((button, context["default_partner_ids"]), ("Erase Personal Data", self.person.ids))
        with self.assertRaisesRegex(UserError, "Erase Personal Data"):
            self.person.with_user(self.user_sales).unlink()

    def test_only_sequence_managers_erase(self):
        with self.assertRaises(AccessError):
            self._erase(self.user_sales)
        with mute_logger("odoo.models"), self.assertRaises(AccessError):
            self.person.with_user(self.user_sales)._sales_sequence_erase()
        with self.assertRaisesRegex(UserError, "is a user of this database"):
            self.user_sales.partner_id.with_user(self.user_sales_manager)._sales_sequence_erase()
        company = self.env["res.partner"].create({"name": "Acme", "is_company": True})
        with self.assertRaisesRegex(UserError, "is a company"):
            company.with_user(self.user_sales_manager)._sales_sequence_erase()

    def test_privacy_lookup_finds_the_enrollments_and_erases_on_delete(self):
        wizard = self.env["privacy.lookup.wizard"].create({"name": NAME, "email": EMAIL})
        wizard.action_lookup()
        found = {(line.res_model, line.res_id): line for line in wizard.line_ids}
        self.assertIn(("sales.sequence.enrollment", self.enrollment.id), found)
        self.assertNotIn("sales.sequence.touch", {model for model, _id in found}, "history is erased, not deleted")
        before = self._figures()
        found[("res.partner", self.person.id)].action_unlink()
        self.assertTrue(self.person.with_context(active_test=False).exists(), "anonymised, not deleted")
        self.assertEqual(self._traces(), {})
        self.assertEqual(self._figures(), before)
        self.assertEqual(self.env["sales.sequence.erasure"].search([]).source, "privacy_lookup")
        self.assertIn("Erased", wizard.execution_details)
