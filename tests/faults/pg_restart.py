#!/usr/bin/env python3
"""Fault (c): PostgreSQL restarted mid-run; every step still goes exactly once.

What it proves: when the database goes away under the run cron (a clean restart, a crash and its recovery, or a
few seconds down), the transaction of the chunk in flight is lost whole and nothing half-done stays: no step run
without its email, no email without its step run, no step sent twice, nothing left due or blocked; the real cron
worker comes back by itself and finishes the work.

How:
  * a PostgreSQL cluster of the script's own, never the machine's: initdb (as user postgres when run as root) into
    a temporary folder, 127.0.0.1 on a free port, trust authentication for its bootstrap role odoo_faults (Odoo
    refuses to run as "postgres"); stopped and deleted at the end;
  * a database in it with the addon (sales_sequence_faults_pgrestart_<pid>); FAULTS_ENROLLMENTS contacts (400)
    enrolled in FAULTS_STEPS steps (2) without delay on a send calendar open 24/7; while the restarts go on,
    waves of FAULTS_WAVE (800) more contacts whenever less than 1600 step runs are left, up to
    FAULTS_MAX_ENROLLMENTS (8000) in all (faultlib.WorkFeeder), so the restarts find the job at work however
    fast the machine is at the time (no wave is being enrolled at the moment of a restart);
  * a real Odoo server on it, `odoo-bin --workers=1 --no-http --max-cron-threads=2`, whose two cron workers run
    the addon's run jobs (every ir.cron whose code calls _cron_run_sequences): the prefork master respawns a cron
    worker that died when its connections broke, which is how Odoo recovers in production (a threaded
    server's cron thread dies on a broken LISTEN connection and is not restarted: not the deployment to test);
  * FAULTS_PG_RESTARTS restarts (6), each once the job runs and a random 0.2..3 s later, cycling through
    `pg_ctl restart -m fast` (clean: backends terminated), `pg_ctl restart -m immediate` (a crash: WAL recovery
    at start) and stop, 1..4 s down, start;
  * the ticker (faultlib.Ticker) makes the next step due at once (SQL, on rows no worker holds: the addon waits 5
    minutes after a send) and wakes the cron worker (Odoo's cron_trigger NOTIFY); it reconnects after restarts;
  * after the restarts the server drains the due work without faults. The mail queue stays off: what is broken
    here is the run cron's database, and each email's one outgoing mail.mail row is what it must leave.
    FAULTS_SMTP=1 then has the mail queue send everything to a local aiosmtpd and checks there too (slower).

Assertions (SQL, faultlib.check_sequence): per enrollment and step exactly one successful step run, one email in
the enrollment's chatter and none without a step run, one mail.mail row (outgoing; every row ever inserted is also
logged by a trigger), one note on the contact (and with FAULTS_SMTP=1 one email received by the SMTP server);
every enrollment finished, none due, blocked or paused.

Run: tests/faults/pg_restart.py (or tools/run-faults pg_restart). Env: FAULTS_PG_RESTARTS, FAULTS_ENROLLMENTS,
FAULTS_WAVE, FAULTS_MAX_ENROLLMENTS, FAULTS_SMTP, FAULTS_STEPS, FAULTS_SEED, FAULTS_TIMEOUT (345 s),
FAULTS_ADDON_REF, FAULTS_KEEP.
Prints: faults pg_restart: restarts=6 enrollments=1600 steps=2 duplicates=0 misses=0 left_due=0 ... OK
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faultlib as F  # noqa: E402

ROLE = "odoo_faults"
MODES = ("fast", "immediate", "down")


class Cluster:
    """A PostgreSQL cluster of this script's own, in a temporary folder, owned by user postgres when run as root."""

    def __init__(self, run):
        self.run = run
        self.port = F.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{F.DB_PREFIX}pg_"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgresql.log"
        run.on_cleanup(self.destroy)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.pg_ctl_run("initdb", ["-D", str(self.data), "-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"])
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                "max_connections = 60\nshared_buffers = '64MB'\n"
            )
        self.start()
        F.say(f"own PostgreSQL cluster in {self.dir}, 127.0.0.1:{self.port}")

    def as_owner(self, cmd):
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def pg_ctl_run(self, program, args, timeout=90):
        completed = subprocess.run(
            self.as_owner([str(F.PG_BIN / program), *args]),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.dir,
        )
        if completed.returncode:
            raise F.AssertionFailed(f"{program} {' '.join(args)}: {completed.stderr.strip() or completed.stdout}")
        return completed

    def pg_ctl(self, *args):
        return self.pg_ctl_run("pg_ctl", ["-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args])

    def start(self):
        self.pg_ctl("start")

    def restart(self, mode, down_seconds=0):
        if mode == "down":
            self.pg_ctl("stop", "-m", "fast")
            self.run.sleep(down_seconds)
            self.pg_ctl("start")
        else:
            self.pg_ctl("restart", "-m", mode)

    def destroy(self):
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            subprocess.run(
                self.as_owner(
                    [str(F.PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", "stop", "-m", "immediate"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        if self.run.ok and not self.run.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            F.say(f"kept the cluster's folder {self.dir} (its log: {self.log}; stopped)")


def scenario(run):
    restarts_wanted = F.env_int("FAULTS_PG_RESTARTS", 6)
    smtp_check = os.environ.get("FAULTS_SMTP") == "1"
    cluster = Cluster(run)
    pg = F.PgTarget(host="127.0.0.1", port=cluster.port, user=ROLE)
    db = f"{F.DB_PREFIX}pgrestart_{os.getpid()}"
    run.install_db(pg, db)
    sink = F.SmtpSink(run)
    conn = pg.connect(db)
    F.install_mail_log(conn)
    crons = F.cron_ids(conn)
    F.set_cron(conn, crons["mail"], False)
    setup = run.shell(
        pg, db, "setup", {"tag": f"p{os.getpid()}", "size": run.size, "steps": run.steps, "smtp_port": sink.port}
    )
    seq = setup["sequence_id"]
    F.say(f"sequence {seq}: {setup['enrollments']} enrollments {setup['states']}, {run.steps} steps")
    F.set_cron(conn, crons["run"], True)
    state = {"conn": conn}

    def db_conn():
        """The orchestrator's connection, opened again after a restart broke it."""
        if state["conn"].closed:
            state["conn"] = run.wait_until(lambda: try_connect(pg, db), 60, "PostgreSQL back", 0.2)
        return state["conn"]

    def open_work():
        return F.open_enrollments(db_conn(), seq)

    feeder = F.WorkFeeder(
        run,
        pg,
        db,
        setup,
        f"p{os.getpid()}",
        wave=F.env_int("FAULTS_WAVE", 800),
        low=1600,
        limit=F.env_int("FAULTS_MAX_ENROLLMENTS", 8000),
    )
    server = F.OdooServer(run, pg, db, cron_workers=2)
    ticker = F.Ticker(pg, db, [seq])
    run.on_cleanup(ticker.stop)
    run.on_cleanup(lambda: state["conn"].close())
    server.start()
    ticker.start()
    restarts = mid_job = 0
    started = time.monotonic()

    def armed():
        """The job runs, or there is no work left and none coming."""
        feeder.feed(db_conn())
        return F.job_running(db_conn(), crons["run"]) or (not open_work() and not feeder.busy())

    while restarts < restarts_wanted:
        server.wait_workers(timeout=60)
        run.wait_until(armed, 60, "the cron job running", 0.05)
        run.sleep(run.rng.uniform(0.2, 3.0))
        feeder.finish()  # a wave being enrolled is not what this script breaks: let it commit first
        running = F.job_running(db_conn(), crons["run"])
        before = F.step_runs(db_conn(), seq)
        mode = MODES[restarts % len(MODES)]
        down = run.rng.uniform(1, 4) if mode == "down" else 0
        state["conn"].close()
        cluster.restart(mode, down)
        restarts += 1
        mid_job += running
        F.say(
            f"restart {restarts}/{restarts_wanted}: {mode}{f' ({down:.1f} s down)' if down else ''}"
            f"{' mid-job' if running else ''}; step runs before {before}, after {F.step_runs(db_conn(), seq)} "
            f"of {F.step_runs_due(db_conn(), seq)}"
        )
        if not server.alive():
            raise F.AssertionFailed("the Odoo server (prefork master) died with the database")
    restart_time = time.monotonic() - started
    F.say(f"{restarts} restarts in {restart_time:.0f} s ({mid_job} while the job ran); draining")
    check = F.settle_and_check(run, db_conn, seq, crons, ticker, server, sink, smtp_check)
    return (
        check,
        [("restarts", restarts)],
        [
            ("mid_job", mid_job),
            ("waves", feeder.waves),
            *([("smtp", check.smtp)] if smtp_check else []),
            ("worker_deaths", server.log_count("Exception occurred, exiting")),
            ("restart_phase_s", int(restart_time)),
        ],
    )


def try_connect(pg, db):
    try:
        return pg.connect(db)
    except F.psycopg2.OperationalError:
        return None


if __name__ == "__main__":
    sys.exit(F.main("pg_restart", scenario))
