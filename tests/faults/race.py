#!/usr/bin/env python3
"""Fault (b): 2, then 4 workers racing on the same due enrollments; every step still goes exactly once.

What it proves: the run cron's row locking (due enrollments locked FOR NO KEY UPDATE SKIP LOCKED, read again once
locked, committed per chunk) lets any number of workers run it at the same time without a step going twice or
being lost, while the mail queue sends (and reports back to the step runs) at the same time.

How: a database of its own (sales_sequence_faults_race_<pid>); one round per worker count in FAULTS_RACE_WORKERS
("2 4"), each with a sequence of its own: FAULTS_ENROLLMENTS contacts (400) enrolled in FAULTS_STEPS steps (2)
without delay on a send calendar open 24/7. The workers of a round:
  * first the real ones: an Odoo server (`odoo-bin --workers=1 --no-http --max-cron-threads=R+1`) whose cron
    worker processes run the addon's R run jobs (every ir.cron whose code calls _cron_run_sequences: R=2 since
    the addon has a second run job so that two cron workers share the sends; Odoo runs one job in one worker at
    a time) through ir.cron, and the mail queue cron beside them;
  * the other N-R are `odoo-bin shell` processes calling the cron's method, `_cron_run_sequences()`, in a loop
    and committing after each call, as a cron worker does (as more run jobs, a manual "Run Manually" or a server
    action calling the method would). Shells and not more servers, because real cron workers never run the same
    job at once;
  * the shells wait at a barrier and start at the same instant as the crons; the ticker (faultlib.Ticker) makes
    the next step due at once (SQL on rows no worker holds: the addon waits 5 minutes after a send) and wakes the
    crons, so step 2 runs race with the rest of step 1.
A worker's exception (a serialization failure, a deadlock) is counted and reported (worker_errors= for the shells,
cron_serialization_failures= for the server's log), not hidden: ir.cron logs it and runs the job again later; the
assertions then tell whether anything was lost or doubled.

Assertions (SQL, faultlib.check_sequence), per round: per enrollment and step exactly one successful step run, one
email in the enrollment's chatter and none without a step run, one mail.mail row ever created (a trigger logs
inserts: Odoo deletes sent ones), one note on the contact, one email received by the local SMTP server (aiosmtpd);
every enrollment finished, none due, blocked or paused.

Run: tests/faults/race.py (or tools/run-faults race). Env: FAULTS_RACE_WORKERS ("2 4"), FAULTS_ENROLLMENTS,
FAULTS_STEPS, FAULTS_SEED, FAULTS_TIMEOUT (345 s), FAULTS_ADDON_REF, FAULTS_KEEP, FAULTS_RACE_CHUNK (the shells'
chunk size; default the cron's own, 50: smaller means more lock hand-overs).
Prints: faults race: workers=2,4 rounds=2 enrollments=800 steps=2 duplicates=0 misses=0 left_due=0 ... OK
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faultlib as F  # noqa: E402


def scenario(run):
    pg = F.PgTarget()
    db = f"{F.DB_PREFIX}race_{os.getpid()}"
    rounds = [int(n) for n in os.environ.get("FAULTS_RACE_WORKERS", "2 4").split()]
    run.install_db(pg, db)
    sink = F.SmtpSink(run)
    conn = pg.connect(db)
    run.on_cleanup(conn.close)
    F.install_mail_log(conn)
    crons = F.cron_ids(conn)
    real = len(crons["run"])  # the addon's run jobs: one real cron worker each, and one for the mail queue
    server = F.OdooServer(run, pg, db, cron_workers=real + 1)
    ticker = F.Ticker(pg, db, [])
    ticker.wake_mail = True
    run.on_cleanup(ticker.stop)
    total = F.Check()
    errors = []
    error_count = 0
    per_round = []
    for number, workers in enumerate(rounds, 1):
        F.set_cron(conn, crons["run"], False)
        setup = run.shell(
            pg,
            db,
            "setup",
            {
                "tag": f"r{number}w{workers}p{os.getpid()}",
                "size": run.size,
                "steps": run.steps,
                "smtp_port": sink.port if number == 1 else None,
            },
            log_name=f"shell-setup-{number}.log",
        )
        seq = setup["sequence_id"]
        shell_count = max(workers - real, 0)
        F.say(
            f"round {number}: {workers} workers ({real} real cron workers, {shell_count} shells) on sequence {seq} "
            f"({setup['enrollments']} enrollments)"
        )
        if not server.alive():
            server.start()
            server.wait_workers(timeout=60)
        flags = run.dir / f"round{number}"
        flags.mkdir()
        shells = [
            run.shell(
                pg,
                db,
                "worker",
                {
                    "go": str(flags / "go"),
                    "stop": str(flags / "stop"),
                    "ready": str(flags / f"ready{i}"),
                    "seed": run.seed + 100 * number + i,
                    "chunk": F.env_int("FAULTS_RACE_CHUNK", 0),
                },
                log_name=f"worker-{number}-{i}.log",
                wait=False,
            )
            for i in range(shell_count)
        ]
        run.wait_until(
            lambda flags=flags, count=shell_count: len(list(flags.glob("ready*"))) == count,
            120,
            "the racing shells ready",
            0.1,
        )
        # All at once: the shells leave the barrier, the cron is due, the ticker wakes it.
        started = time.monotonic()
        F.set_cron(conn, crons["run"], True)
        query_notify = pg.connect("postgres")
        F.query(query_notify, "SELECT pg_notify('cron_trigger', %s)", (db,))
        query_notify.close()
        (flags / "go").touch()
        ticker.set_sequences([seq])
        if not ticker.is_alive():
            ticker.start()

        def settled(seq=seq):
            # The mail queue writes the send events and contacts' notes after each batch it sent (not per email):
            # settled once the batch in flight is recorded too, the mail queue's job done.
            outgoing = F.scalar(conn, "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'")
            pending = F.scalar(conn, "SELECT count(*) FROM sales_sequence_touch WHERE record_pending")
            return (
                not F.open_enrollments(conn, seq)
                and not outgoing
                and not pending
                and not F.job_running(conn, crons["mail"])
            )

        run.wait_until(settled, max(run.remaining() - 30, 10), f"round {number} drained", 0.5)
        elapsed = time.monotonic() - started
        (flags / "stop").touch()
        shell_done = []
        for i, proc in enumerate(shells):
            outcome = run.shell_result(proc, f"worker {number}.{i}", timeout=60)
            shell_done.append(outcome["done"])
            error_count += outcome["errors"]
            if outcome["errors"]:
                errors.append(f"round {number} shell {i}: {outcome['errors']} errors, first:\n{outcome['first_error']}")
        ticker.set_sequences([])
        check = F.check_sequence(conn, seq, sink.records())
        step_runs = check.enrollments * check.steps
        F.say(
            f"round {number}: drained in {elapsed:.1f} s; step runs by the shells {shell_done}, by the real cron "
            f"{step_runs - sum(shell_done)} (of {step_runs}); states {F.state_counts(conn, [seq])}"
        )
        per_round.append(f"{workers}w:{elapsed:.0f}s")
        total.merge(check)
    ticker.stop()
    server.stop()
    for error in errors:
        F.say(error)
    return (
        total,
        [("workers", ",".join(map(str, rounds))), ("rounds", len(rounds))],
        [
            ("smtp", total.smtp),
            ("worker_errors", error_count),
            ("cron_serialization_failures", server.log_count("psycopg2.errors.SerializationFailure")),
            ("times", ",".join(per_round)),
        ],
    )


if __name__ == "__main__":
    sys.exit(F.main("race", scenario))
