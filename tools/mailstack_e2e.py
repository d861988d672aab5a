"""A sales sequence end to end on a real mail stack (run by tools/run-mailstack, which starts Postfix, Dovecot and
an Odoo server first): cron -> mail queue -> Postfix -> Dovecot, then what the world sends back (a Sieve vacation
answer, Postfix's own DSN, human replies built from the delivered messages, a fresh email to the rep, a one-click
unsubscribe), then Odoo's fetchmail reads the catchall and the rep's mailbox and step 2 runs.

Prints a table per contact (expected vs seen), the headers Dovecot received for one email, and a last line
"mail stack: N passed, N failed". Exit code 0 only when every row passed.
"""

import argparse
import ast
import imaplib
import os
import re
import smtplib
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

import odoo
from odoo import Command
from odoo.tools import config

DOMAIN = "mailstack.test"
CUSTOMER = "customer.test"
PASSWORD = "mailstack"
REP = f"rep@{DOMAIN}"
CATCHALL = f"catchall@{DOMAIN}"
STEP2_DELAY_DAYS = 2
WAIT_SECONDS = 60

# name, address, scenario, expected state, expected emails sent by Odoo
CONTACTS = [
    ("Ann Answer", f"ann@{CUSTOMER}", "human reply (IMAP -> Postfix)", "paused", 1),
    ("Bob Away", f"bob@{CUSTOMER}", "Sieve vacation, back in 10 days", "active (held)", 1),
    ("Gus Ghost", f"ghost@{CUSTOMER}", "no such mailbox: Postfix DSN", "bounced", 1),
    ("Carol Other", f"carol@{CUSTOMER}", "reply from her other address", "paused", 1),
    ("Dan Direct", f"dan@{CUSTOMER}", "new email to the rep's mailbox", "paused", 1),
    ("Eve Exit", f"eve@{CUSTOMER}", "one-click unsubscribe POST", "completed", 1),
    ("Frank Quiet", f"frank@{CUSTOMER}", "no answer: step 2, the last", "finished", 2),
]


def out(line):
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--imap-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, default=25)
    parser.add_argument("--logfile", required=True)
    args = parser.parse_args()
    config.parse_config(
        ["-d", args.db, f"--addons-path={args.addons_path}", f"--logfile={args.logfile}", "--log-level=info"]
    )
    registry = odoo.modules.registry.Registry(args.db)
    stack = MailStack(registry, args)
    return stack.run()


class MailStack:
    def __init__(self, registry, args):
        self.registry = registry
        self.args = args
        self.back_on = (datetime.now() + timedelta(days=10)).date()

    # ------------------------------------------------------------------ helpers

    def odoo(self, function):
        """Run `function(env)` in its own committed transaction, as Odoo's cron and gateway do."""
        with self.registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            result = function(env)
            cr.commit()  # pylint: disable=invalid-commit
        return result

    def imap(self, user):
        connection = imaplib.IMAP4("127.0.0.1", self.args.imap_port)
        connection.login(user, PASSWORD)
        typ, data = connection.select("INBOX", readonly=True)
        if typ != "OK":
            raise RuntimeError(f"IMAP {user}: {data}")
        return connection

    def inbox(self, user):
        """[(uid, parsed message, flags)] of a Dovecot INBOX, read without changing a flag."""
        connection = self.imap(user)
        try:
            _typ, data = connection.uid("SEARCH", None, "ALL")
            messages = []
            for uid in (data[0] or b"").split():
                _typ, parts = connection.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                raw = parts[0][1]
                messages.append((int(uid), message_from_bytes(raw, policy=policy.SMTP), parts[0][0].decode()))
            return messages
        finally:
            connection.logout()

    def wait_for(self, user, count, what, seconds=WAIT_SECONDS):
        deadline = time.time() + seconds
        while True:
            messages = self.inbox(user)
            if len(messages) >= count or time.time() > deadline:
                if len(messages) < count:
                    out(f"  (waited {seconds}s for {what}: {len(messages)} of {count} in {user})")
                return messages
            time.sleep(1)

    def send(self, message, sender):
        with smtplib.SMTP("127.0.0.1", self.args.smtp_port, timeout=30) as smtp:
            smtp.send_message(message, from_addr=sender)

    # ------------------------------------------------------------------ the story

    def run(self):
        self.odoo(self.setup)
        out("== step 1: cron -> mail queue -> Postfix -> Dovecot")
        sent = self.odoo(self.run_cron_and_queue)
        out(f"  Odoo sent {sent} email(s) through Postfix")
        delivered = {
            address: self.wait_for(address, 1, "step 1") for _n, address, *_r in CONTACTS if "ghost" not in address
        }
        catchall = self.wait_for(CATCHALL, 2, "the DSN and the vacation answer", seconds=20)
        out("  catchall holds: " + "; ".join(f"{m['From']} | {m['Subject']}" for _u, m, _f in catchall))

        out("== the world answers")
        self.human_reply(delivered[f"ann@{CUSTOMER}"][0][1], f"ann@{CUSTOMER}", "Ann Answer")
        self.human_reply(delivered[f"carol@{CUSTOMER}"][0][1], "carol@home.test", "Carol")
        self.fresh_email(f"dan@{CUSTOMER}", "Dan Direct", "Pricing question", "Hi Rita, what would 50 seats cost?")
        self.fresh_email("news@vendor.test", "Vendor News", "Our November newsletter", "Unrelated to any sequence.")
        self.one_click_unsubscribe(delivered[f"eve@{CUSTOMER}"][0][1])
        self.wait_for(CATCHALL, len(catchall) + 2, "the two replies")
        self.wait_for(REP, 2, "the fresh email and the newsletter")

        out("== Odoo's fetchmail reads the catchall and the rep's mailbox")
        self.odoo(self.fetch)
        out("== step 2 is due (its delay elapses): cron -> queue -> Postfix")
        sent = self.odoo(self.run_step_two)
        out(f"  Odoo sent {sent} email(s)")
        time.sleep(3)
        return self.report(catchall)

    def setup(self, env):
        icp = env["ir.config_parameter"]
        icp.set_param("web.base.url", f"http://127.0.0.1:{self.args.http_port}")
        icp.set_param("web.base.url.freeze", "True")
        alias_domain = env["mail.alias.domain"].search([("name", "=", DOMAIN)], limit=1) or env[
            "mail.alias.domain"
        ].create({"name": DOMAIN, "catchall_alias": "catchall", "bounce_alias": "bounce"})
        env.company.write({"alias_domain_id": alias_domain.id, "email": f"info@{DOMAIN}"})
        env["ir.mail_server"].search([]).write({"active": False})
        env["ir.mail_server"].create(
            {
                "name": "Postfix (loopback)",
                "smtp_host": "127.0.0.1",
                "smtp_port": self.args.smtp_port,
                "smtp_encryption": "none",
                "from_filter": DOMAIN,
            }
        )
        rep = env["res.users"].create(
            {
                "name": "Rita Rep",
                "login": "rita",
                "email": REP,
                "tz": "UTC",
                "groups_id": [Command.link(env.ref("sales_team.group_sale_salesman").id)],
            }
        )
        calendar = env["resource.calendar"].create(
            {
                "name": "Mail stack: always",
                "tz": "UTC",
                "attendance_ids": [Command.clear()]
                + [
                    Command.create(
                        {
                            "name": str(day),
                            "dayofweek": str(day),
                            "hour_from": 0,
                            "hour_to": 24,
                            "day_period": "morning",
                        }
                    )
                    for day in range(7)
                ],
            }
        )
        values = {
            "name": "Mail stack outreach",
            "user_id": rep.id,
            "calendar_id": calendar.id,
            "tz": "UTC",
            "daily_limit": 0,
            "step_ids": [
                Command.create(
                    {
                        "name": "Intro",
                        "sequence": 10,
                        "delay_days": 0,
                        "thread_mode": "new",
                        "subject": "A question for {{ object.name }}",
                        "body_html": '<p>Hello <t t-out="object.name"/>, would a short call help?</p>',
                    }
                ),
                Command.create(
                    {
                        "name": "Follow-up",
                        "sequence": 20,
                        "delay_days": STEP2_DELAY_DAYS,
                        "thread_mode": "reply",
                        "body_html": "<p>Just following up on my last email.</p>",
                    }
                ),
            ],
        }
        sequence_fields = env["sales.sequence"]._fields
        if "use_list_headers" in sequence_fields:
            values["use_list_headers"] = False  # one-to-one mail: RFC 3834 responders answer it
        sequence = env["sales.sequence"].create(values)
        sequence.action_activate()
        partners = env["res.partner"].create([{"name": name, "email": address} for name, address, *_r in CONTACTS])
        enrollments, refusals = sequence._enroll_partners(partners)
        if refusals:
            out(f"  refused: {refusals}")
        # Step 1 is due now.
        enrollments.write({"next_run_at": datetime.now() - timedelta(minutes=1)})
        out(
            f"== setup: alias domain {DOMAIN}, rep {REP}, sequence '{sequence.name}' with {len(enrollments)} "
            f"contacts, use_list_headers: {values.get('use_list_headers', 'field absent on this branch')}"
        )

    def run_cron_and_queue(self, env):
        env.ref("sales_sequence.ir_cron_run_sequences").method_direct_trigger()
        env.cr.commit()
        queued = env["mail.mail"].sudo().search([("state", "=", "outgoing")])
        queued_ids = queued.ids
        if self.strip_list_headers(env):
            for mail in queued.filtered("headers"):
                headers = ast.literal_eval(mail.headers)
                mail.headers = repr({k: v for k, v in headers.items() if not k.lower().startswith("list-")})
            out("  List-* headers taken off the queued emails (this branch has no use_list_headers field)")
            env.cr.commit()
        env["mail.mail"].sudo().process_email_queue()
        failed = env["mail.mail"].sudo().search([("id", "in", queued_ids), ("state", "=", "exception")])
        for mail in failed:
            out(f"  send failed: {mail.email_to}: {mail.failure_reason}")
        return len(queued_ids) - len(failed)

    @staticmethod
    def strip_list_headers(env):
        """Where the sequence has no `use_list_headers` choice yet, take the List-* headers off as that choice
        (False) would, unless MAILSTACK_KEEP_LIST_HEADERS=1 asks to see what RFC 3834 responders do with them."""
        return "use_list_headers" not in env["sales.sequence"]._fields and not os.environ.get(
            "MAILSTACK_KEEP_LIST_HEADERS"
        )

    def human_reply(self, original, sender, name):
        """A reply as a mail client builds it from the delivered message: to its Reply-To, threaded."""
        reply = EmailMessage()
        reply["From"] = f"{name} <{sender}>"
        reply["To"] = original["Reply-To"] or original["From"]
        reply["Subject"] = "Re: " + str(original["Subject"])
        reply["Message-ID"] = make_msgid(domain=sender.split("@")[1])
        reply["In-Reply-To"] = original["Message-ID"]
        reply["References"] = " ".join(filter(None, [str(original["References"] or ""), original["Message-ID"]]))
        reply.set_content(
            "Yes, let's talk on Thursday.\n\n> " + original.get_body(("plain", "html")).get_content()[:200]
        )
        self.send(reply, sender)
        out(f"  {sender} replied to {reply['To']} (In-Reply-To {reply['In-Reply-To']})")

    def fresh_email(self, sender, name, subject, text):
        message = EmailMessage()
        message["From"] = f"{name} <{sender}>"
        message["To"] = f"Rita Rep <{REP}>"
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=sender.split("@")[1])
        message.set_content(text)
        self.send(message, sender)
        out(f"  {sender} wrote to {REP}: {subject}")

    def one_click_unsubscribe(self, delivered):
        header = str(delivered["List-Unsubscribe"] or "")
        match = re.search(r"<(https?://[^>]+)>", header)
        if match:
            url, where = match.group(1), "List-Unsubscribe header"
        else:
            html = delivered.get_body(("html", "plain")).get_content()
            url = re.search(r"https?://[^\"'\s<>]+/sales_sequence/unsubscribe/\d+/[\w-]+", html).group(0)
            where = "link in the body (no List-Unsubscribe header)"
        request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - our own local Odoo
            out(f"  one-click POST to the {where}: HTTP {answer.status}")

    def fetch(self, env):
        servers = env["fetchmail.server"]
        common = {"server_type": "imap", "server": "127.0.0.1", "port": self.args.imap_port, "is_ssl": False}
        catchall = servers.create({**common, "name": "catchall", "user": CATCHALL, "password": PASSWORD})
        rep = env["res.users"].search([("login", "=", "rita")])
        mailbox = servers.create(
            {
                **common,
                "name": "Rita's mailbox",
                "user": REP,
                "password": PASSWORD,
                "sales_sequence_mailbox": True,
                "sales_sequence_user_id": rep.id,
                "sales_sequence_since": datetime.now() - timedelta(days=1),
            }
        )
        (catchall | mailbox).button_confirm_login()
        env.cr.commit()
        (catchall | mailbox).fetch_mail()

    def run_step_two(self, env):
        """The step 2 delay elapses: what is still due within it becomes due now (a hold until a return date,
        further out, stays)."""
        horizon = datetime.now() + timedelta(days=STEP2_DELAY_DAYS, hours=1)
        due = env["sales.sequence.enrollment"].search(
            [("state", "in", ("active", "queued")), ("next_run_at", "<=", horizon)]
        )
        due.write({"next_run_at": datetime.now() - timedelta(minutes=1)})
        env.cr.commit()
        return self.run_cron_and_queue(env)

    # ------------------------------------------------------------------ the report

    def report(self, _catchall):
        rows = self.odoo(self.collect)
        passed = failed = skipped = 0
        out("== per contact (expected vs seen)")
        out(f"{'contact':<12} {'scenario':<36} {'expected':<22} {'seen':<36} result")
        for name, scenario, expected, seen, ok in rows:
            if ok is None:
                skipped += 1
                out(f"{name:<12} {scenario:<36} {expected:<22} {seen:<36} skipped (List-* headers sent)")
                continue
            passed, failed = passed + ok, failed + (not ok)
            out(f"{name:<12} {scenario:<36} {expected:<22} {seen:<36} {'ok' if ok else 'FAIL'}")
        self.print_headers()
        vacation = [m for _u, m, _f in self.inbox(CATCHALL) if f"bob@{CUSTOMER}" in str(m["From"])]
        out(
            "== Sieve vacation: "
            + (
                f"answered ({vacation[0]['From']}, Auto-Submitted: {vacation[0]['Auto-Submitted']})"
                if vacation
                else "no answer reached the catchall (Dovecot's log says why, below)"
            )
        )
        out(f"mail stack: {passed} passed, {failed} failed, {skipped} skipped")
        return 0 if not failed else 1

    def collect(self, env):
        rows = []
        Enrollment = env["sales.sequence.enrollment"]
        list_headers = bool(os.environ.get("MAILSTACK_KEEP_LIST_HEADERS"))
        for name, address, scenario, expected, emails in CONTACTS:
            enrollment = Enrollment.search([("partner_id.email", "=", address)], limit=1)
            sent = len(enrollment._done_touches())
            state = enrollment.state
            seen_state = state
            ok_state = state == expected.split()[0]
            if expected == "active (held)":
                held = enrollment.next_run_at and enrollment.next_run_at.date() >= self.back_on
                seen_state = f"{state}, next {enrollment.next_run_at and enrollment.next_run_at.date()}"
                ok_state = ok_state and bool(held)
            if expected == "completed":
                blacklisted = bool(env["mail.blacklist"].search([("email", "=", address)]))
                seen_state += ", blacklisted" if blacklisted else ", NOT blacklisted"
                ok_state = ok_state and blacklisted
            ok = ok_state and sent == emails
            if expected == "active (held)" and list_headers and not ok:
                ok = None  # RFC 3834 responders do not answer list mail: no out-of-office to hold on
            rows.append((name.split()[0], scenario, f"{expected}, {emails} sent", f"{seen_state}, {sent} sent", ok))
        unread = self.unread_subjects(REP)
        leads = env["crm.lead"].with_context(active_test=False).search_count([("email_from", "ilike", "vendor.test")])
        newsletter_posted = env["mail.message"].search_count([("subject", "=", "Our November newsletter")])
        rows.append(
            (
                "newsletter",
                "unrelated mail in the rep's mailbox",
                "unread, no record",
                f"{'unread' if 'Our November newsletter' in unread else 'READ'}, {leads + newsletter_posted} record(s)",
                "Our November newsletter" in unread
                and "Pricing question" in unread
                and not leads
                and not newsletter_posted,
            )
        )
        return rows

    def unread_subjects(self, user):
        return {str(message["Subject"]) for _uid, message, flags in self.inbox(user) if "\\Seen" not in flags}

    def print_headers(self):
        messages = self.inbox(f"frank@{CUSTOMER}")
        out(f"== headers Dovecot received (frank@{CUSTOMER}, {len(messages)} message(s); the last one)")
        _uid, message, _flags = messages[-1]
        for key, value in message.items():
            out(f"  {key}: {' '.join(str(value).split())[:160]}")


if __name__ == "__main__":
    sys.exit(main())
