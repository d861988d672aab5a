"""The run: its folder, its processes, its time limit, its cleanup; and `main`, which runs a scenario in one and
prints its summary line."""

import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from .base import (
    ADDON_DIR,
    ADDON_NAME,
    DB_PREFIX,
    FAULTS_DIR,
    ODOO_SRC,
    RESULT_TAG,
    VENV,
    AssertionFailed,
    FaultTimeout,
    env_float,
    env_int,
    say,
)


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

    def install_db(self, pg, db, modules=ADDON_NAME):
        """A new database with the addon (and the other `modules` named, comma-separated), without demo data."""
        say(f"installing {modules} into database {db}")
        started = time.monotonic()
        self.on_cleanup(lambda: None if self.keep else pg.drop_database(db))
        proc = self.popen(
            self.odoo_cmd(
                "-d",
                db,
                *pg.odoo_args(),
                "-i",
                modules,
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
        script = open(FAULTS_DIR / "shell_tasks.py", "rb")  # noqa: SIM115 - given to the child, closed below
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
