#!/usr/bin/env python3
"""Fault (e): kill -9 of the mail queue worker mid-batch; every email the queue marked sent has one send event and
one note on the contact, and no step of any enrollment is lost.

What it proves: the addon records a mail-queue batch's sends together after the batch (its send events and the
contacts' notes), while Odoo's mail queue commits each email as it goes. Each email's commit carries the mark that
it left (`sales_sequence_touch.sent_at`, with `record_pending`), so a worker killed between the emails and the
batch's recording leaves marks that the next batch, or the run cron, records: once, never twice, none lost.

How:
  * a database of its own (sales_sequence_faults_mailq_kill9_<pid>), FAULTS_ENROLLMENTS contacts (400) in a
    sequence of FAULTS_STEPS steps (2) without delay (shell_tasks.py setup), an ir.mail_server on the local SMTP
    sink (smtp_sink.py, aiosmtpd), a real Odoo server with one cron worker (`--workers=1 --max-cron-threads=1`);
  * first the run cron alone queues every step of every enrollment (the mail queue off; the ticker makes the next
    step due at once), so that the mail queue then has all the emails to send in one go;
  * then the run cron is turned off and the mail queue cron on, and FAULTS_KILLS kills (8): each waits until the
    mail queue job runs and has sent an email since the last kill, sleeps a random 0.3..2.5 s, then kill -9 the
    cron worker running it (the master respawns it; the ticker wakes the mail queue again). `pending_at_kill=`
    sums the sends committed but not yet recorded at each kill: the kills hit the window this scenario is about;
  * after the kills the mail queue drains without faults, then the run cron runs once (it records what a killed
    batch left, as it does at every run).

Assertions (SQL): faultlib.check_sequence without the per-recipient SMTP count (a worker killed between the SMTP
server's reply and its commit sends that email again: Odoo's mail queue is at-least-once, `smtp_resent=` counts
them), so per enrollment and step exactly one successful step run, one chatter email, one mail.mail row, one note
on the contact, `sent_at` set; plus (faultlib.check_send_records) for every email the queue marked sent (its
notification `sent`) `sent_at` set and exactly one send event, no send left unrecorded, and every email received
at least once by the SMTP server; every enrollment finished.

Run: tests/faults/mailq_kill9.py (or tools/run-faults mailq_kill9). Env: FAULTS_ENROLLMENTS, FAULTS_STEPS,
FAULTS_KILLS, FAULTS_SEED, FAULTS_TIMEOUT (345 s), FAULTS_ADDON_REF, FAULTS_KEEP.
Prints: faults mailq_kill9: kills=8 enrollments=400 steps=2 duplicates=0 misses=0 left_due=0 left_blocked=0 ... OK
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faultlib as F  # noqa: E402


def scenario(run):
    pg = F.PgTarget()
    db = f"{F.DB_PREFIX}mailq_kill9_{os.getpid()}"
    kills_wanted = F.env_int("FAULTS_KILLS", 8)
    run.install_db(pg, db)
    sink = F.SmtpSink(run)
    conn = pg.connect(db)
    run.on_cleanup(conn.close)
    F.install_mail_log(conn)
    crons = F.cron_ids(conn)
    F.set_cron(conn, crons["mail"], False)
    setup = run.shell(
        pg, db, "setup", {"tag": f"mq{os.getpid()}", "size": run.size, "steps": run.steps, "smtp_port": sink.port}
    )
    seq = setup["sequence_id"]
    F.say(f"sequence {seq}: {setup['enrollments']} enrollments {setup['states']}, {run.steps} steps")
    F.set_cron(conn, crons["run"], True)
    server = F.OdooServer(run, pg, db, cron_workers=1)
    ticker = F.Ticker(pg, db, [seq])
    run.on_cleanup(ticker.stop)
    server.start()
    ticker.start()
    run.wait_until(lambda: not F.open_enrollments(conn, seq), max(run.remaining() / 3, 30), "every step queued", 1)
    run.wait_until(lambda: not F.job_running(conn, crons["run"]), 60, "the run job ended", 0.2)
    F.set_cron(conn, crons["run"], False)
    outgoing = F.scalar(conn, "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'")
    F.say(f"{outgoing} emails queued; the mail queue starts, and is killed {kills_wanted} times")
    ticker.wake_mail = True
    F.set_cron(conn, crons["mail"], True)
    kills = mid_job = pending_at_kill = 0
    started = time.monotonic()
    while kills < kills_wanted:
        if not F.scalar(conn, "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"):
            F.say("the queue is empty before the kills ended")
            break
        server.wait_workers(timeout=60)
        sent_before = sent_count(conn, seq)
        run.wait_until(
            lambda: F.job_running(conn, crons["mail"]) and sent_count(conn, seq) > sent_before,  # noqa: B023
            60,
            "the mail queue sending",
            0.05,
        )
        run.sleep(run.rng.uniform(0.3, 2.5))
        running = F.job_running(conn, crons["mail"])
        pid = server.kill_worker()
        if pid is None:
            continue
        kills += 1
        mid_job += running
        pending = F.scalar(conn, "SELECT count(*) FROM sales_sequence_touch WHERE record_pending")
        pending_at_kill += pending
        F.say(
            f"kill {kills}/{kills_wanted}: mail queue worker {pid}{' mid-job' if running else ''}; "
            f"{sent_count(conn, seq)} sent, {pending} sent but not yet recorded"
        )
    F.say(f"{kills} kills in {time.monotonic() - started:.0f} s; the mail queue drains")
    run.wait_until(
        lambda: not F.scalar(conn, "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"),
        max(run.remaining() - 60, 10),
        "the mail queue empty",
        1,
    )
    run.wait_until(lambda: not F.job_running(conn, crons["mail"]), 60, "the mail queue job ended", 0.2)
    F.set_cron(conn, crons["run"], True)  # it records what a killed batch left, first thing in every run
    run.wait_until(
        lambda: not F.scalar(conn, "SELECT count(*) FROM sales_sequence_touch WHERE record_pending"),
        60,
        "every send recorded",
        0.5,
    )
    run.wait_until(lambda: not F.job_running(conn, crons["run"]), 60, "the run job ended", 0.2)
    ticker.stop()
    server.stop()
    check = F.check_sequence(conn, seq, None, expect_sent=True)
    resent = F.check_send_records(conn, seq, check, sink.records())
    return (
        check,
        [("kills", kills)],
        [("mid_job", mid_job), ("pending_at_kill", pending_at_kill), ("smtp_resent", resent), ("emails", outgoing)],
    )


def sent_count(conn, sequence_id):
    return F.scalar(
        conn,
        "SELECT count(*) FROM sales_sequence_touch t JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id "
        "WHERE e.sequence_id = %s AND t.sent_at IS NOT NULL",
        (sequence_id,),
    )


if __name__ == "__main__":
    sys.exit(F.main("mailq_kill9", scenario))
