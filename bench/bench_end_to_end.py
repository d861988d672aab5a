"""Benchmark (e): end to end against community mass_mailing: the same email queued AND sent, side by side.

For N contacts (BENCH_E2E_SIZES, default "1000 10000"), per SMTP mode (BENCH_E2E_SMTP, default "null aiosmtpd"),
REPEATS times (BENCH_E2E_REPEATS, default 2), the two sides alternating (mass_mailing first in odd repeats):

* queue: as bench_mass_mailing.py (a): mass_mailing's `_process_mass_mailing_queue()` (with Odoo's
  mail.mail.force.send.limit at 0, so it only queues), the sequence's `_cron_run_sequences()` until it handles
  nothing (1 KB email, two links, tracking on);
* send: Odoo's mail queue, `mail.mail.process_email_queue()` (as its cron calls it: it commits after each email),
  restricted to the side's own emails (context `filters`), called until none is left outgoing. mass_mailing's
  emails go through its own send-time code (tracked link shortening, open pixel, traces), the sequence's through
  the addon's (tracked links, open pixel, unsubscribe, step run, event, contact note);
* SMTP modes: `null`, an SMTP session that only flattens each message to bytes (`ir.mail_server.connect` returns
  it: no network, only Odoo's and the addons' own cost); `aiosmtpd`, a real local SMTP server
  (bench/smtp_discard.py, in a process of its own on 127.0.0.1) reached through an ir.mail_server record.

Printed per size and mode: each phase's median seconds and queries per email for both sides, end-to-end emails/s
and the ratio sequence / mass_mailing (goal >= 1.0x, stretch 1.5x), queries per email while sending (goal: at or
below mass_mailing's). Every run checks that all N emails were sent (mail.mail sent or deleted, none left outgoing
or in exception), and for the sequence one send event and one contact note per email.
"""

import os
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from unittest.mock import patch

sys.path.insert(0, os.environ.get("BENCH_DIR") or os.path.join(os.getcwd(), "bench"))

import benchlib as B  # noqa: E402

SIZES = B.sizes("BENCH_E2E_SIZES", "1000 10000")
REPEATS = int(os.environ.get("BENCH_E2E_REPEATS", "2"))
MODES = os.environ.get("BENCH_E2E_SMTP", "null aiosmtpd").split()


class NullSMTP:
    """An SMTP session that flattens each message to bytes and sends nothing."""

    def __init__(self, smtp_from=None):
        self.smtp_from = smtp_from
        self.from_filter = False
        self.sent = 0

    def send_message(self, message, from_addr=None, to_addrs=None):
        message.as_bytes()
        self.sent += 1

    def quit(self):
        pass


@contextmanager
def null_smtp(env):
    def connect(self, *args, smtp_from=None, **kwargs):
        return NullSMTP(smtp_from)

    with patch.object(type(env["ir.mail_server"]), "connect", connect):
        yield


@contextmanager
def local_smtp(env):
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, os.path.join(os.environ.get("BENCH_DIR", "bench"), "smtp_discard.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        if server.stdout.readline().decode().strip() != "ready":
            raise RuntimeError("bench/smtp_discard.py did not start")
        mail_server = env["ir.mail_server"].create(
            {"name": "Bench aiosmtpd", "smtp_host": "127.0.0.1", "smtp_port": port, "sequence": 0}
        )
        env.cr.commit()
        try:
            yield
        finally:
            mail_server.unlink()
            env.cr.commit()
    finally:
        server.terminate()
        server.wait(10)


def _free_port():
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send_queue(env, filters, size):
    """Odoo's mail queue on the side's emails until none is outgoing: (seconds, queries)."""
    Mail = env["mail.mail"].with_context(filters=filters)
    env.cr.commit()
    queries = env.cr.sql_log_count
    began = time.perf_counter()
    for _attempt in range(size // 100 + 10):
        Mail.process_email_queue()
        env.cr.commit()
        if not Mail.search_count([("state", "=", "outgoing"), *filters]):
            break
    elapsed = time.perf_counter() - began
    return elapsed, env.cr.sql_log_count - queries


def run_mass_mailing(env, partners, tag):
    mailing = env["mailing.mailing"].create(
        {
            "subject": B.SUBJECT_INLINE,
            "body_arch": B.BODY_HTML,
            "body_html": B.BODY_HTML,
            "email_from": B.EMAIL_FROM,
            "mailing_type": "mail",
            "mailing_model_id": env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("id", "in", partners.ids)]),
        }
    )
    mailing.action_launch()
    env.cr.commit()
    queries = env.cr.sql_log_count
    began = time.perf_counter()
    env["mailing.mailing"]._process_mass_mailing_queue()
    env.flush_all()
    env.cr.commit()
    queue = (time.perf_counter() - began, env.cr.sql_log_count - queries)
    send = send_queue(env, [("mailing_id", "=", mailing.id)], len(partners))
    env.cr.execute(
        "SELECT trace_status, count(*) FROM mailing_trace WHERE mass_mailing_id = %s GROUP BY 1", [mailing.id]
    )
    traces = dict(env.cr.fetchall())
    assert traces == {"sent": len(partners)}, f"mass_mailing traces {traces}, expected {len(partners)} sent"
    env.flush_all()
    env.cr.execute("DELETE FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s)", [partners.ids])
    env.cr.execute("DELETE FROM mail_mail WHERE mailing_id = %s", [mailing.id])
    env.cr.execute("DELETE FROM mailing_trace WHERE mass_mailing_id = %s", [mailing.id])
    env.cr.execute("DELETE FROM link_tracker WHERE mass_mailing_id = %s", [mailing.id])
    env.invalidate_all()
    mailing.unlink()
    env.cr.commit()
    return queue, send


def run_sequence(env, partners, calendar, tag, repeat):
    sequence = B.make_sequence(env, f"Bench end to end {tag} {repeat}", calendar)
    enrollments = B.enroll_due(env, sequence, partners)
    _handled, seconds, queries = B.drain(env)
    queue = (seconds, queries)
    send = send_queue(env, [("model", "=", "sales.sequence.enrollment")], len(partners))
    size = len(partners)
    env.cr.execute(
        "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL), count(*) FILTER (WHERE record_pending) "
        "FROM sales_sequence_touch WHERE enrollment_id = ANY(%s)",
        [enrollments.ids],
    )
    sent, pending = env.cr.fetchone()
    assert (sent, pending) == (size, 0), f"sequence: {sent} sent, {pending} unrecorded of {size}"
    env.cr.execute(
        "SELECT count(*) FROM sales_sequence_event WHERE enrollment_id = ANY(%s) AND event_type = 'send'",
        [enrollments.ids],
    )
    assert env.cr.fetchone()[0] == size, "sequence: not one send event per email"
    env.cr.execute(
        "SELECT count(*) FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s) AND body LIKE %s",
        [partners.ids, f"%Bench end to end {tag} {repeat}%"],
    )
    assert env.cr.fetchone()[0] == size, "sequence: not one contact note per email"
    B.delete_sequence(env, sequence, partners.ids)
    # The trackers it made (shared records, kept by the addon): gone, so each run makes its own as mass_mailing does.
    env.cr.execute("DELETE FROM link_tracker WHERE mass_mailing_id IS NULL AND url LIKE 'https://www.example.com/%%'")
    env.cr.commit()
    return queue, send


def measure(env, size, mode, calendar, leftovers):
    tag = f"e2e{size}{mode}x{int(time.time())}"
    partners = B.insert_partners(env, size, tag)
    env.cr.commit()
    leftovers.append(partners)
    runs = {"mass_mailing": [], "sequence": []}
    for repeat in range(REPEATS):
        order = ("mass_mailing", "sequence") if repeat % 2 == 0 else ("sequence", "mass_mailing")
        for side in order:
            if side == "mass_mailing":
                queue, send = run_mass_mailing(env, partners, tag)
            else:
                queue, send = run_sequence(env, partners, calendar, tag, repeat)
            runs[side].append((queue, send))
            B.say(
                f"bench end to end: N={size} SMTP {mode} repeat {repeat + 1} {side:<12s} queue {queue[0]:6.2f} s "
                f"{queue[1] / size:5.2f} q/email, send {send[0]:6.2f} s {send[1] / size:5.2f} q/email, "
                f"end to end {size / (queue[0] + send[0]):6.1f} emails/s"
            )
    B.delete_partners(env, partners)
    env.cr.commit()
    leftovers.remove(partners)
    figures = {}
    for side, values in runs.items():
        figures[side] = {
            "queue_s": B.median([q[0] for q, _s in values]),
            "send_s": B.median([s[0] for _q, s in values]),
            "queue_q": B.median([q[1] for q, _s in values]) / size,
            "send_q": B.median([s[1] for _q, s in values]) / size,
            "rate": size / B.median([q[0] + s[0] for q, s in values]),
        }
    seq, mm = figures["sequence"], figures["mass_mailing"]
    ratio = seq["rate"] / mm["rate"]
    queue_ratio = mm["queue_s"] / seq["queue_s"]
    send_ratio = mm["send_s"] / seq["send_s"]
    B.say(
        f"bench end to end: N={size} SMTP {mode} medians of {REPEATS}: sequence {seq['rate']:.1f} emails/s "
        f"(queue {seq['queue_s']:.2f} s, send {seq['send_s']:.2f} s), mass_mailing {mm['rate']:.1f} emails/s "
        f"(queue {mm['queue_s']:.2f} s, send {mm['send_s']:.2f} s): ratio {ratio:.2f}x; queries/email queue "
        f"{seq['queue_q']:.2f} vs {mm['queue_q']:.2f}, send {seq['send_q']:.2f} vs {mm['send_q']:.2f}"
    )
    label = f"e. {mode} SMTP"
    B.result(f"{label}: sequence queue", size, seq["queue_s"], "s")
    B.result(f"{label}: mass_mailing queue", size, mm["queue_s"], "s")
    B.result(f"{label}: queue, sequence / mass_mailing", size, queue_ratio, "x", ">= 1.0", queue_ratio >= 1.0)
    B.result(f"{label}: sequence send", size, seq["send_s"], "s")
    B.result(f"{label}: mass_mailing send", size, mm["send_s"], "s")
    B.result(f"{label}: send, sequence / mass_mailing", size, send_ratio, "x")
    B.result(f"{label}: sequence queries/email queue", size, seq["queue_q"], "q/email")
    B.result(f"{label}: mass_mailing queries/email queue", size, mm["queue_q"], "q/email")
    B.result(
        f"{label}: sequence queries/email send",
        size,
        seq["send_q"],
        "q/email",
        f"<= {mm['send_q']:.1f} (mass_mailing)",
        seq["send_q"] <= mm["send_q"],
    )
    B.result(f"{label}: mass_mailing queries/email send", size, mm["send_q"], "q/email")
    B.result(f"{label}: sequence end to end", size, seq["rate"], "emails/s")
    B.result(f"{label}: mass_mailing end to end", size, mm["rate"], "emails/s")
    B.result(f"{label}: end to end, sequence / mass_mailing", size, ratio, "x", ">= 1.0 (1.5)", ratio >= 1.0)


def main(env):
    params = env["ir.config_parameter"].sudo()
    previous = params.get_param("mail.mail.force.send.limit")
    # Odoo's own switch: the mass mail composer sends at once only when N <= this limit. 0: it only queues.
    params.set_param("mail.mail.force.send.limit", "0")
    calendar = B.make_calendar(env)
    env.cr.commit()
    leftovers = []
    try:
        for mode in MODES:
            with null_smtp(env) if mode == "null" else local_smtp(env) if mode == "aiosmtpd" else nullcontext():
                # Warm-up of both sides, untimed: the first run of a process compiles templates and fills caches.
                tag = f"e2ewarm{mode}{int(time.time())}"
                partners = B.insert_partners(env, 50, tag)
                env.cr.commit()
                leftovers.append(partners)
                run_mass_mailing(env, partners, tag)
                run_sequence(env, partners, calendar, tag, "warm-up")
                B.delete_partners(env, partners)
                env.cr.commit()
                leftovers.remove(partners)
                for size in SIZES:
                    measure(env, size, mode, calendar, leftovers)
    finally:
        env.cr.rollback()
        env.invalidate_all()
        for partners in leftovers:
            B.delete_sequence(
                env,
                env["sales.sequence"].with_context(active_test=False).search([("calendar_id", "=", calendar.id)]),
                partners.ids,
            )
            B.delete_partners(env, partners)
        env["mailing.mailing"].search([("subject", "=", B.SUBJECT_INLINE)]).unlink()
        env["sales.sequence"].with_context(active_test=False).search([("calendar_id", "=", calendar.id)]).unlink()
        calendar.unlink()
        params.set_param("mail.mail.force.send.limit", previous or False)
        env.cr.commit()


# `env` is defined by odoo-bin shell, which runs this file.
main(env)  # noqa: F821  # pylint: disable=undefined-variable
