from contextlib import contextmanager
from datetime import datetime

from odoo import Command
from odoo.tests import new_test_user

from odoo.addons.base.tests.test_ir_cron import CronMixinCase
from odoo.addons.mail.tests.common import MailCommon

# Monday 7 December 2026, 07:00 UTC = 08:00 in Brussels (CET, UTC+1): before the 09:00-17:00 window opens.
MONDAY_0700_UTC = datetime(2026, 12, 7, 7, 0)


class SalesSequenceCommon(MailCommon, CronMixinCase):
    """A Mon-Fri 09:00-17:00 Brussels schedule, salespeople, a manager and ten contacts with emails."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cron = cls.env.ref("sales_sequence.ir_cron_run_sequences")
        cls.calendar = cls.env["resource.calendar"].create(
            {
                "name": "Sequence test hours",
                "tz": "Europe/Brussels",
                "company_id": False,
                "attendance_ids": [Command.clear()]
                + [
                    Command.create(
                        {
                            "name": str(day),
                            "dayofweek": str(day),
                            "hour_from": 9,
                            "hour_to": 17,
                            "day_period": "morning",
                        }
                    )
                    for day in range(5)
                ],
            }
        )
        cls.user_sales = cls._create_user("seq_sales", "Sally Sales", "sales_team.group_sale_salesman")
        cls.user_sales_2 = cls._create_user("seq_sales_2", "Sam Seller", "sales_team.group_sale_salesman")
        cls.user_sales_manager = cls._create_user("seq_manager", "Martha Manager", "sales_team.group_sale_manager")
        cls.contacts = cls.env["res.partner"].create(
            [
                {
                    "name": f"Contact {index:02d}",
                    "email": f"contact{index:02d}@customer.example.com",
                    "ref": f"REF{index:02d}",
                }
                for index in range(10)
            ]
        )

    @classmethod
    def _create_user(cls, login, name, sales_group):
        email = "{}@test.example.com".format(name.lower().replace(" ", "."))
        return new_test_user(cls.env, login=login, name=name, email=email, groups="base.group_user," + sales_group)

    @classmethod
    def _create_sequence(cls, user=None, delays=(0, 2, 3), **values):
        user = user or cls.user_sales
        steps = [
            Command.create(
                {
                    "name": f"Step {index + 1}",
                    "sequence": (index + 1) * 10,
                    "delay_days": delay,
                    "thread_mode": "new" if index == 0 else "reply",
                    "subject": "Hello {{ object.name }}" if index == 0 else False,
                    "body_html": f'<p>Step {index + 1} for <t t-out="object.name"/></p>',
                }
            )
            for index, delay in enumerate(delays)
        ]
        return (
            cls.env["sales.sequence"]
            .with_user(user)
            .create(
                {
                    "name": values.pop("name", f"Outbound {user.name}"),
                    "calendar_id": cls.calendar.id,
                    "daily_limit": 0,
                    "step_ids": steps,
                    **values,
                }
            )
        )

    def run_cron(self):
        """Run the sequence cron the way Odoo runs a cron job: its server action, as the cron's user."""
        self.cron.method_direct_trigger()

    @contextmanager
    def at(self, when):
        with self.mock_datetime_and_now(when):
            yield

    def sequence_mails(self, enrollments):
        return (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", "sales.sequence.enrollment"), ("res_id", "in", enrollments.ids)])
        )
