"""Benchmark (a): the sequence run cron against community mass_mailing, queueing the same email to the same contacts.

What is measured, for N contacts (BENCH_MM_SIZES, default "1000 10000"), REPEATS times each (BENCH_MM_REPEATS,
default 3), the two sides alternating (mass_mailing first in odd repeats, the sequence first in even ones):

* mass_mailing: a mailing.mailing on res.partner (domain: the N contacts), launched with `action_launch()` (state
  in_queue), then its queue cron's own method `mailing.mailing._process_mass_mailing_queue()` is timed. That calls
  `_action_send_mail()`, which builds a mail.compose.message in mass_mail mode and runs `_action_send_mail_mass_mail`:
  per batch of `mail.batch_size` (50) it renders, creates the mail.mail rows (with their mail.message and
  mailing.trace) and commits. It only *sends* them (SMTP) when the composer's `force_send` is set, which Odoo computes
  as "N <= ir.config_parameter mail.mail.force.send.limit (default 100)". The bench sets that parameter to 0 for its
  run (restored afterwards), so no size sends anything: nothing is patched, the mail.mail rows stay 'outgoing', and
  the bench checks that N of them exist, all outgoing.
* sales_sequence: an active one-step sequence (24/7 calendar, daily_limit 0, tracking_enabled on) with the N contacts
  enrolled and step 1 due a minute ago (enrollment is done before the clock starts, as it happens days before the
  send); then `_cron_run_sequences()` is called until it handles nothing (it commits per chunk of 50) and timed.
  It queues one mail.mail per contact ('outgoing', not sent), with its notification, step run and contact note.

Same content on both sides: subject "Hello {{ object.name }}, ..." (inline template), a ~1 KB QWeb body with
`<t t-out="object.name"/>` and two https links. Link tracking: mass_mailing always shortens the links at queue time
(link.tracker search_or_create per rendered body, `post_convert_links`); the sequence has tracking_enabled on, but
it rewrites links and adds the open pixel when the mail leaves (mail.mail `_prepare_outgoing_body`), i.e. not in
the timed part; mass_mailing also adds its open pixel at send time. Neither side sends.

Printed per size: median emails/s of each side and their ratio (goal >= 1.0x, stretch 1.5x), the same ratio from
the CPU time per email (this process's Python + its PostgreSQL backend, from /proc; other processes' load on the
machine moves it much less than the wall time), queries per email
(`env.cr.sql_log_count` delta / N, median; goal <= 3 for the sequence), and peak memory two ways: the Python heap's
peak measured with tracemalloc on one extra, untimed run of each side (tracemalloc slows Python several times), and
the peak RSS growth of the timed runs (the kernel's high-water mark, which getrusage's ru_maxrss reports, reset
through /proc/self/clear_refs before the call and read back as VmHWM; it stays near 0 once the process's heap has
grown in an earlier run, so the heap figure is the one to compare).
The contacts are inserted in SQL once per size and shared by all runs; every run's mails, messages, traces, link
trackers, mailings, sequences and enrollments are deleted right after it, and the contacts at the end.
"""

import os
import sys
import time

sys.path.insert(0, os.environ.get("BENCH_DIR") or os.path.join(os.getcwd(), "bench"))

import benchlib as B  # noqa: E402

SIZES = B.sizes("BENCH_MM_SIZES", "1000 10000")
REPEATS = int(os.environ.get("BENCH_MM_REPEATS", "3"))


def run_mass_mailing(env, partners, tag, memory_probe=B.PeakRSS):
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
    cpu = B.CPUTime(env)
    with memory_probe() as memory, cpu:
        began = time.perf_counter()
        env["mailing.mailing"]._process_mass_mailing_queue()
        env.flush_all()
        env.cr.commit()
        elapsed = time.perf_counter() - began
    queries = env.cr.sql_log_count - queries
    env.cr.execute("SELECT state, count(*) FROM mail_mail WHERE mailing_id = %s GROUP BY state", [mailing.id])
    states = dict(env.cr.fetchall())
    assert states == {"outgoing": len(partners)}, f"mass_mailing queued {states}, expected {len(partners)} outgoing"
    env.cr.execute("SELECT body_html FROM mail_mail WHERE mailing_id = %s LIMIT 1", [mailing.id])
    body = env.cr.fetchone()[0]
    assert f"Bench {tag} " in body and "/r/" in body, "mass_mailing body: placeholder or tracked links missing"
    cleanup_mailing(env, mailing, partners)
    return elapsed, queries, memory.mb, cpu.total


def cleanup_mailing(env, mailing, partners):
    env.flush_all()
    env.cr.execute("DELETE FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s)", [partners.ids])
    env.cr.execute("DELETE FROM mail_mail WHERE mailing_id = ANY(%s)", [mailing.ids])
    env.cr.execute("DELETE FROM mailing_trace WHERE mass_mailing_id = ANY(%s)", [mailing.ids])
    env.cr.execute("DELETE FROM link_tracker WHERE mass_mailing_id = ANY(%s)", [mailing.ids])
    env.invalidate_all()
    mailing.unlink()
    env.cr.commit()


def run_sequence(env, partners, calendar, tag, repeat, memory_probe=B.PeakRSS):
    sequence = B.make_sequence(env, f"Bench vs mass_mailing {tag} {repeat}", calendar)
    enrollments = B.enroll_due(env, sequence, partners)
    cpu = B.CPUTime(env)
    with memory_probe() as memory:
        handled, elapsed, queries = B.drain(env, cpu)
    sent = B.count_sent(env, enrollments)
    assert sent == len(partners), f"the sequence sent {sent} of {len(partners)} (cron handled {handled})"
    env.cr.execute(
        "SELECT mm.state, count(*) FROM mail_mail mm JOIN mail_message m ON m.id = mm.mail_message_id "
        "WHERE m.model = 'sales.sequence.enrollment' AND m.res_id = ANY(%s) GROUP BY mm.state",
        [enrollments.ids],
    )
    states = dict(env.cr.fetchall())
    assert states == {"outgoing": len(partners)}, f"sequence queued {states}, expected {len(partners)} outgoing"
    env.cr.execute(
        "SELECT mm.body_html FROM mail_mail mm JOIN mail_message m ON m.id = mm.mail_message_id "
        "WHERE m.model = 'sales.sequence.enrollment' AND m.res_id = %s",
        [enrollments[0].id],
    )
    assert f"Bench {tag} " in env.cr.fetchone()[0], "sequence body: placeholder not rendered"
    B.delete_sequence(env, sequence, partners.ids)
    return elapsed, queries, memory.mb, cpu.total


def measure(env, size, calendar, leftovers):
    tag = f"mm{size}x{int(time.time())}"
    partners = B.insert_partners(env, size, tag)
    env.cr.commit()
    leftovers.append(partners)
    runs = {"mass_mailing": [], "sequence": []}
    for repeat in range(REPEATS):
        order = ("mass_mailing", "sequence") if repeat % 2 == 0 else ("sequence", "mass_mailing")
        for side in order:
            if side == "mass_mailing":
                elapsed, queries, memory, cpu = run_mass_mailing(env, partners, tag)
            else:
                elapsed, queries, memory, cpu = run_sequence(env, partners, calendar, tag, repeat)
            runs[side].append((elapsed, queries, memory, cpu))
            B.say(
                f"bench vs mass_mailing: N={size} repeat {repeat + 1} {side:<12s} {elapsed:7.2f} s "
                f"{size / elapsed:7.1f} emails/s {queries / size:5.2f} queries/email, CPU {cpu / size * 1000:5.2f} "
                f"ms/email, peak RSS +{memory:6.1f} MB"
            )
    # One more run of each side, untimed, under tracemalloc: the Python heap's peak.
    heap = {
        "mass_mailing": run_mass_mailing(env, partners, tag, B.TracemallocPeak)[2],
        "sequence": run_sequence(env, partners, calendar, tag, "heap", B.TracemallocPeak)[2],
    }
    B.delete_partners(env, partners)
    env.cr.commit()
    leftovers.remove(partners)
    rate = {side: size / B.median([r[0] for r in values]) for side, values in runs.items()}
    per_email = {side: B.median([r[1] for r in values]) / size for side, values in runs.items()}
    rss = {side: max(r[2] for r in values) for side, values in runs.items()}
    cpu_ms = {side: B.median([r[3] for r in values]) / size * 1000 for side, values in runs.items()}
    ratio = rate["sequence"] / rate["mass_mailing"]
    cpu_ratio = cpu_ms["mass_mailing"] / cpu_ms["sequence"]
    B.say(
        f"bench vs mass_mailing: N={size} medians of {REPEATS}: sequence {rate['sequence']:.1f} emails/s, "
        f"mass_mailing {rate['mass_mailing']:.1f} emails/s, ratio {ratio:.2f}x; queries/email sequence "
        f"{per_email['sequence']:.2f}, mass_mailing {per_email['mass_mailing']:.2f}; CPU ms/email (Python + "
        f"PostgreSQL) sequence {cpu_ms['sequence']:.2f}, mass_mailing {cpu_ms['mass_mailing']:.2f} "
        f"(ratio {cpu_ratio:.2f}x); Python heap peak (tracemalloc) sequence {heap['sequence']:.1f} MB, "
        f"mass_mailing {heap['mass_mailing']:.1f} MB; peak RSS growth (timed runs, max) sequence "
        f"+{rss['sequence']:.1f} MB, mass_mailing +{rss['mass_mailing']:.1f} MB"
    )
    B.result("a. sequence queue rate", size, rate["sequence"], "emails/s")
    B.result("a. mass_mailing queue rate", size, rate["mass_mailing"], "emails/s")
    B.result("a. sequence / mass_mailing", size, ratio, "x", ">= 1.0 (1.5)", ratio >= 1.0)
    B.result("a. sequence / mass_mailing, by CPU", size, cpu_ratio, "x")
    B.result("a. sequence queries/email", size, per_email["sequence"], "q/email", "<= 3", per_email["sequence"] <= 3)
    B.result("a. mass_mailing queries/email", size, per_email["mass_mailing"], "q/email")
    B.result("a. sequence peak heap (tracemalloc)", size, heap["sequence"], "MB")
    B.result("a. mass_mailing peak heap (tracemalloc)", size, heap["mass_mailing"], "MB")
    B.result("a. sequence peak RSS growth", size, rss["sequence"], "MB")
    B.result("a. mass_mailing peak RSS growth", size, rss["mass_mailing"], "MB")


def main(env):
    params = env["ir.config_parameter"].sudo()
    previous = params.get_param("mail.mail.force.send.limit")
    # Odoo's own switch: the mass mail composer sends at once only when N <= this limit. 0: it only queues.
    params.set_param("mail.mail.force.send.limit", "0")
    calendar = B.make_calendar(env)
    env.cr.commit()
    leftovers = []
    try:
        # Warm-up of both sides, untimed: the first run of a process compiles templates and fills caches.
        tag = f"mmwarm{int(time.time())}"
        partners = B.insert_partners(env, 50, tag)
        env.cr.commit()
        leftovers.append(partners)
        run_mass_mailing(env, partners, tag)
        run_sequence(env, partners, calendar, tag, "warm-up")
        B.delete_partners(env, partners)
        env.cr.commit()
        leftovers.remove(partners)
        for size in SIZES:
            measure(env, size, calendar, leftovers)
    finally:
        # Also after a failure: whatever a run left behind goes.
        env.cr.rollback()
        env.invalidate_all()
        for partners in leftovers:
            cleanup_mailing(env, env["mailing.mailing"].search([("subject", "=", B.SUBJECT_INLINE)]), partners)
            B.delete_sequence(
                env,
                env["sales.sequence"].with_context(active_test=False).search([("calendar_id", "=", calendar.id)]),
                partners.ids,
            )
            B.delete_partners(env, partners)
        env["sales.sequence"].with_context(active_test=False).search([("calendar_id", "=", calendar.id)]).unlink()
        calendar.unlink()
        params.set_param("mail.mail.force.send.limit", previous or False)
        env.cr.commit()


# `env` is defined by odoo-bin shell, which runs this file.
main(env)  # noqa: F821  # pylint: disable=undefined-variable
