"""Benchmark (d): 1, 2 and 4 real worker processes draining the same due set, and what the workers wait on.

For each worker count k in BENCH_WORKERS_COUNTS ("1 2 4"), on a fresh due set of BENCH_WORKERS_DUE (4,000)
enrollments (one one-step email sequence, 24/7 calendar, no daily limit, same contacts and email as bench (a)):
* k separate OS processes are started, each an `odoo-bin shell` on the same database (the command line this shell was
  started with) running WORKER_CODE: it loads the registry, says READY, waits for a go file, then loops
  `env['sales.sequence.enrollment']._cron_run_sequences()` + `env.cr.commit()` until a call handles nothing (as
  Odoo's cron runner calls a job again while it reports progress). A serialization failure or deadlock is rolled
  back and retried (counted, with its error: Odoo's cron runner would fail that call and run the job again later).
  Once all k are READY the go file is created; the wall time runs from then to the last worker's end.
* while the workers run, a separate psycopg2 connection samples pg_stat_activity every 100 ms (state, wait_event_type,
  wait_event, query) for the workers' own backends, and the workers' and their backends' CPU time is read from
  /proc/<pid>/stat, to tell "waiting on each other" (Lock, LWLock, IO waits) from "waiting on the CPU" (the machine
  has 2 cores: k workers plus their k PostgreSQL backends share them; 4 workers cannot beat 2).
  In the histogram: `CPU (postgres)` = state active with no wait event (the backend computes), `Client:ClientRead`
  with state `idle in transaction` = the backend waits for its Python worker (Python computes, or waits for CPU),
  `Lock:*` = a row or transaction lock held by another worker, `IO:WALSync`/`LWLock:WALWrite` = commit flushes.
* afterwards: every enrollment must have exactly one step run (count of sales_sequence_touch per enrollment = 1) and
  be finished; then everything is deleted.

Then the same for 1 and 2 workers (BENCH_WORKERS_LIMIT_COUNTS) with the sequence's daily_limit set to 1,000,000
(never reached, nothing queued; the addon's default is 100): the send path then takes the sending mailbox's advisory
lock (`_split_by_daily_limit`, pg_advisory_xact_lock, held until the chunk commits), and the histogram shows
what that does to two workers sending from one mailbox.

Goal: 2 workers at least 1.3x one worker's emails/s (without the daily limit, as in the issue). Printed: wall time,
emails/s and speed-up per k, retries, CPU use (ours, and the whole machine's), and for k > 1 the wait-event
histogram and the queries seen waiting on a lock.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

sys.path.insert(0, os.environ.get("BENCH_DIR") or os.path.join(os.getcwd(), "bench"))

import benchlib as B  # noqa: E402
import psycopg2  # noqa: E402

from odoo.tools import config  # noqa: E402

COUNTS = B.sizes("BENCH_WORKERS_COUNTS", "1 2 4")
# Also 1 and 2 workers on a sequence with a daily limit that is never reached (BENCH_WORKERS_LIMIT_COUNTS="": off).
LIMIT_COUNTS = B.sizes("BENCH_WORKERS_LIMIT_COUNTS", "1 2")
LIMIT = 1000000
DUE = int(os.environ.get("BENCH_WORKERS_DUE", "4000"))
SAMPLE_EVERY = 0.1
TIMEOUT = int(os.environ.get("BENCH_WORKERS_TIMEOUT", "900"))
CLK_TCK = os.sysconf("SC_CLK_TCK")

WORKER_CODE = r"""
import json, os, sys, time
import psycopg2.errors
Enrollment = env["sales.sequence.enrollment"]
env.cr.execute("SELECT pg_backend_pid()")
backend = env.cr.fetchone()[0]
env.cr.rollback()
sys.stdout.write("READY %s %s\n" % (os.getpid(), backend))
sys.stdout.flush()
go = os.environ["BENCH_GO_FILE"]
while not os.path.exists(go):
    time.sleep(0.002)
began = time.time()
handled = calls = retries = 0
errors = {}
queries = env.cr.sql_log_count
while True:
    try:
        done = Enrollment._cron_run_sequences()
        env.cr.commit()
    except (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected) as error:
        env.cr.rollback()
        env.invalidate_all()
        retries += 1
        key = "%s: %s" % (type(error).__name__, str(error).splitlines()[0])
        errors[key] = errors.get(key, 0) + 1
        continue
    calls += 1
    if not done:
        break
    handled += done
ended = time.time()
sys.stdout.write("RESULT " + json.dumps({"began": began, "ended": ended, "handled": handled, "calls": calls,
                                          "retries": retries, "errors": errors,
                                          "queries": env.cr.sql_log_count - queries}) + "\n")
sys.stdout.flush()
"""


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields_ = stat.read().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def machine_jiffies():
    """(busy, total) CPU jiffies of the whole machine, all cores (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def connect():
    """A connection of our own (autocommit) to sample pg_stat_activity, as Odoo would connect."""
    params = {"dbname": "postgres"}
    for key, option in (("host", "db_host"), ("port", "db_port"), ("user", "db_user"), ("password", "db_password")):
        if config.get(option):
            params[key] = config[option]
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


class Sampler(threading.Thread):
    """Every 100 ms: the backends' rows of pg_stat_activity, and the CPU time so far of the given processes (the
    last value read before a process exits is its total)."""

    def __init__(self, backends, processes):
        super().__init__(daemon=True)
        self.backends = list(backends)
        self.samples = []
        self.cpu_first = {pid: cpu_seconds(pid) for pid in processes}
        self.cpu_last = dict(self.cpu_first)
        self.stop = threading.Event()
        self.machine_first = machine_jiffies()
        self.machine_last = self.machine_first

    def machine_busy_cores(self):
        """Cores the whole machine kept busy (ours and everyone else's) while sampling."""
        busy = self.machine_last[0] - self.machine_first[0]
        total = self.machine_last[1] - self.machine_first[1]
        return busy / total * os.cpu_count() if total else 0.0

    def cpu_used(self, pids):
        return sum((self.cpu_last[pid] or 0) - (self.cpu_first[pid] or 0) for pid in pids)

    def run(self):
        connection = connect()
        with connection.cursor() as cr:
            while not self.stop.is_set():
                for pid in self.cpu_last:
                    seconds = cpu_seconds(pid)
                    if seconds is not None:
                        self.cpu_last[pid] = seconds
                cr.execute(
                    "SELECT pid, state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                    "FROM pg_stat_activity WHERE pid = ANY(%s)",
                    [self.backends],
                )
                now = time.time()
                self.samples.extend((now, *row) for row in cr.fetchall())
                self.machine_last = machine_jiffies()
                self.stop.wait(SAMPLE_EVERY)
        connection.close()


def label(state, wait_type, wait_event):
    if state == "active" and not wait_type:
        return "CPU (postgres)"
    return f"{wait_type or '-'}:{wait_event or '-'} ({state})"


def start_workers(count, go_file, log_dir, workers):
    command = [sys.executable, *sys.argv]
    environment = dict(os.environ, BENCH_GO_FILE=go_file)
    for index in range(count):
        stderr = open(os.path.join(log_dir, f"worker{count}-{index}.log"), "w+", encoding="utf-8")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603 - our own odoo-bin command line
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=environment,
            text=True,
        )
        process.stdin.write(WORKER_CODE)
        process.stdin.close()
        process.stdin = None  # communicate() must not flush it again
        workers.append((process, stderr))
    ready = []
    for process, stderr in workers:
        line = process.stdout.readline()
        if not line.startswith("READY"):
            stderr.seek(0)
            raise RuntimeError(f"worker did not start: {line!r}\n{stderr.read()[-3000:]}")
        _word, pid, backend = line.split()
        ready.append((int(pid), int(backend)))
    return workers, ready


def run(env, count, partners, calendar, log_dir, daily_limit=0):
    sequence = B.make_sequence(env, f"Workers bench {count} {time.time()}", calendar, daily_limit=daily_limit)
    enrollments = B.enroll_due(env, sequence, partners)
    go_file = os.path.join(log_dir, f"go{count}-{daily_limit}")
    workers = []
    try:
        return drain_with(env, count, sequence, enrollments, partners, go_file, log_dir, workers)
    finally:
        for process, _stderr in workers:  # only after a failure: a worker still waiting or running is stopped
            if process.poll() is None:
                process.kill()
                process.wait()


def drain_with(env, count, sequence, enrollments, partners, go_file, log_dir, workers):
    _started, ready = start_workers(count, go_file, log_dir, workers)
    pids = [pid for pid, _backend in ready]
    backends = [backend for _pid, backend in ready]
    sampler = Sampler(backends, pids + backends)
    sampler.start()
    began = time.time()
    with open(go_file, "w", encoding="ascii"):
        pass
    results = []
    for (process, stderr), pid in zip(workers, pids, strict=True):
        try:
            out, _err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            stderr.seek(0)
            log = stderr.read()
            stderr.close()
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if process.returncode or not lines:
            raise RuntimeError(f"worker {pid} failed (exit {process.returncode}):\n{out[-2000:]}\n{log[-3000:]}")
        results.append(json.loads(lines[0][len("RESULT ") :]))
    sampler.stop.set()
    sampler.join()
    wall = max(result["ended"] for result in results) - began
    # Only the samples taken while a worker was draining count (not its wait for the go, nor its exit).
    window = {backend: (r["began"], r["ended"]) for backend, r in zip(backends, results, strict=True)}
    samples = [row[1:] for row in sampler.samples if window[row[1]][0] <= row[0] <= window[row[1]][1]]
    handled = sum(result["handled"] for result in results)
    retries = sum(result["retries"] for result in results)
    errors = Counter()
    for result in results:
        errors.update(result["errors"])
    queries = sum(result["queries"] for result in results)
    env.invalidate_all()
    env.cr.execute(
        "SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM (SELECT e.id, count(t.id) AS n "
        "FROM sales_sequence_enrollment e LEFT JOIN sales_sequence_touch t ON t.enrollment_id = e.id "
        "WHERE e.sequence_id = %s GROUP BY e.id) AS per_enrollment",
        [sequence.id],
    )
    once, not_once = env.cr.fetchone()
    env.cr.execute(
        "SELECT state, count(*) FROM sales_sequence_enrollment WHERE sequence_id = %s GROUP BY state", [sequence.id]
    )
    states = dict(env.cr.fetchall())
    B.delete_sequence(env, sequence, partners.ids)
    return {
        "count": count,
        "wall": wall,
        "handled": handled,
        "retries": retries,
        "errors": dict(errors),
        "queries": queries,
        "once": once,
        "not_once": not_once,
        "states": states,
        "samples": samples,
        "per_worker": [(r["handled"], round(r["ended"] - r["began"], 2)) for r in results],
        "enrollments": len(enrollments),
        "cpu_python": sampler.cpu_used(pids),
        "cpu_postgres": sampler.cpu_used(backends),
        "machine_cores": sampler.machine_busy_cores(),
    }


def histogram(samples):
    counter = Counter(label(state, wait_type, wait_event) for _pid, state, wait_type, wait_event, _q in samples)
    total = sum(counter.values()) or 1
    return [(name, n, n / total) for name, n in counter.most_common()]


def lock_queries(samples):
    counter = Counter(query for _pid, _state, wait_type, _event, query in samples if wait_type in ("Lock", "LWLock"))
    return counter.most_common(5)


def report(outcome, label_, base_rate):
    rate = outcome["handled"] / outcome["wall"]
    count = outcome["count"]
    B.say(
        f"bench workers{label_}: {count} worker(s), {outcome['enrollments']} due: drained in {outcome['wall']:.2f} s = "
        f"{rate:.1f} emails/s ({rate / (base_rate or rate):.2f}x 1 worker); per worker (handled, s) "
        f"{outcome['per_worker']}; {outcome['retries']} retries {outcome['errors'] or ''}; "
        f"{outcome['queries'] / max(outcome['handled'], 1):.2f} queries/email; step runs: "
        f"{outcome['once']} enrollments exactly once, {outcome['not_once']} not; states {outcome['states']}"
    )
    python, postgres, wall = outcome["cpu_python"], outcome["cpu_postgres"], outcome["wall"]
    B.say(
        f"bench workers{label_}: {count} worker(s) CPU: Python {python:.1f} s + PostgreSQL backends "
        f"{postgres:.1f} s over {wall:.1f} s = {(python + postgres) / wall:.2f} cores busy (Python "
        f"{python / wall:.2f}, PostgreSQL {postgres / wall:.2f}); the machine ({os.cpu_count()} cores) was "
        f"{outcome['machine_cores']:.2f} cores busy in all, ours and other processes'; CPU per email "
        f"{(python + postgres) / max(outcome['handled'], 1) * 1000:.2f} ms"
    )
    if count > 1:
        B.say(
            f"bench workers{label_}: wait events of the {count} workers' backends while they drained "
            f"({len(outcome['samples'])} samples, every {SAMPLE_EVERY * 1000:.0f} ms):"
        )
        for name, n, share in histogram(outcome["samples"]):
            B.say(f"  | {share:6.1%} {n:5d}  {name}")
        for query, n in lock_queries(outcome["samples"]):
            B.say(f"  | waiting on a lock x{n}: {query}")
    assert outcome["not_once"] == 0 and outcome["once"] == DUE, "an enrollment did not get step 1 exactly once"
    return rate


def main(env):
    tag = f"wk{int(time.time())}"
    partners = B.insert_partners(env, DUE, tag)
    calendar = B.make_calendar(env)
    env.cr.commit()
    rates, limited = {}, {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench_workers_") as log_dir:
            for count in COUNTS:
                outcome = run(env, count, partners, calendar, log_dir)
                rates[count] = report(outcome, "", rates.get(1))
                B.result(f"d. {count} worker(s) drain rate", DUE, rates[count], "emails/s")
                B.result(
                    f"d. {count} worker(s): step 1 exactly once",
                    DUE,
                    outcome["once"],
                    "enrollments",
                    f"= {DUE}",
                    outcome["once"] == DUE,
                )
            # The same with a daily limit that is never reached: every chunk then takes its mailbox's advisory lock.
            for count in LIMIT_COUNTS:
                outcome = run(env, count, partners, calendar, log_dir, daily_limit=LIMIT)
                limited[count] = report(outcome, f" (daily_limit {LIMIT})", limited.get(1))
                B.result(f"d. {count} worker(s), daily limit on", DUE, limited[count], "emails/s")
    finally:
        env.cr.rollback()
        env.invalidate_all()
        leftover = env["sales.sequence"].with_context(active_test=False).search([("calendar_id", "=", calendar.id)])
        if leftover:  # only after a failure
            B.delete_sequence(env, leftover, partners.ids)
        B.delete_partners(env, partners)
        calendar.unlink()
        env.cr.commit()
    if 1 in rates and 2 in rates:
        speedup = rates[2] / rates[1]
        B.result("d. 2 workers / 1 worker", DUE, speedup, "x", ">= 1.3", speedup >= 1.3)
    if 1 in rates and 4 in rates:
        B.result("d. 4 workers / 1 worker", DUE, rates[4] / rates[1], "x")
    if 1 in limited and 2 in limited:
        B.result("d. 2 workers / 1, daily limit on", DUE, limited[2] / limited[1], "x")


# `env` is defined by odoo-bin shell, which runs this file.
main(env)  # noqa: F821  # pylint: disable=undefined-variable
