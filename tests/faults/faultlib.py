"""Shared machinery of the fault-injection scripts of this folder (see README.rst here).

Not an Odoo test module and not a Python package of the addon: nothing in the addon or its test suite imports it.
The scripts import it by path (they run from this folder). They drive the addon as a black box, through its public
ORM entry points only (fed to `odoo-bin shell` processes: shell_tasks.py) and Odoo's own ir.cron machinery (real
`odoo-bin` servers), and assert with SQL on the database.

Everything a script starts lives in one run folder under /tmp (Odoo's data dir, logs, the SMTP sink's log, a
PostgreSQL cluster of its own when it needs one) and one database named sales_sequence_faults_<script>_<pid>. Every
process it starts runs in a process group of its own and is killed on exit, whatever the exit (end, failure,
Ctrl-C, SIGTERM, the time limit); the database is dropped. The run folder is deleted on success and kept on
failure (its path is printed) so the Odoo logs are there to read; FAULTS_KEEP=1 keeps everything (database too).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADDON_DIR = HERE.parent.parent
VENV = Path(os.environ.get("SALES_SEQUENCE_VENV", "/opt/sales_sequence-venv"))

try:
    import psutil
    import psycopg2
except ImportError:  # started with the system Python: run again with the virtualenv's, which has Odoo's packages
    _venv_python = VENV / "bin" / "python"
    if _venv_python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(_venv_python), [str(_venv_python), *sys.argv])
    raise

import atexit  # noqa: E402 - after the virtualenv check on purpose
import collections  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

ODOO_SRC = Path(os.environ.get("ODOO_SRC", "/opt/odoo-18.0"))
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
ADDON_NAME = "sales_sequence"
DB_PREFIX = "sales_sequence_faults_"
RESULT_TAG = "FAULTS_RESULT "
MAIL_CRON_XMLID = "mail.ir_cron_mail_scheduler_action"


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


def say(message):
    """Progress on stderr (stdout carries the summary line only)."""
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FaultTimeout(Exception):
    """The script's time limit (FAULTS_TIMEOUT) was reached."""


class AssertionFailed(Exception):
    """A precondition of the scenario did not hold (not the final SQL assertions, which are counted)."""


# ----------------------------------------------------------------------------------------------------------------
# Database access (PostgreSQL of the machine, or a cluster of the script's own)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class PgTarget:
    """Where the databases are: the machine's cluster through its local socket (host None), or a cluster of the
    script's own on 127.0.0.1:port."""

    host: str = None
    port: int = None
    user: str = None

    def odoo_args(self):
        args = []
        if self.host:
            args.append(f"--db_host={self.host}")
        if self.port:
            args.append(f"--db_port={self.port}")
        if self.user:
            args.append(f"--db_user={self.user}")
        return args

    def connect(self, dbname, autocommit=True, statement_timeout_ms=60000):
        kwargs = {"dbname": dbname, "connect_timeout": 5, "application_name": "faults-orchestrator"}
        if self.host:
            kwargs["host"] = self.host
        if self.port:
            kwargs["port"] = self.port
        if self.user:
            kwargs["user"] = self.user
        kwargs["options"] = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout=10000"
        conn = psycopg2.connect(**kwargs)
        conn.autocommit = autocommit
        return conn

    def client_args(self):
        args = []
        if self.host:
            args += ["-h", self.host]
        if self.port:
            args += ["-p", str(self.port)]
        if self.user:
            args += ["-U", self.user]
        return args

    def drop_database(self, dbname):
        subprocess.run(
            [str(PG_BIN / "dropdb"), *self.client_args(), "--if-exists", "--force", dbname],
            check=False,
            timeout=60,
            capture_output=True,
        )


def query(conn, sql, params=None):
    with conn.cursor() as cr:
        cr.execute(sql, params)
        return cr.fetchall() if cr.description else []


def scalar(conn, sql, params=None):
    rows = query(conn, sql, params)
    return rows[0][0] if rows else None


# ----------------------------------------------------------------------------------------------------------------
# The run: its folder, its processes, its time limit, its cleanup
# ----------------------------------------------------------------------------------------------------------------


class Run:
    """One run of one script: a folder, the processes started (each in its own process group), a deadline, and
    cleanups run in reverse order at exit whatever happens."""

    def __init__(self, name, default_size=400):
        self.name = name
        self.seed = env_int("FAULTS_SEED", int(time.time() * 1000) % 1_000_000)
        self.rng = random.Random(self.seed)
        self.size = env_int("FAULTS_ENROLLMENTS", default_size)
        self.steps = env_int("FAULTS_STEPS", 2)
        self.timeout = env_float("FAULTS_TIMEOUT", 345)
        self.keep = os.environ.get("FAULTS_KEEP") == "1"
        self.started = time.monotonic()
        self.deadline = self.started + self.timeout
        self.dir = Path(tempfile.mkdtemp(prefix=f"{DB_PREFIX}{name}_"))
        self.data_dir = self.dir / "data"
        self.addons_dir = self.dir / "addons"
        self.procs = []
        self.cleanups = []
        self.ok = False
        self._cleaned = False
        self._lock = threading.Lock()
        self._link_addon()
        atexit.register(self.cleanup)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGALRM, self._on_alarm)
        signal.alarm(int(self.timeout) + 1)
        # A last resort when the main thread is stuck in C code (a libpq call): kill the children, exit.
        watchdog = threading.Thread(target=self._watchdog, name="faults-watchdog", daemon=True)
        watchdog.start()
        say(f"{name}: run folder {self.dir}, seed {self.seed} (FAULTS_SEED to replay the same random choices)")

    # -- addon source ------------------------------------------------------------------------------------------

    def _link_addon(self):
        """Odoo sees the addon in an addons folder of this run's own (the shared link in the virtualenv is left
        alone), holding a copy made at start, so edits made to the working tree during the run (a server started
        again mid-run would load them) do not mix two versions of the code in one run: by default the working
        tree's files (tracked and new, as git lists them), or with FAULTS_ADDON_REF=<git ref> that commit's
        (git archive; both read-only for the repository)."""
        self.addons_dir.mkdir()
        target = self.addons_dir / ADDON_NAME
        target.mkdir()
        ref = os.environ.get("FAULTS_ADDON_REF")
        git = ["git", "-C", str(ADDON_DIR)]
        if ref:
            archive = subprocess.run(
                [*git, "archive", "--format=tar", ref], check=True, capture_output=True, timeout=60
            ).stdout
            commit = subprocess.check_output([*git, "rev-parse", "--short", ref], text=True).strip()
            what = f"commit {ref} ({commit})"
        else:
            files = subprocess.run(
                [*git, "ls-files", "-z", "-co", "--exclude-standard"], check=True, capture_output=True, timeout=60
            ).stdout
            archive = subprocess.run(
                ["tar", "-c", "-C", str(ADDON_DIR), "--null", "-T", "-"],
                input=files,
                check=True,
                capture_output=True,
                timeout=60,
            ).stdout
            commit = subprocess.check_output([*git, "rev-parse", "--short", "HEAD"], text=True).strip()
            dirty = subprocess.run(
                [*git, "--no-optional-locks", "status", "--porcelain", "--", ".", ":!tests/faults"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()
            what = f"working tree (HEAD {commit}{', with changes' if dirty else ''})"
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=60)
        say(f"addon: copy of the {what}")

    # -- time ------------------------------------------------------------------------------------------------

    def remaining(self):
        return self.deadline - time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.started

    def check_time(self, what=""):
        if self.remaining() <= 0:
            raise FaultTimeout(f"time limit of {self.timeout:.0f} s reached {what}".strip())

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while True:
            self.check_time()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    def wait_until(self, predicate, timeout, what, interval=0.5, required=True):
        """Poll `predicate` until true; after `timeout` seconds AssertionFailed (or False when not `required`);
        FaultTimeout at the run's deadline."""
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            self.check_time(f"while waiting for {what}")
            if time.monotonic() > end:
                if not required:
                    say(f"{what}: not reached within {timeout:.0f} s; going on")
                    return False
                raise AssertionFailed(f"{what}: not reached within {timeout:.0f} s")
            time.sleep(interval)

    def _on_alarm(self, signum, frame):
        raise FaultTimeout(f"time limit of {self.timeout:.0f} s reached")

    def _on_signal(self, signum, frame):
        raise SystemExit(128 + signum)

    def _watchdog(self):
        while time.monotonic() < self.deadline + 45:
            time.sleep(1)
        if self._cleaned:
            return
        sys.stderr.write(f"faults {self.name}: stuck past the time limit; killing everything\n")
        self.kill_all()
        sys.stdout.write(f"faults {self.name}: TIMEOUT (stuck) FAILED\n")
        sys.stdout.flush()
        os._exit(3)

    # -- processes --------------------------------------------------------------------------------------------

    def popen(self, cmd, log_name, **kwargs):
        """Start `cmd` in a process group of its own, stderr (and stdout unless given) to run folder/log_name."""
        log = open(self.dir / log_name, "ab")  # noqa: SIM115 - closed with the process, by cleanup
        kwargs.setdefault("stdout", log)
        proc = subprocess.Popen(cmd, stderr=log, start_new_session=True, **kwargs)  # noqa: S603
        proc.faults_log = log
        with self._lock:
            self.procs.append(proc)
        return proc

    def kill_group(self, proc, signum=signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    def reap(self, proc, timeout=10):
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group(proc)
            proc.wait(timeout=10)
        proc.faults_log.close()

    def kill_all(self):
        """kill -9 every process group started whose leader is still there (a reaped leader's group may be gone
        and its number reused: never signalled)."""
        with self._lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                self.kill_group(proc)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def on_cleanup(self, func):
        self.cleanups.append(func)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        signal.alarm(0)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a second Ctrl-C must not stop the cleanup
            signal.signal(signum, signal.SIG_IGN)
        self.kill_all()
        for func in reversed(self.cleanups):
            try:
                func()
            except Exception as error:  # noqa: BLE001 - every cleanup runs
                say(f"cleanup: {error}")
        if self.ok and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            say(f"kept the run folder {self.dir} (Odoo logs, SMTP sink log)")

    # -- Odoo -------------------------------------------------------------------------------------------------

    def odoo_cmd(self, *args, command=None):
        """odoo-bin [command] with this run's addons path and data dir, then `args`."""
        addons = f"{ODOO_SRC}/addons,{ODOO_SRC}/odoo/addons,{self.addons_dir}"
        return [
            str(VENV / "bin" / "python"),
            str(ODOO_SRC / "odoo-bin"),
            *([command] if command else []),
            f"--addons-path={addons}",
            f"--data-dir={self.data_dir}",
            *args,
        ]

    def install_db(self, pg, db):
        """A new database with the addon, without demo data."""
        say(f"installing {ADDON_NAME} into database {db}")
        started = time.monotonic()
        self.on_cleanup(lambda: None if self.keep else pg.drop_database(db))
        proc = self.popen(
            self.odoo_cmd(
                "-d",
                db,
                *pg.odoo_args(),
                "-i",
                ADDON_NAME,
                "--without-demo=all",
                "--stop-after-init",
                "--max-cron-threads=0",
                "--log-level=warn",
                "--no-http",
            ),
            "install.log",
        )
        try:
            code = proc.wait(timeout=max(self.remaining(), 1))
        except subprocess.TimeoutExpired as error:
            raise FaultTimeout("installing the database took too long") from error
        proc.faults_log.close()
        if code:
            raise AssertionFailed(f"installing the addon failed (exit {code}): see {self.dir / 'install.log'}")
        say(f"installed in {time.monotonic() - started:.0f} s")

    def shell(self, pg, db, task, args=None, log_name=None, wait=True, timeout=240):
        """Run one task of shell_tasks.py in `odoo-bin shell`; return its result (the FAULTS_RESULT json line),
        or the process when wait is False."""
        env = dict(os.environ, FAULTS_TASK=task, FAULTS_ARGS=json.dumps(args or {}))
        script = open(HERE / "shell_tasks.py", "rb")  # noqa: SIM115 - given to the child, closed below
        proc = self.popen(
            self.odoo_cmd(
                "-d", db, *pg.odoo_args(), "--log-level=warn", "--no-http", "--max-cron-threads=0", command="shell"
            ),
            log_name or f"shell-{task}.log",
            stdin=script,
            stdout=subprocess.PIPE,
            env=env,
        )
        script.close()
        if not wait:
            return proc
        return self.shell_result(proc, task, timeout)

    def shell_result(self, proc, task, timeout=240):
        try:
            out, _err = proc.communicate(timeout=min(timeout, max(self.remaining(), 1)))
        except subprocess.TimeoutExpired as error:
            self.kill_group(proc)
            proc.wait()
            raise AssertionFailed(f"odoo shell task {task} did not end within {timeout} s") from error
        finally:
            proc.faults_log.close()
        result = None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith(RESULT_TAG):
                result = json.loads(line[len(RESULT_TAG) :])
        if proc.returncode or result is None:
            raise AssertionFailed(
                f"odoo shell task {task} failed (exit {proc.returncode}); its log: {proc.faults_log.name}"
            )
        return result


# ----------------------------------------------------------------------------------------------------------------
# A real Odoo server whose cron worker runs the crons (prefork: master + cron worker processes, no HTTP)
# ----------------------------------------------------------------------------------------------------------------


class OdooServer:
    """`odoo-bin --workers=1 --no-http --max-cron-threads=N`: Odoo's prefork master and its cron worker processes,
    which run the crons through ir.cron (job lock, progress, re-runs while `_notify_progress` reports work left).
    The master respawns a cron worker that dies; kill_all kills the whole process group (master too)."""

    def __init__(self, run, pg, db, cron_workers=1, label="server"):
        self.run, self.pg, self.db = run, pg, db
        self.cron_workers = cron_workers
        self.label = label
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = self.run.dir / f"odoo-{self.label}.log"
        self.proc = self.run.popen(
            self.run.odoo_cmd(
                "-d",
                self.db,
                *self.pg.odoo_args(),
                "--no-http",
                "--workers=1",
                f"--max-cron-threads={self.cron_workers}",
                "--log-level=info",
                f"--logfile={log}",
            ),
            f"odoo-{self.label}.stderr",
            stdout=subprocess.DEVNULL,
        )
        return self.proc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def workers(self):
        """The pids of the cron worker processes (the master's children: there are no HTTP workers)."""
        if not self.alive():
            return []
        try:
            return [child.pid for child in psutil.Process(self.proc.pid).children() if child.status() != "zombie"]
        except psutil.NoSuchProcess:
            return []

    def wait_workers(self, timeout=30):
        return self.run.wait_until(
            lambda: len(self.workers()) >= self.cron_workers, timeout, f"{self.label}: cron worker up", 0.1
        )

    def kill_worker(self):
        """kill -9 one cron worker process; the master respawns it. Returns the pid killed, or None."""
        pids = self.workers()
        if not pids:
            return None
        pid = self.run.rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def kill_all(self):
        """kill -9 the master and its workers (the whole process group)."""
        if self.proc is None:
            return
        self.run.kill_group(self.proc)
        self.run.reap(self.proc)

    def stop(self, timeout=30):
        """A clean stop (SIGTERM: running jobs finish), then kill -9 whatever remains."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.run.kill_group(self.proc, signal.SIGTERM)
        self.run.reap(self.proc, timeout=timeout)

    def log_count(self, needle):
        path = self.run.dir / f"odoo-{self.label}.log"
        if not path.exists():
            return 0
        with open(path, errors="replace") as log:
            return sum(needle in line for line in log)


# ----------------------------------------------------------------------------------------------------------------
# The local SMTP server (aiosmtpd) the mail queue sends to
# ----------------------------------------------------------------------------------------------------------------


class SmtpSink:
    """smtp_sink.py in a process of its own: accepts (and records), refuses connections, or answers 451."""

    def __init__(self, run, mode="accept"):
        self.run = run
        self.port = free_port()
        self.mode_file = run.dir / "smtp.mode"
        self.log_file = run.dir / "smtp.jsonl"
        self.mode_file.write_text(mode)
        self.log_file.touch()
        self.proc = run.popen(
            [
                str(VENV / "bin" / "python"),
                str(HERE / "smtp_sink.py"),
                "--port",
                str(self.port),
                "--mode-file",
                str(self.mode_file),
                "--log",
                str(self.log_file),
            ],
            "smtp-sink.stderr",
            stdout=subprocess.PIPE,
        )
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            raise AssertionFailed(f"the SMTP sink did not start: {line!r}")
        self.mode = mode
        say(f"SMTP sink on 127.0.0.1:{self.port}, mode {mode}")

    def set_mode(self, mode):
        self.mode_file.write_text(mode)
        self.mode = mode
        # Wait until the port is listening, or closed, as the mode says.
        self.run.wait_until(lambda: self._listening() == (mode != "refuse"), 15, f"SMTP sink in mode {mode}", 0.1)
        say(f"SMTP sink: mode {mode}")

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.recv(100)  # the banner, so the sink's session ends cleanly
                conn.sendall(b"QUIT\r\n")
            return True
        except OSError:
            return False

    def records(self):
        rows = []
        with open(self.log_file) as log:
            for line in log:
                if line.strip():
                    rows.append(json.loads(line))
        return rows


# ----------------------------------------------------------------------------------------------------------------
# The ticker: fast clock and cron wake-ups
# ----------------------------------------------------------------------------------------------------------------


class Ticker(threading.Thread):
    """Every `interval` seconds, in a thread of the orchestrator:

    * fast clock (when on): enrollments of the sequences under test that wait for a later step (the addon waits at
      least 5 minutes after a send) are made due now, with SQL on the rows no worker holds (FOR NO KEY UPDATE SKIP
      LOCKED: the lock an ORM write takes; a FOR UPDATE lock would make a concurrent insert referencing the row,
      such as the mail queue's "send" event, fail to serialize and Odoo send that email again), so every step runs
      within the fault window instead of 5 minutes later;
    * wake-ups: when due work exists, an ir.cron.trigger for now and the NOTIFY on cron_trigger that Odoo's own
      `_trigger()` sends, so a cron worker started or respawned a moment ago runs the job at once instead of after
      its 60 s sleep. Same for the mail queue cron when it is on and mails are outgoing.

    Database errors (the cluster being restarted) are counted and the connection opened again at the next tick.
    """

    def __init__(self, pg, db, sequence_ids, interval=1.0, fast_clock=True):
        super().__init__(name="faults-ticker", daemon=True)
        self.pg, self.db = pg, db
        self.sequence_ids = list(sequence_ids)
        self.interval = interval
        self.fast_clock = fast_clock
        self.wake_mail = False
        self.stop_event = threading.Event()
        self.conn = self.notify_conn = None
        self.errors = 0
        self.ticks = 0
        self.cron_ids = {}

    def set_sequences(self, sequence_ids):
        self.sequence_ids = list(sequence_ids)

    def stop(self):
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout=15)
        self._close()

    def _close(self):
        for conn in (self.conn, self.notify_conn):
            if conn is not None:
                with contextlib.suppress(psycopg2.Error):
                    conn.close()
        self.conn = self.notify_conn = None

    def run(self):
        while not self.stop_event.wait(self.interval):
            try:
                self.tick()
            except psycopg2.Error:
                self.errors += 1
                self._close()

    def tick(self):
        if self.conn is None:
            self.conn = self.pg.connect(self.db, statement_timeout_ms=5000)
            self.notify_conn = self.pg.connect("postgres", statement_timeout_ms=5000)
            self.cron_ids = cron_ids(self.conn)
        self.ticks += 1
        conn, seq = self.conn, self.sequence_ids
        if self.fast_clock and seq:
            query(
                conn,
                """
                UPDATE sales_sequence_enrollment SET next_run_at = (now() AT TIME ZONE 'UTC') - interval '1 second'
                 WHERE id IN (SELECT id FROM sales_sequence_enrollment
                               WHERE sequence_id = ANY(%s) AND state IN ('active', 'queued')
                                 AND next_run_at > (now() AT TIME ZONE 'UTC')
                                 FOR NO KEY UPDATE SKIP LOCKED)
                """,
                (seq,),
            )
        wake = []
        if seq and scalar(
            conn,
            "SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s) "
            "AND state IN ('active', 'queued') AND next_run_at <= (now() AT TIME ZONE 'UTC')",
            (seq,),
        ):
            wake.extend(self.cron_ids["run"])
        if self.wake_mail and scalar(conn, "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"):
            wake.append(self.cron_ids["mail"])
        for cron_id in wake:
            query(
                conn,
                """
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid, create_date, write_date)
                SELECT %(cron)s, now() AT TIME ZONE 'UTC', 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                 WHERE NOT EXISTS (SELECT 1 FROM ir_cron_trigger
                                    WHERE cron_id = %(cron)s AND call_at <= now() AT TIME ZONE 'UTC')
                """,
                {"cron": cron_id},
            )
        if wake:
            query(self.notify_conn, "SELECT pg_notify('cron_trigger', %s)", (self.db,))


class WorkFeeder:
    """More contacts enrolled in the running sequence while the faults go on, so that each fault finds the cron at
    work whatever this machine's speed (it varies several times over with the load of the other users of its 2
    cores): a wave of `wave` new contacts (shell_tasks.py enroll) whenever fewer than `low` step runs are left to
    do, up to `limit` enrollments in all."""

    def __init__(self, run, pg, db, setup, tag, wave, low, limit):
        self.run, self.pg, self.db = run, pg, db
        self.seq = setup["sequence_id"]
        self.tag = tag
        self.enrolled = setup["enrollments"]
        self.next_index = setup["enrollments"]
        self.wave, self.low, self.limit = wave, low, limit
        self.proc = None
        self.waves = 0

    def busy(self):
        return self.proc is not None

    def feed(self, conn):
        """Collect a finished wave; start the next one when the work runs low. Never waits."""
        self._collect()
        if self.proc is not None:
            return
        left = self.enrolled * self.run.steps - step_runs(conn, self.seq)
        if left < self.low and self.next_index + self.wave <= self.limit:
            args = {"sequence_id": self.seq, "tag": self.tag, "start": self.next_index, "size": self.wave}
            self.next_index += self.wave
            self.proc = self.run.shell(
                self.pg, self.db, "enroll", args, log_name=f"shell-enroll-{self.waves + 1}.log", wait=False
            )

    def _collect(self):
        if self.proc is not None and self.proc.poll() is not None:
            outcome = self.run.shell_result(self.proc, "enroll")
            self.enrolled += outcome["enrollments"]
            self.waves += 1
            self.proc = None

    def finish(self):
        """Wait for the wave under way, if any; start no other."""
        if self.proc is not None:
            self.run.wait_until(lambda: self.proc.poll() is not None, 120, "the last wave enrolled", 0.2)
            self._collect()


def cron_ids(conn):
    """{"run": the ids of every cron running the sequences (the ones whose code calls _cron_run_sequences: the
    addon may have more than one, so that several cron workers share the sends), "mail": the mail queue cron}."""
    run = [
        row[0]
        for row in query(
            conn,
            "SELECT c.id FROM ir_cron c JOIN ir_act_server a ON a.id = c.ir_actions_server_id "
            "WHERE a.state = 'code' AND a.code LIKE %s ORDER BY c.id",
            ("%_cron_run_sequences%",),
        )
    ]
    mail = scalar(
        conn,
        "SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND module = %s AND name = %s",
        tuple(MAIL_CRON_XMLID.split(".")),
    )
    if not run or not mail:
        raise AssertionFailed(f"crons not found: run {run}, mail queue {mail}")
    return {"run": run, "mail": mail}


def _as_ids(cron_ids):
    return [cron_ids] if isinstance(cron_ids, int) else list(cron_ids)


def set_cron(conn, cron_ids, active, now=True):
    """Turn crons (an id or ids) on, due now, or off. Waits for a cron row a worker holds (lock_timeout bounds it)."""
    query(
        conn,
        "UPDATE ir_cron SET active = %s, nextcall = CASE WHEN %s THEN now() AT TIME ZONE 'UTC' ELSE nextcall END "
        "WHERE id = ANY(%s)",
        (active, now, _as_ids(cron_ids)),
    )


def job_running(conn, cron_ids):
    """Whether a cron worker runs one of these jobs now: it holds the job's row (FOR NO KEY UPDATE) while it runs.
    Probed with FOR SHARE SKIP LOCKED in one autocommit statement, so the probe holds nothing afterwards."""
    ids = _as_ids(cron_ids)
    return len(query(conn, "SELECT id FROM ir_cron WHERE id = ANY(%s) FOR SHARE SKIP LOCKED", (ids,))) < len(ids)


# ----------------------------------------------------------------------------------------------------------------
# Instrumentation of the throwaway database: every mail.mail row ever inserted
# ----------------------------------------------------------------------------------------------------------------

MAIL_LOG_SQL = """
CREATE TABLE IF NOT EXISTS faults_mail_mail_log (
    id serial PRIMARY KEY, mail_id integer, mail_message_id integer, at timestamp DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION faults_mail_mail_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faults_mail_mail_log (mail_id, mail_message_id) VALUES (NEW.id, NEW.mail_message_id);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS faults_mail_mail_log ON mail_mail;
CREATE TRIGGER faults_mail_mail_log AFTER INSERT ON mail_mail FOR EACH ROW EXECUTE FUNCTION faults_mail_mail_log();
"""


def install_mail_log(conn):
    """Odoo deletes a sequence email's mail.mail row once sent (auto_delete): a trigger logs every row inserted
    (transactionally: a rolled-back insert leaves no log), so "one mail.mail per email" is counted after sending
    too. Instrumentation of the test database only; the addon is not touched."""
    query(conn, MAIL_LOG_SQL)


# ----------------------------------------------------------------------------------------------------------------
# The final SQL assertions
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Check:
    """Counts of one run's assertions; `problems` lists the first examples of each kind."""

    enrollments: int = 0
    steps: int = 0
    duplicates: int = 0
    misses: int = 0
    left_due: int = 0
    left_blocked: int = 0
    left_open: int = 0
    failed_sends: int = 0
    smtp: int = 0
    by_kind: collections.Counter = field(default_factory=collections.Counter)
    problems: list = field(default_factory=list)
    extra_failures: list = field(default_factory=list)

    def add(self, kind, what, example):
        self.by_kind[f"{kind} {what}"] += 1
        if what == "duplicate":
            self.duplicates += 1
        else:
            self.misses += 1
        if sum(1 for p in self.problems if p.startswith(f"{kind} {what}")) < 5:
            self.problems.append(f"{kind} {what}: {example}")

    def merge(self, other):
        for name in ("enrollments", "duplicates", "misses", "left_due", "left_blocked", "left_open"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_sends += other.failed_sends
        self.smtp += other.smtp
        self.steps = max(self.steps, other.steps)
        self.by_kind.update(other.by_kind)
        self.problems += other.problems
        self.extra_failures += other.extra_failures

    @property
    def ok(self):
        return (
            not (self.duplicates or self.misses or self.left_due or self.left_blocked or self.left_open)
            and not self.extra_failures
        )


def check_before_mail_queue(conn, sequence_id, result):
    """Before the mail queue runs: each successful step run's message has exactly one mail.mail row, outgoing."""
    for eid, step_id, count in query(
        conn,
        """
        SELECT t.enrollment_id, t.step_id, count(m.id)
          FROM sales_sequence_touch t
          JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
     LEFT JOIN mail_mail m ON m.mail_message_id = t.mail_message_id AND m.state = 'outgoing'
         WHERE e.sequence_id = %s AND t.failed IS NOT TRUE
      GROUP BY t.enrollment_id, t.step_id, t.id
        HAVING count(m.id) <> 1
        """,
        (sequence_id,),
    ):
        result.add(
            "mail.mail(outgoing)", "duplicate" if count > 1 else "miss", f"enrollment {eid} step {step_id}: {count}"
        )


def check_sequence(conn, sequence_id, sink_records=None, expect_sent=True):
    """The end state of one sequence's run, in SQL: for every enrollment and every step, exactly one successful
    step run (touch), one email in the enrollment's chatter (plus one per failed attempt, which stays there),
    one mail.mail row ever created for it, one note on the contact once sent, one email at the SMTP server (when given);
    every enrollment finished, none due, blocked, paused or otherwise open."""
    result = Check()
    steps = query(
        conn,
        "SELECT id, name, row_number() OVER (ORDER BY sequence, id) FROM sales_sequence_step "
        "WHERE sequence_id = %s ORDER BY sequence, id",
        (sequence_id,),
    )
    enrollments = query(
        conn,
        "SELECT e.id, e.partner_id, lower(p.email), e.state, e.next_run_at <= (now() AT TIME ZONE 'UTC') "
        "FROM sales_sequence_enrollment e JOIN res_partner p ON p.id = e.partner_id WHERE e.sequence_id = %s",
        (sequence_id,),
    )
    result.enrollments, result.steps = len(enrollments), len(steps)
    smtp = None
    if sink_records is not None:
        smtp = collections.Counter()
        for record in sink_records:
            for rcpt in record["rcpt"]:
                for marker in record["markers"] or ["none"]:
                    smtp[(rcpt.lower(), marker)] += 1
        emails = {row[2] for row in enrollments}
        result.smtp = sum(count for (rcpt, _marker), count in smtp.items() if rcpt in emails)
    for step in steps:
        _check_step(conn, result, step, enrollments, smtp, expect_sent)
    _check_lost_and_unrecorded(conn, result, [row[0] for row in enrollments])
    if sink_records is not None:
        _check_message_ids(conn, result, [row[0] for row in enrollments], sink_records)
    for eid, _pid, _email, state, due in enrollments:
        if state in ("active", "queued") and due:
            result.left_due += 1
        elif state == "blocked":
            result.left_blocked += 1
        elif state != "finished":
            result.left_open += 1
        if state != "finished" and len(result.problems) < 40:
            result.problems.append(f"enrollment {eid} left {state}")
    return result


def _check_step(conn, result, step, enrollments, smtp, expect_sent):
    """One step, every enrollment: step runs, chatter emails, contact notes, mail.mail rows, SMTP receptions."""
    step_id, step_name, position = step
    marker = f"{position:02d}"
    eids = [row[0] for row in enrollments]
    pids = [row[1] for row in enrollments]
    touches = {
        eid: (ok, failed)
        for eid, ok, failed in query(
            conn,
            "SELECT enrollment_id, count(*) FILTER (WHERE failed IS NOT TRUE), count(*) FILTER (WHERE failed) "
            "FROM sales_sequence_touch WHERE step_id = %s GROUP BY enrollment_id",
            (step_id,),
        )
    }
    messages = dict(
        query(
            conn,
            "SELECT res_id, count(*) FROM mail_message WHERE model = 'sales.sequence.enrollment' "
            "AND res_id = ANY(%s) AND message_type = 'comment' AND body LIKE %s GROUP BY res_id",
            (eids, f"%FaultBody{marker}%"),
        )
    )
    notes = dict(
        query(
            conn,
            "SELECT res_id, count(*) FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s) "
            "AND message_type = 'notification' AND body LIKE %s GROUP BY res_id",
            (pids, f"%{step_name}%sent%"),
        )
    )
    mails_created = dict(
        query(
            conn,
            """
            SELECT t.enrollment_id, count(l.id)
              FROM sales_sequence_touch t LEFT JOIN faults_mail_mail_log l ON l.mail_message_id = t.mail_message_id
             WHERE t.step_id = %s AND t.failed IS NOT TRUE GROUP BY t.enrollment_id, t.id
            """,
            (step_id,),
        )
    )
    unsent = {
        eid
        for (eid,) in query(
            conn,
            "SELECT enrollment_id FROM sales_sequence_touch WHERE step_id = %s AND failed IS NOT TRUE "
            "AND sent_at IS NULL",
            (step_id,),
        )
    }
    for eid, pid, email, _state, _due in enrollments:
        ok, failed = touches.get(eid, (0, 0))
        what = f"enrollment {eid} step {step_name}"
        result.failed_sends += failed
        expect_one(result, "touch", ok, 1, what)
        expect_one(result, "message", messages.get(eid, 0), 1 + failed, what)
        # The addon writes the contact's note when the mail server took the email: one per step once sent.
        expected_notes = 1 if expect_sent else 0
        expect_one(result, "contact note", notes.get(pid, 0), expected_notes, f"partner {pid} step {step_name}")
        expect_one(result, "mail.mail", mails_created.get(eid, 0), 1 if ok else 0, what)
        if expect_sent and eid in unsent:
            result.add("sent_at", "miss", f"{what}: the mail queue never sent it")
        if smtp is not None:
            expect_one(result, "smtp", smtp.get((email, marker), 0), 1, f"{email} step {step_name}")


def _check_lost_and_unrecorded(conn, result, eids):
    # An email the queue gave up on (exception) while its step run still counts as sent: lost without a pause.
    for eid, step_id, reason in query(
        conn,
        """
        SELECT t.enrollment_id, t.step_id, left(m.failure_reason, 80)
          FROM sales_sequence_touch t JOIN mail_mail m ON m.mail_message_id = t.mail_message_id
         WHERE t.enrollment_id = ANY(%s) AND t.failed IS NOT TRUE AND m.state IN ('exception', 'cancel')
        """,
        (eids,),
    ):
        result.add(
            "email given up by the queue, step counted as sent", "miss", f"enrollment {eid} step {step_id}: {reason!r}"
        )
    # Emails posted on the enrollments that no step run points to: an email nobody recorded as sent.
    for eid, count in query(
        conn,
        """
        SELECT m.res_id, count(*) FROM mail_message m
         WHERE m.model = 'sales.sequence.enrollment' AND m.res_id = ANY(%s) AND m.message_type = 'comment'
           AND NOT EXISTS (SELECT 1 FROM sales_sequence_touch t WHERE t.mail_message_id = m.id)
      GROUP BY m.res_id
        """,
        (eids,),
    ):
        result.add("message", "duplicate", f"enrollment {eid}: {count} email(s) without a step run")


def check_send_records(conn, sequence_id, result, sink_records):
    """For every email of the sequence the mail queue marked sent (its notification `sent`): `sent_at` set and
    exactly one send event; no send left unrecorded (`record_pending`); each successful run's email received at
    least once by the SMTP server. Returns how many emails the server received more than once (a worker killed
    between the server's reply and its commit sends again: Odoo's mail queue is at-least-once)."""
    rows = query(
        conn,
        """
        SELECT t.id, t.enrollment_id, t.failed, t.sent_at IS NOT NULL, t.record_pending IS TRUE, t.message_id,
               EXISTS (SELECT 1 FROM mail_notification n WHERE n.mail_message_id = t.mail_message_id
                          AND n.notification_type = 'email' AND n.notification_status = 'sent'),
               (SELECT count(*) FROM sales_sequence_event ev WHERE ev.touch_id = t.id AND ev.event_type = 'send')
          FROM sales_sequence_touch t JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
         WHERE e.sequence_id = %s
        """,
        (sequence_id,),
    )
    received = collections.Counter(record["message_id"] for record in sink_records)
    resent = 0
    for touch_id, eid, failed, sent, pending, message_id, marked_sent, events in rows:
        what = f"enrollment {eid} step run {touch_id}"
        if pending:
            result.add("send recorded", "miss", f"{what}: sent, never recorded")
        if marked_sent and not sent:
            result.add("sent_at", "miss", f"{what}: the queue marked it sent")
        if marked_sent or sent:
            expect_one(result, "send event", events, 1, what)
        if not failed:
            if not received.get(message_id):
                result.add("smtp", "miss", f"{what}: {message_id} never received")
            resent += max(received.get(message_id, 0) - 1, 0)
    return resent


def _check_message_ids(conn, result, eids, sink_records):
    """By Message-Id: each successful run's email reached the SMTP server once, a failed run's never."""
    by_message_id = collections.Counter(record["message_id"] for record in sink_records)
    for eid, message_id, failed in query(
        conn,
        "SELECT enrollment_id, message_id, failed FROM sales_sequence_touch WHERE enrollment_id = ANY(%s)",
        (eids,),
    ):
        want = 0 if failed else 1
        expect_one(result, "smtp(Message-Id)", by_message_id.get(message_id, 0), want, f"enrollment {eid} {message_id}")


def expect_one(result, kind, got, want, example):
    if got > want:
        result.add(kind, "duplicate", f"{example}: {got} (want {want})")
    elif got < want:
        result.add(kind, "miss", f"{example}: {got} (want {want})")


def open_enrollments(conn, sequence_id):
    """Enrollments of the sequence with a step still to run (active or queued)."""
    return scalar(
        conn,
        "SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = %s AND state IN ('active', 'queued')",
        (sequence_id,),
    )


def settle_and_check(run, db_conn, seq, crons, ticker, server, sink, smtp_check, precheck=True):
    """After the faults: the real cron drains the due work without faults; each email's outgoing mail.mail row is
    checked (`precheck`); with `smtp_check` the mail queue cron then sends everything to the SMTP sink; last, the
    SQL assertions. `db_conn()` returns a live connection to the database."""
    run.wait_until(lambda: not open_enrollments(db_conn(), seq), max(run.remaining() - 60, 10), "all steps run", 1)
    run.wait_until(lambda: not job_running(db_conn(), crons["run"]), 60, "the cron job ended", 0.2)
    result = Check()
    if precheck:
        check_before_mail_queue(db_conn(), seq, result)
    say(f"states {state_counts(db_conn(), [seq])}")
    if smtp_check:
        say("the mail queue sends to the SMTP sink")
        ticker.wake_mail = True
        set_cron(db_conn(), crons["mail"], True)
        run.wait_until(
            lambda: not scalar(db_conn(), "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"),
            max(run.remaining() - 20, 10),
            "the mail queue empty",
            1,
        )
    ticker.stop()
    server.stop()
    check = check_sequence(db_conn(), seq, sink.records() if smtp_check else None, expect_sent=smtp_check)
    check.merge(result)
    return check


def step_runs(conn, sequence_id):
    """Successful step runs so far: the progress of a run."""
    return scalar(
        conn,
        "SELECT count(*) FROM sales_sequence_touch t JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id "
        "WHERE e.sequence_id = %s AND t.failed IS NOT TRUE",
        (sequence_id,),
    )


def step_runs_due(conn, sequence_id):
    """The step runs the sequence's enrollments so far make: enrollments times steps."""
    return scalar(
        conn,
        "SELECT (SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = %(seq)s) "
        "* (SELECT count(*) FROM sales_sequence_step WHERE sequence_id = %(seq)s)",
        {"seq": sequence_id},
    )


def state_counts(conn, sequence_ids):
    return dict(
        query(
            conn,
            "SELECT state, count(*) FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s) GROUP BY state",
            (list(sequence_ids),),
        )
    )


def report(name, result, fields_before, fields_after=()):
    """The summary line on stdout (details on stderr); returns the exit code."""
    for problem in result.problems[:40]:
        say(f"  problem: {problem}")
    for failure in result.extra_failures:
        say(f"  failure: {failure}")
    if result.by_kind:
        say("  by kind: " + ", ".join(f"{kind}={count}" for kind, count in sorted(result.by_kind.items())))
    parts = [f"{key}={value}" for key, value in fields_before]
    parts += [
        f"enrollments={result.enrollments}",
        f"steps={result.steps}",
        f"duplicates={result.duplicates}",
        f"misses={result.misses}",
        f"left_due={result.left_due}",
        f"left_blocked={result.left_blocked}",
    ]
    if result.left_open:
        parts.append(f"left_open={result.left_open}")
    parts += [f"{key}={value}" for key, value in fields_after]
    parts.append("OK" if result.ok else "FAILED")
    sys.stdout.write(f"faults {name}: {' '.join(parts)}\n")
    sys.stdout.flush()
    return 0 if result.ok else 1


def main(name, scenario, default_size=400):
    """Run `scenario(run) -> (check, fields_before, fields_after)` with cleanup, time limit and the summary line
    (also when the run ends early: time limit, a precondition that failed, a signal, an error of the script)."""
    run = Run(name, default_size)
    code = 2
    try:
        result, before, after = scenario(run)
        code = report(name, result, before, after)
        run.ok = code == 0
    except (FaultTimeout, AssertionFailed) as error:
        say(f"{name}: {error}")
        sys.stdout.write(f"faults {name}: {type(error).__name__}: {error} FAILED\n")
        code = 3 if isinstance(error, FaultTimeout) else 2
    except (SystemExit, KeyboardInterrupt) as error:
        sys.stdout.write(f"faults {name}: interrupted ({type(error).__name__} {error}) FAILED\n")
        code = 130
    except Exception as error:  # noqa: BLE001 - a fault of the script itself: still clean up and summarize
        traceback.print_exc()
        sys.stdout.write(f"faults {name}: script error {type(error).__name__}: {error} FAILED\n")
        code = 4
    finally:
        sys.stdout.flush()
        run.cleanup()
        say(f"{name}: {run.elapsed():.0f} s")
    return code
