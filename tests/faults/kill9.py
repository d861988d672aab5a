#!/usr/bin/env python3
"""Fault (a): kill -9 of a real cron worker at random moments; every step still goes exactly once.

What it proves: the run cron (sales_sequence.ir_cron_run_sequences, run by Odoo's own ir.cron machinery in a real
server) loses nothing and repeats nothing when its process dies at any moment: a killed chunk's transaction is
rolled back whole (step run, chatter email, mail.mail row, contact note, next step), and the next run does it once.

How:
  * a database of its own (sales_sequence_faults_kill9_<pid>), FAULTS_ENROLLMENTS contacts (400) enrolled in a
    sequence of FAULTS_STEPS steps (2) without delay, on a send calendar open 24/7 (shell_tasks.py setup); while
    the kills go on, waves of FAULTS_WAVE (800) more contacts are enrolled whenever less than 1600 step runs are
    left, up to FAULTS_MAX_ENROLLMENTS (8000) in all (faultlib.WorkFeeder), so that the kills land on a running
    job however fast the machine is at the time (a warm worker runs some 200 steps a second; the load of the
    other users of this machine's 2 cores divides that several times over);
  * a real Odoo server, `odoo-bin --workers=1 --no-http --max-cron-threads=2` (Odoo's default count): the prefork
    master and two cron worker processes that run the addon's run jobs (every ir.cron whose code calls
    _cron_run_sequences: the addon has two, so two workers share the sends) through ir.cron (job row lock,
    ir.cron.progress, re-run while `_notify_progress` reports work left). The real ir.cron rather than a shell
    loop, because what is killed must be what runs in production, with its locks and its own retry logic (a job
    killed 3 times in a row is taken for a timeout by Odoo and skipped once: odoo_job_timeouts= in the summary);
  * FAULTS_KILLS kills (24, at least 20): each waits until a run job runs, sleeps a random 0.2..3 s, then kill -9
    either one cron worker process (2 times in 3; the master respawns it; the other worker goes on) or the whole
    process group, master included (1 in 3; the script starts the server again). mid_job= counts the kills that
    found a run job running;
  * the ticker (faultlib.Ticker) makes the next step due at once (the addon waits 5 minutes after a send; rows no
    worker holds are moved with SQL) and sends Odoo's cron_trigger NOTIFY so a fresh worker starts at once;
  * after the kills the server drains the due work without faults. The mail queue stays off: what is killed here
    is the run cron, and each email's one outgoing mail.mail row is what it must leave. FAULTS_SMTP=1 then has
    the mail queue send everything to a local aiosmtpd and checks there too (slower: some 30 emails a second).
    FAULTS_MAIL_DURING_FAULTS=1 runs the mail queue during the kills as well: expect duplicates at the SMTP
    server then, from Odoo's mail queue, which is at-least-once (a worker killed between the SMTP server's reply
    and its commit sends that email again), not from the addon.

Assertions (SQL, faultlib.check_sequence): per enrollment and step exactly one successful step run, one email in
the enrollment's chatter and no email without a step run, one mail.mail row (outgoing; every row ever inserted is
also logged by a trigger, as Odoo deletes sent ones), one note on the contact (and with FAULTS_SMTP=1 one email
received by the SMTP server, by recipient and step and by Message-Id); every enrollment finished, none left due,
blocked or paused.

Run: tests/faults/kill9.py (or tools/run-faults kill9). Env: FAULTS_ENROLLMENTS, FAULTS_STEPS, FAULTS_KILLS,
FAULTS_WAVE, FAULTS_MAX_ENROLLMENTS, FAULTS_SMTP, FAULTS_MAIL_DURING_FAULTS, FAULTS_SEED, FAULTS_TIMEOUT (345 s),
FAULTS_ADDON_REF, FAULTS_KEEP.
Prints: faults kill9: kills=24 enrollments=2400 steps=2 duplicates=0 misses=0 left_due=0 left_blocked=0 ... OK
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faultlib as F  # noqa: E402


def scenario(run):
    pg = F.PgTarget()
    db = f"{F.DB_PREFIX}kill9_{os.getpid()}"
    kills_wanted = F.env_int("FAULTS_KILLS", 24)
    mail_during = os.environ.get("FAULTS_MAIL_DURING_FAULTS") == "1"
    smtp_check = os.environ.get("FAULTS_SMTP") == "1"
    run.install_db(pg, db)
    sink = F.SmtpSink(run)
    conn = pg.connect(db)
    run.on_cleanup(conn.close)
    F.install_mail_log(conn)
    crons = F.cron_ids(conn)
    F.set_cron(conn, crons["mail"], mail_during)
    setup = run.shell(
        pg, db, "setup", {"tag": f"k{os.getpid()}", "size": run.size, "steps": run.steps, "smtp_port": sink.port}
    )
    seq = setup["sequence_id"]
    F.say(f"sequence {seq}: {setup['enrollments']} enrollments {setup['states']}, {run.steps} steps")
    F.set_cron(conn, crons["run"], True)

    def open_work():
        return F.open_enrollments(conn, seq)

    feeder = F.WorkFeeder(
        run,
        pg,
        db,
        setup,
        f"k{os.getpid()}",
        wave=F.env_int("FAULTS_WAVE", 800),
        low=1600,
        limit=F.env_int("FAULTS_MAX_ENROLLMENTS", 8000),
    )
    server = F.OdooServer(run, pg, db, cron_workers=2)
    ticker = F.Ticker(pg, db, [seq])
    ticker.wake_mail = mail_during
    run.on_cleanup(ticker.stop)
    server.start()
    ticker.start()
    kills = worker_kills = group_kills = mid_job = 0
    started = time.monotonic()

    def armed():
        """The job runs, or there is no work left and none coming."""
        feeder.feed(conn)
        return F.job_running(conn, crons["run"]) or (not open_work() and not feeder.busy())

    while kills < kills_wanted:
        if not server.alive():
            server.start()
        server.wait_workers(timeout=60)
        # Aim at the work: wait until the job runs (or there is nothing left to run), then a random moment later.
        run.wait_until(armed, 60, "the cron job running", 0.05)
        run.sleep(run.rng.uniform(0.2, 3.0))
        running = F.job_running(conn, crons["run"])
        if run.rng.random() < 1 / 3:
            server.kill_all()
            group_kills += 1
            what = "server (master and workers)"
        else:
            pid = server.kill_worker()
            if pid is None:
                continue
            worker_kills += 1
            what = f"cron worker {pid}"
        kills += 1
        mid_job += running
        F.say(
            f"kill {kills}/{kills_wanted}: {what}{' mid-job' if running else ''}; "
            f"step runs {F.step_runs(conn, seq)} of {F.step_runs_due(conn, seq)}"
        )
    feeder.finish()
    kill_time = time.monotonic() - started
    F.say(f"{kills} kills in {kill_time:.0f} s ({mid_job} while the job ran); draining")
    if not server.alive():
        server.start()
    check = F.settle_and_check(
        run, lambda: conn, seq, crons, ticker, server, sink, smtp_check or mail_during, precheck=not mail_during
    )
    return (
        check,
        [("kills", kills)],
        [
            ("mid_job", mid_job),
            ("worker_kills", worker_kills),
            ("server_kills", group_kills),
            ("waves", feeder.waves),
            *([("smtp", check.smtp)] if smtp_check or mail_during else []),
            ("odoo_job_timeouts", server.log_count("timed out")),
            ("kill_phase_s", int(kill_time)),
        ],
    )


if __name__ == "__main__":
    sys.exit(F.main("kill9", scenario))
