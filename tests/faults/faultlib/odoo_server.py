"""A real Odoo server whose cron workers run the crons (prefork: master and cron worker processes, no HTTP)."""

import os
import signal
import subprocess

import psutil


class OdooServer:
    """`odoo-bin --workers=1 --no-http --max-cron-threads=N`: Odoo's prefork master and its cron worker processes,
    which run the crons through ir.cron (job lock, progress, re-runs while `_notify_progress` reports work left).
    The master respawns a cron worker that dies; kill_all kills the whole process group (master too)."""

    def __init__(self, run, pg, db, cron_workers=1, label="server", http_port=None, http_args=(), env=None):
        """`http_port`: HTTP on that port with `http_workers` HTTP worker processes, `http_args` (e.g.
        --load=base,web,queue_job) and the extra environment `env`, instead of --no-http --workers=1."""
        self.run, self.pg, self.db = run, pg, db
        self.cron_workers = cron_workers
        self.label = label
        self.http_port = http_port
        self.http_args = tuple(http_args)
        self.http_workers = 1
        self.env = env
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = self.run.dir / f"odoo-{self.label}.log"
        if self.http_port:
            http = (
                f"--http-port={self.http_port}",
                "--http-interface=127.0.0.1",
                f"--workers={self.http_workers}",
                *self.http_args,
            )
        else:
            http = ("--no-http", "--workers=1")
        self.proc = self.run.popen(
            self.run.odoo_cmd(
                "-d",
                self.db,
                *self.pg.odoo_args(),
                *http,
                f"--max-cron-threads={self.cron_workers}",
                "--log-level=info",
                f"--logfile={log}",
            ),
            f"odoo-{self.label}.stderr",
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, **self.env) if self.env else None,
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
