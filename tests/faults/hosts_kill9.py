#!/usr/bin/env python3
"""Fault (f): two Odoo hosts on one database: throughput of 1 vs 2 server processes, and kill -9 of either host
(or of one of its cron workers) at random moments; every step still goes exactly once.

What it proves: the parallelism of the sends holds across separate Odoo server processes sharing one PostgreSQL,
as it would across hosts (Settings > Parallel senders: that many run cron jobs, each run by one cron worker at a
time on whichever host is free; the due enrollments shared chunk by chunk with FOR NO KEY UPDATE SKIP LOCKED), and
that a host dying at any moment loses nothing and repeats nothing.

How:
  * a database of its own (sales_sequence_faults_hosts_kill9_<pid>), one-step sequences on a send calendar open
    24/7 (shell_tasks.py setup), the mail queue off (what is measured and killed is the run jobs; each email's one
    outgoing mail.mail row is what they must leave);
  * two separate `odoo-bin` servers, "host1" and "host2" (`--workers=1 --no-http --max-cron-threads=1` each: the
    prefork master and one cron worker process; separate processes with their own data dir log, like two hosts);
  * throughput: host1 alone started and warmed (a first sequence of FAULTS_WARM_UP (300) contacts: a cron
    worker loads the registry at its first job), then FAULTS_ENROLLMENTS (4000) contacts enrolled with the run
    jobs off and the run jobs switched on: the time until every step ran gives emails queued per second; again
    with both hosts started and warmed alike (Parallel senders: 2, the default). The ratio is printed; on this
    2-core machine, which also runs PostgreSQL and other work, expect well below 2x;
  * kill -9: Parallel senders set to 3 (Settings, as an administrator: a third run job is made), both hosts
    started again with 2 cron workers each; a third sequence whose contacts keep arriving in waves
    (faultlib.WorkFeeder) while FAULTS_KILLS (10) kills land: each waits until a run job runs, sleeps a random
    0.2..2 s, then kill -9 a cron worker of a random host (2 times in 3; its master respawns it) or the whole
    host, master included (1 in 3; started again). Then both hosts drain the rest without faults.

Assertions (SQL, faultlib.check_sequence) on all three sequences: per enrollment and step exactly one successful
step run, one email in the enrollment's chatter and none without a step run, one mail.mail row, one note on the
contact; every enrollment finished, none left due, blocked or paused.

Run: tests/faults/hosts_kill9.py (or tools/run-faults hosts_kill9; tools/run-bench with BENCH_ONLY=hosts runs it
for its figures). Env: FAULTS_ENROLLMENTS (4000), FAULTS_WARM_UP (300), FAULTS_KILLS (10), FAULTS_WAVE (600),
FAULTS_MAX_ENROLLMENTS (3000: the kill phase's), FAULTS_SEED, FAULTS_TIMEOUT (600 s; 900 with queue_job),
FAULTS_ADDON_REF, FAULTS_KEEP, FAULTS_QUEUE_JOB=1 (below).

FAULTS_QUEUE_JOB=1: the same with the OCA queue_job (installed in the virtualenv: pip install --no-deps
"odoo-addon-queue-job>=18.0,<18.1"), installed in the database and chosen in Settings (Run with queue_job). Each
host then serves HTTP on a port of its own (`--workers=1`, 2 in the kill phase, `--load=base,web,queue_job`: the
jobs run in its HTTP workers) and runs queue_job's runner; the runner elected for the database sends every job to
a round-robin TCP balancer in front of both hosts (RoundRobinProxy, as a deployment would put one in front of its
hosts), so that the jobs run on both. Kills then hit any worker of a host: HTTP workers running jobs, the cron
worker, the runner.
Prints: faults hosts_kill9: rate_1=.. rate_2=.. ratio=.. kills=10 enrollments=.. duplicates=0 misses=0 ... OK
"""

import asyncio
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Two measured rounds before the kills; with queue_job, slower to install and to run (900 s).
os.environ.setdefault("FAULTS_TIMEOUT", "900" if os.environ.get("FAULTS_QUEUE_JOB") == "1" else "600")
os.environ.setdefault("FAULTS_STEPS", "1")
import faultlib as F  # noqa: E402


class Hosts:
    """The Odoo servers as one, for faultlib.settle_and_check (it stops "the server" before the SQL checks)."""

    def __init__(self, servers):
        self.servers = servers

    def stop(self):
        for server in self.servers:
            server.stop()

    def log_count(self, needle):
        return sum(server.log_count(needle) for server in self.servers)


class RoundRobinProxy(threading.Thread):
    """A TCP load balancer on 127.0.0.1 in front of the hosts' HTTP ports (what a deployment puts in front of its
    Odoo hosts): queue_job's runner (one per database, elected among the hosts) sends each job to it, and each
    connection goes to the next host that answers."""

    def __init__(self, ports):
        super().__init__(name="faults-proxy", daemon=True)
        self.ports = list(ports)
        self.port = F.free_port()
        self.turn = 0
        self.ready = threading.Event()
        self.loop = None

    def run(self):
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.ready.set()
        async with server:
            await server.serve_forever()

    async def _handle(self, reader, writer):
        upstream = None
        for _attempt in range(len(self.ports)):
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            with contextlib.suppress(OSError):
                upstream = await asyncio.open_connection("127.0.0.1", port)
                break
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(source, sink):
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def active_run_crons(conn):
    return [
        row[0]
        for row in F.query(
            conn,
            "SELECT c.id FROM ir_cron c JOIN ir_act_server a ON a.id = c.ir_actions_server_id "
            "WHERE c.active AND a.state = 'code' AND a.code LIKE %s ORDER BY c.id",
            ("%_cron_run_sequences%",),
        )
    ]


def drain(run, conn, ticker, crons, seq, size, what):
    """Switch the run jobs on and wait until the `size` steps of `seq` ran; the seconds it took."""
    ticker.set_sequences([seq])
    started = time.monotonic()
    F.set_cron(conn, crons, True)
    run.wait_until(lambda: F.step_runs(conn, seq) >= size, max(run.remaining() - 120, 30), what, 0.1)
    return time.monotonic() - started


def measure(run, conn, pg, db, ticker, servers, crons, tag, size, warm_up):
    """Start `servers` and warm them (their cron workers load the registry at their first job: a sequence of
    `warm_up` contacts, enough for every run job), then enroll `size` contacts with the run jobs off and switch
    them on: emails queued per second until every step ran."""
    for server in servers:
        if not server.alive():
            server.start()
    for server in servers:
        server.wait_workers(timeout=90)
    sequences = []
    for name, count in ((f"{tag}w", warm_up), (tag, size)):
        F.set_cron(conn, crons, False)
        run.wait_until(lambda: not F.job_running(conn, crons), 60, "the run jobs stopped", 0.2)
        setup = run.shell(pg, db, "setup", {"tag": name, "size": count, "steps": 1}, log_name=f"shell-{name}.log")
        sequences.append(setup["sequence_id"])
        seconds = drain(run, conn, ticker, crons, setup["sequence_id"], count, f"{name}: all sent")
    rate = size / seconds
    F.say(f"{tag}: {size} emails queued by {len(servers)} server process(es) in {seconds:.1f} s: {rate:.1f}/s")
    return sequences, rate


def make_hosts(run, pg, db, queue_job):
    """Two Odoo servers on the database. With queue_job each serves HTTP (the jobs run in its HTTP workers) and
    runs queue_job's runner; the elected runner sends the jobs to a load balancer in front of both."""
    if not queue_job:
        return (F.OdooServer(run, pg, db, cron_workers=1, label=f"host{n}") for n in (1, 2))
    ports = [F.free_port(), F.free_port()]
    proxy = RoundRobinProxy(ports)
    proxy.start()
    proxy.ready.wait(10)
    runner_env = {
        "ODOO_QUEUE_JOB_HOST": "127.0.0.1",
        "ODOO_QUEUE_JOB_PORT": str(proxy.port),
        "ODOO_QUEUE_JOB_MAX_CAPACITY": "8",
    }
    http_args = ("--load=base,web,queue_job", "--limit-time-real=600", "--limit-time-cpu=600")
    run.shell(pg, db, "settings", {"values": {"sales_sequence_use_queue_job": True}})
    return (
        F.OdooServer(run, pg, db, cron_workers=1, label=f"host{n}", http_port=port, http_args=http_args, env=runner_env)
        for n, port in ((1, ports[0]), (2, ports[1]))
    )


def queue_job_states(conn):
    return dict(
        F.query(conn, "SELECT state, count(*) FROM queue_job WHERE method_name = '_job_run_due_chunk' GROUP BY state")
    )


def sending(conn, run_crons, queue_job, hosts):
    """A probe: a run job runs, or (queue_job) a worker of a host is inside a transaction (running a job: a job
    left 'started' by a kill looks the same in queue_job's table until its runner requeues it, so the table can
    not tell). Odoo names its connections odoo-<pid>."""

    def probe():
        if F.job_running(conn, run_crons):
            return True
        if not queue_job:
            return False
        names = [f"odoo-{pid}" for server in hosts for pid in server.workers()]
        return bool(
            F.scalar(
                conn,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s) AND state <> 'idle' "
                "AND xact_start < now() - interval '50 milliseconds'",
                (names,),
            )
        )

    return probe


def kill_hosts(run, conn, hosts, kills_wanted, seq, feeder, running_now, queue_job):
    """The kills: each when a run job (or a job) runs, a random moment later, of a worker or a whole host."""
    kills = worker_kills = host_kills = mid_job = 0

    def armed():
        feeder.feed(conn)
        return running_now() or (not F.open_enrollments(conn, seq) and not feeder.busy())

    while kills < kills_wanted:
        for server in hosts:
            if not server.alive():
                server.start()
        for server in hosts:
            server.wait_workers(timeout=90)
        run.wait_until(armed, 90, "a run job running", 0.05)
        run.sleep(run.rng.uniform(0.2, 2.0))
        running = running_now()
        server = run.rng.choice(hosts)
        if run.rng.random() < 1 / 3:
            server.kill_all()
            host_kills += 1
            what = f"{server.label} (master and workers)"
        else:
            pid = server.kill_worker()
            if pid is None:
                continue
            worker_kills += 1
            what = f"{server.label} {'worker' if queue_job else 'cron worker'} {pid}"
        kills += 1
        mid_job += running
        F.say(
            f"kill {kills}/{kills_wanted}: {what}{' mid-job' if running else ''}; "
            f"step runs {F.step_runs(conn, seq)} of {F.step_runs_due(conn, seq)}"
        )
    return kills, worker_kills, host_kills, mid_job


def scenario(run):
    pg = F.PgTarget()
    db = f"{F.DB_PREFIX}hosts_kill9_{os.getpid()}"
    kills_wanted = F.env_int("FAULTS_KILLS", 10)
    size = run.size
    queue_job = os.environ.get("FAULTS_QUEUE_JOB") == "1"
    run.install_db(pg, db, "sales_sequence,queue_job" if queue_job else "sales_sequence")
    conn = pg.connect(db)
    run.on_cleanup(conn.close)
    F.install_mail_log(conn)
    crons = F.cron_ids(conn)
    F.set_cron(conn, crons["mail"], False)
    run_crons = active_run_crons(conn)
    host1, host2 = make_hosts(run, pg, db, queue_job)
    ticker = F.Ticker(pg, db, [], fast_clock=False)
    run.on_cleanup(ticker.stop)
    ticker.start()

    # -- throughput: 1, then 2 server processes ------------------------------------------------------------
    warm_up = F.env_int("FAULTS_WARM_UP", 300)
    seqs_one, rate_one = measure(run, conn, pg, db, ticker, [host1], run_crons, f"h1_{os.getpid()}", size, warm_up)
    host1.stop()  # both cold again, then warmed alike
    seqs_two, rate_two = measure(
        run, conn, pg, db, ticker, [host1, host2], run_crons, f"h2_{os.getpid()}", size, warm_up
    )
    ratio = rate_two / rate_one
    F.say(f"throughput: 1 process {rate_one:.1f}/s, 2 processes {rate_two:.1f}/s, ratio {ratio:.2f}x")

    # -- kill -9 of either host ----------------------------------------------------------------------------
    for server in (host1, host2):
        server.stop()
    # Back on before the settings (the setting never starts senders while the first run job is archived);
    # nothing runs them until the hosts start again.
    F.set_cron(conn, run_crons, True)
    run.shell(pg, db, "settings", {"values": {"sales_sequence_parallel_senders": 3}})
    run_crons = active_run_crons(conn)
    if len(run_crons) != 3:
        raise F.AssertionFailed(f"Parallel senders 3 left {len(run_crons)} active run jobs")
    tag = f"hk{os.getpid()}"
    setup = run.shell(pg, db, "setup", {"tag": tag, "size": F.env_int("FAULTS_WAVE", 600), "steps": 1})
    seq = setup["sequence_id"]
    ticker.set_sequences([seq])
    feeder = F.WorkFeeder(
        run,
        pg,
        db,
        setup,
        tag,
        wave=F.env_int("FAULTS_WAVE", 600),
        low=400,
        limit=F.env_int("FAULTS_MAX_ENROLLMENTS", 3000),
    )
    hosts = [host1, host2]
    for server in hosts:
        server.cron_workers = 2
        server.http_workers = 2
        server.start()
    F.set_cron(conn, run_crons, True)
    started = time.monotonic()
    probe = sending(conn, run_crons, queue_job, hosts)
    counts = kill_hosts(run, conn, hosts, kills_wanted, seq, feeder, probe, queue_job)
    kills, worker_kills, host_kills, mid_job = counts
    feeder.finish()
    kill_time = time.monotonic() - started
    F.say(f"{kills} kills in {kill_time:.0f} s ({mid_job} while a run job ran); draining")
    for server in hosts:
        if not server.alive():
            server.start()
    both = Hosts(hosts)
    crons_now = dict(crons, run=run_crons)
    check = F.settle_and_check(run, lambda: conn, seq, crons_now, ticker, both, None, False, precheck=True)
    for measured in (*seqs_one, *seqs_two):
        F.check_before_mail_queue(conn, measured, check)
        check.merge(F.check_sequence(conn, measured, None, expect_sent=False))
    queue_jobs = queue_job_states(conn) if queue_job else {}
    if queue_job:
        F.say(f"queue_job jobs by state: {queue_jobs}")
    return (
        check,
        [
            *([("queue_job", 1)] if queue_job else []),
            ("rate_1", f"{rate_one:.1f}"),
            ("rate_2", f"{rate_two:.1f}"),
            ("ratio", f"{ratio:.2f}"),
            ("kills", kills),
        ],
        [
            ("mid_job", mid_job),
            ("worker_kills", worker_kills),
            ("host_kills", host_kills),
            ("waves", feeder.waves),
            ("odoo_job_timeouts", both.log_count("timed out")),
            *(
                [("jobs_done", queue_jobs.get("done", 0)), ("jobs_requeued_dead", both.log_count("Re-queued dead job"))]
                if queue_job
                else []
            ),
            ("kill_phase_s", int(kill_time)),
        ],
    )


if __name__ == "__main__":
    sys.exit(F.main("hosts_kill9", scenario, default_size=4000))
