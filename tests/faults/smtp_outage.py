#!/usr/bin/env python3
"""Fault (d): the SMTP server down for a while, then back; nothing lost, nothing sent twice.

What it proves: when Odoo's mail queue cannot hand sequence emails to the mail server, the addon does what the
README's "Send failures" says: the step run is marked failed, the enrollment is paused with the reason (a
send_failure event, an activity for the owner), the failed email stays in the queue as an exception, and Resume
sends the same step again, once; no email is lost and none reaches a contact twice.

How:
  * a database of its own (sales_sequence_faults_smtp_<pid>), FAULTS_ENROLLMENTS contacts (400) enrolled in
    FAULTS_STEPS steps (2) without delay on a send calendar open 24/7; an outgoing mail server (ir.mail_server)
    pointing at a local aiosmtpd (smtp_sink.py);
  * a real Odoo server, `odoo-bin --workers=1 --no-http --max-cron-threads=3`: its cron workers run the addon's
    run jobs (its two) and Odoo's mail queue cron side by side, as in production; the ticker (faultlib.Ticker)
    makes the next step due at once (the addon waits 5 minutes after a send; SQL on rows no worker holds) and
    wakes the crons;
  * the SMTP server accepts for FAULTS_SMTP_UP_S (3 s) and until a few emails went out; then it is stopped
    (sessions in progress cut, then the port closed: connection refused) for FAULTS_SMTP_REFUSE_S (8 s) and until
    sends failed and paused their enrollments; then it accepts connections but answers 451 to every email for
    FAULTS_SMTP_TEMPFAIL_S (12 s) and until 451 failures were recorded; then it accepts for good. (Each phase's
    "until" is bounded: the machine's speed varies several times over with the load of its other users.)
  * at the start of the 451 phase the paused enrollments are resumed (a user resuming too early: they fail and
    pause again); once the server accepts again and the run has settled (nothing due, nothing outgoing), the
    paused enrollments are resumed with enrollment.action_resume(), as a user does after fixing the cause, again
    until none is paused.

Assertions (SQL, faultlib.check_sequence, plus the outage's own): per enrollment and step exactly one successful
step run, one email in the enrollment's chatter per attempt (a failed attempt's email stays in the chatter) and
none without a step run, one mail.mail row ever created per email (a trigger logs inserts), one note on the
contact, one email received by the SMTP server (by recipient and step marker, and by Message-Id: never one of a
failed run); every failed run has its send_failure event, its email kept as an exception in the queue, and its
enrollment paused then resumed; in the end every enrollment finished, none due, blocked or paused. And the outage
must have hit something (failed_sends > 0), else the run proved nothing and fails.

Run: tests/faults/smtp_outage.py (or tools/run-faults smtp_outage). Env: FAULTS_SMTP_UP_S, FAULTS_SMTP_REFUSE_S,
FAULTS_SMTP_TEMPFAIL_S, FAULTS_ENROLLMENTS, FAULTS_STEPS, FAULTS_SEED, FAULTS_TIMEOUT (345 s), FAULTS_ADDON_REF,
FAULTS_KEEP.
Prints: faults smtp_outage: enrollments=400 steps=2 duplicates=0 misses=0 left_due=0 left_blocked=0
        failed_sends=.. paused=.. resumed=.. smtp=800 OK
"""

import collections
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faultlib as F  # noqa: E402


def scenario(run):
    up_first = F.env_float("FAULTS_SMTP_UP_S", 3)
    refuse = F.env_float("FAULTS_SMTP_REFUSE_S", 8)
    tempfail = F.env_float("FAULTS_SMTP_TEMPFAIL_S", 12)
    pg = F.PgTarget()
    db = f"{F.DB_PREFIX}smtp_{os.getpid()}"
    run.install_db(pg, db)
    sink = F.SmtpSink(run)
    conn = pg.connect(db)
    run.on_cleanup(conn.close)
    F.install_mail_log(conn)
    crons = F.cron_ids(conn)
    setup = run.shell(
        pg, db, "setup", {"tag": f"s{os.getpid()}", "size": run.size, "steps": run.steps, "smtp_port": sink.port}
    )
    seq = setup["sequence_id"]
    F.say(f"sequence {seq}: {setup['enrollments']} enrollments {setup['states']}, {run.steps} steps")
    F.set_cron(conn, crons["run"], True)
    F.set_cron(conn, crons["mail"], True)

    def count(sql):
        return F.scalar(conn, sql, {"seq": seq})

    open_sql = (
        "SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = %(seq)s AND state IN ('active', 'queued')"
    )
    paused_sql = "SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = %(seq)s AND state = 'paused'"
    outgoing_sql = "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"

    server = F.OdooServer(run, pg, db, cron_workers=len(crons["run"]) + 1)
    ticker = F.Ticker(pg, db, [seq])
    ticker.wake_mail = True
    run.on_cleanup(ticker.stop)
    server.start()
    ticker.start()
    server.wait_workers(timeout=60)
    timeline = []
    peak = {"paused": 0}

    def note(what):
        peak["paused"] = max(peak["paused"], count(paused_sql))
        timeline.append(
            f"{what}: received {len(sink.records())}, paused {count(paused_sql)}, open {count(open_sql)}, "
            f"outgoing {count(outgoing_sql)}"
        )
        F.say(timeline[-1])

    tempfailed_sql = (
        "SELECT count(*) FROM sales_sequence_event WHERE sequence_id = %(seq)s AND event_type = 'send_failure' "
        "AND description LIKE '%%451%%'"
    )

    def mail_queue_idle():
        return not F.job_running(conn, crons["mail"])

    # Each phase lasts its time, then until it has done its part (bounded): the machine's speed varies a lot.
    run.sleep(up_first)
    some = max(1, setup["enrollments"] * run.steps // 20)
    run.wait_until(lambda: len(sink.records()) >= some, 60, "some emails sent", 0.2, required=False)
    note(f"accepting {up_first:.0f}+ s")
    sink.set_mode("refuse")
    run.sleep(refuse)
    run.wait_until(lambda: count(paused_sql) and mail_queue_idle(), 90, "sends failed", 0.2, required=False)
    note(f"stopped {refuse:.0f}+ s")
    sink.set_mode("tempfail")
    # A user resumes too early: the server is up again but still answers 451; they fail and pause once more.
    ended = time.monotonic() + tempfail
    early = run.shell(pg, db, "resume", {"sequence_ids": [seq]}, log_name="shell-resume-early.log")
    F.say(f"resumed too early: {early['resumed']} -> {early['states_after']}")
    run.sleep(max(ended - time.monotonic(), 0))
    run.wait_until(lambda: count(tempfailed_sql) and mail_queue_idle(), 90, "451 failures", 0.2, required=False)
    note(f"451 for {tempfail:.0f}+ s")
    sink.set_mode("accept")
    paused_peak = max(peak["paused"], early["resumed"], count(paused_sql))
    resumed, rounds = early["resumed"], 0

    def settled():
        return (
            not count(open_sql)
            and not count(outgoing_sql)
            and not F.job_running(conn, crons["run"])
            and not F.job_running(conn, crons["mail"])
        )

    while True:
        run.wait_until(settled, max(run.remaining() - 40, 10), "the run settled", 0.5)
        paused = count(paused_sql)
        paused_peak = max(paused_peak, paused)
        if not paused or rounds >= 5:
            break
        rounds += 1
        outcome = run.shell(pg, db, "resume", {"sequence_ids": [seq]}, log_name=f"shell-resume-{rounds}.log")
        resumed += outcome["resumed"]
        F.say(
            f"resume round {rounds}: {outcome['resumed']} resumed ({outcome['reasons']}) -> {outcome['states_after']}"
        )
    ticker.stop()
    server.stop()
    records = sink.records()
    check = F.check_sequence(conn, seq, records)
    outage_checks(conn, seq, check)
    reordered = count_reordered(records)
    reasons = failure_reasons(conn, seq)
    return (
        check,
        [],
        [
            ("failed_sends", check.failed_sends),
            ("refused", reasons["refused"]),
            ("tempfailed", reasons["451"]),
            ("failed_other", reasons["other"]),
            ("paused", paused_peak),
            ("resumed", resumed),
            ("resume_rounds", rounds),
            ("smtp", check.smtp),
            ("step_order_inverted", reordered),
        ],
    )


def outage_checks(conn, seq, check):
    """What the README's "Send failures" promises, for every failed step run."""
    if not check.failed_sends:
        check.extra_failures.append("the SMTP outage made no send fail: nothing was tested (lengthen the outage)")
        return
    rows = F.query(
        conn,
        """
        SELECT t.id, t.enrollment_id,
               (SELECT count(*) FROM sales_sequence_event ev
                 WHERE ev.enrollment_id = t.enrollment_id AND ev.event_type = 'send_failure' AND ev.touch_id = t.id),
               (SELECT count(*) FROM mail_mail m WHERE m.mail_message_id = t.mail_message_id AND m.state = 'exception'),
               (SELECT count(*) FROM faults_mail_mail_log l WHERE l.mail_message_id = t.mail_message_id),
               (SELECT count(*) FROM sales_sequence_event ev
                 WHERE ev.enrollment_id = t.enrollment_id AND ev.event_type = 'resume')
          FROM sales_sequence_touch t JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
         WHERE e.sequence_id = %s AND t.failed
        """,
        (seq,),
    )
    for touch_id, eid, events, exceptions, created, resumes in rows:
        for what, got in (
            ("send_failure event", events),
            ("mail.mail kept as exception", exceptions),
            ("mail.mail created", created),
        ):
            if got != 1:
                check.extra_failures.append(f"failed run {touch_id} (enrollment {eid}): {what} {got} (want 1)")
        if not resumes:
            check.extra_failures.append(f"failed run {touch_id} (enrollment {eid}): never resumed")
    del check.extra_failures[20:]


def failure_reasons(conn, seq):
    reasons = collections.Counter({"refused": 0, "451": 0, "other": 0})
    for (description,) in F.query(
        conn,
        "SELECT ev.description FROM sales_sequence_event ev WHERE ev.sequence_id = %s "
        "AND ev.event_type = 'send_failure'",
        (seq,),
    ):
        description = description or ""
        reasons["451" if "451" in description else "refused" if "refused" in description else "other"] += 1
    return reasons


def count_reordered(records):
    """Contacts who received a later step before an earlier one (a failed step sent again after the next step)."""
    first_seen = collections.defaultdict(dict)
    for record in sorted(records, key=lambda r: r["at"]):
        for rcpt in record["rcpt"]:
            for marker in record["markers"]:
                first_seen[rcpt].setdefault(marker, record["at"])
    return sum(1 for markers in first_seen.values() if list(markers) != sorted(markers))


if __name__ == "__main__":
    sys.exit(F.main("smtp_outage", scenario))
