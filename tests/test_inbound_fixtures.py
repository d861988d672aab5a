import json
import re
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from string import Template

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MONDAY_0700_UTC, SalesSequenceCommon

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "inbound"


@tagged("post_install", "-at_install", "sales_sequence")
class TestInboundFixtures(SalesSequenceCommon):
    """Every inbound fixture (replies, auto-replies and bounces in the formats real systems produce) through the
    real mail gateway, each against a sequence email of its own, with its outcome asserted."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.expected = json.loads((FIXTURES / "expected.json").read_text())
        cls.names = sorted(cls.expected)
        cls.prospects = cls.env["res.partner"].create(
            [
                {"name": f"Prospect {index}", "email": f"prospect{index}@customer.example.com"}
                for index in range(len(cls.names))
            ]
        )

    def _send_to_everyone(self):
        with self.at(MONDAY_0700_UTC):
            sequence = self._create_sequence(delays=(0, 3))
            sequence.action_activate()
            enrollments, _refusals = sequence._enroll_partners(self.prospects)
        with self.at(datetime(2026, 12, 7, 8, 0)):
            self.run_cron()
        return sequence, {enrollment.partner_id: enrollment for enrollment in enrollments}

    def _raw(self, name, enrollment):
        touch = enrollment.touch_ids[:1]
        text = (FIXTURES / name).read_bytes().decode("utf-8", errors="surrogateescape")
        values = {
            "SENT_MESSAGE_ID": touch.message_id,
            "CONTACT_EMAIL": enrollment.partner_id.email,
            "OTHER_EMAIL": f"colleague.{enrollment.id}@elsewhere.example.com",
            "SENDER_EMAIL": self.user_sales.email,
            "REPLY_TO": f"{self.alias_catchall}@{self.alias_domain}",
            "SUBJECT": touch.subject,
        }
        raw = Template(text).safe_substitute(values)
        # The gateway ignores a Message-Id it has already seen: make the fixture's own (top-level) one unique.
        head, *rest = re.split(r"(\r?\n\r?\n)", raw, maxsplit=1)
        head = re.sub(r"(?im)^(message-id:\s*<)", rf"\g<1>fixture-{enrollment.id}-", head, count=1)
        return (head + "".join(rest)).encode("utf-8", errors="surrogateescape")

    def test_every_fixture_through_the_gateway(self):
        sequence, by_partner = self._send_to_everyone()
        self.assertGreaterEqual(len(self.names), 40)
        failures = {}
        for name, prospect in zip(self.names, self.prospects, strict=True):
            enrollment = by_partner[prospect]
            expected = self.expected[name]
            # ValueError: Odoo itself finds no route (nothing to thread under, no alias); our hook already ran.
            with mute_logger("odoo.addons.mail.models.mail_thread"), suppress(ValueError):
                self.env["mail.thread"].message_process(False, self._raw(name, enrollment))
            self.env.invalidate_all()
            problem = self._check(enrollment, expected, sequence)
            if problem:
                failures[name] = problem
        self.assertFalse(failures, "fixtures whose outcome differs")

    def _check(self, enrollment, expected, sequence):
        events = set(enrollment.event_ids.mapped("event_type"))
        kind = expected["kind"]
        quotes_ours = expected.get("from") == "contact" or expected.get("references", True)
        if kind == "reply":
            if expected.get("from") == "contact" and enrollment.state != "paused":
                return f"reply from the contact: state {enrollment.state}"
            if "reply" in events or enrollment.state == "paused" or not quotes_ours:
                return None
            return f"reply not seen (state {enrollment.state}, events {sorted(events)})"
        if kind == "auto_reply":
            if enrollment.state != "active" or "reply" in events:
                return f"auto-reply taken for a reply: state {enrollment.state}"
            if "auto_reply" not in events:
                return "auto-reply not logged"
            if expected.get("return_date"):
                event = enrollment.event_ids.filtered(lambda e: e.event_type == "auto_reply")[:1]
                if str(event.return_date) != expected["return_date"]:
                    return f"return date {event.return_date} != {expected['return_date']}"
                if enrollment.next_run_at.date() < event.return_date:
                    return f"next step at {enrollment.next_run_at}, before the return"
            return None
        if kind == "complaint":
            blacklisted = (
                self.env["mail.blacklist"].sudo().search_count([("email", "=", enrollment.partner_id.email_normalized)])
            )
            if enrollment.state != "completed" or not blacklisted:
                return f"complaint not acted on: state {enrollment.state}, blacklisted {bool(blacklisted)}"
            return None
        if expected.get("bounce") == "hard":
            return None if enrollment.state == "bounced" else f"hard bounce: state {enrollment.state}"
        if "reply" in events or enrollment.state == "paused":
            return "soft bounce taken for a reply"
        if "soft_bounce" not in events:
            return f"soft bounce not recorded (events {sorted(events)})"
        return None if enrollment.step_id == sequence.step_ids[0] else "the soft-bounced step is not retried"
