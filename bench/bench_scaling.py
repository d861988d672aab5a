"""Benchmark (c): the run cron's cost per email as the due set grows (1,000 / 10,000 / 100,000 due).

For each size N of BENCH_SCALING_SIZES (default "1000 10000 100000"): N contacts inserted in SQL, one active
one-step email sequence (the ~1 KB email of bench (a), 24/7 calendar, daily_limit 0, tracking on), the N enrolled
(as an audience sync enrolls: one INSERT, then `_start`) with step 1 due a minute ago, committed; then
`_cron_run_sequences()` is called until it handles nothing (it commits per chunk of 50, 500 per call) and timed.
An untimed warm-up drain of 50 comes first. Each size's data (sequence, enrollments, step runs, events, messages and
mails, contact notes, contacts) is deleted right after its run.

Before each drain, the EXPLAIN (ANALYZE, BUFFERS) of the due query (`_lock_due`'s SELECT, as executed, for its
first chunk of 50) is summed up in one line: how many rows it reads and sorts to return 50 tells whether a chunk's
cost grows with the due backlog.

Printed: emails/s, queries per email (`env.cr.sql_log_count` delta / N), and the cost per email read two ways: wall
time, and CPU time (this process's Python plus its PostgreSQL backend's CPU, from /proc): on a shared 2-core machine
the wall time moves with everyone else's load, the CPU time much less. Goal: the per-email cost stays flat, the
largest CPU ms/email within 20 % of the smallest (1.2x); the wall-time spread is printed next to it.
The 100,000 run takes minutes (setup, the drain, the cleanup); develop with small sizes.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.environ.get("BENCH_DIR") or os.path.join(os.getcwd(), "bench"))

import benchlib as B  # noqa: E402

from odoo import fields  # noqa: E402

SIZES = B.sizes("BENCH_SCALING_SIZES", "1000 10000 100000")


def due_query_plan(env):
    """One line: the due query's execution time, and what its plan read to return its first chunk."""
    lock, _count, _seen = B.due_queries(env, fields.Datetime.now())
    if not lock:
        return "not found"
    lines = B.explain(env, *lock[0])
    env.cr.rollback()
    keep = [
        " ".join(line.split())
        for line in lines
        if "Execution Time" in line or re.search(r"\b(Scan|Sort|Join|Nested Loop)\b.*actual", line)
    ]
    return "; ".join(keep)


def measure(env, size, calendar, quiet=False):
    tag = f"sc{size}x{int(time.time())}"
    partners = B.insert_partners(env, size, tag)
    sequence = B.make_sequence(env, f"Scaling bench {tag}", calendar)
    try:
        enrollments = B.enroll_due(env, sequence, partners)
        env.cr.execute("ANALYZE sales_sequence_enrollment")
        env.cr.commit()
        plan = due_query_plan(env)
        cpu = B.CPUTime(env)
        handled, elapsed, queries = B.drain(env, cpu)
        sent = B.count_sent(env, enrollments)
        assert sent == size, f"sent {sent} of {size} (cron handled {handled})"
    finally:
        env.cr.rollback()
        B.delete_sequence(env, sequence, partners.ids)
        B.delete_partners(env, partners)
        env.cr.commit()
    ms = elapsed / size * 1000
    cpu_ms = cpu.total / size * 1000
    if quiet:
        return ms, cpu_ms
    B.say(f"bench scaling: {size:7d} due: the due query (_lock_due, LIMIT 50) before the drain: {plan}")
    B.say(
        f"bench scaling: {size:7d} due: drained in {elapsed:7.2f} s = {size / elapsed:6.1f} emails/s, "
        f"{ms:5.2f} ms/email, {queries / size:5.2f} queries/email; CPU {cpu_ms:5.2f} ms/email (Python "
        f"{cpu.python / size * 1000:.2f}, PostgreSQL {(cpu.postgres or 0) / size * 1000:.2f})"
    )
    B.result("c. run cron rate", size, size / elapsed, "emails/s")
    B.result("c. run cron queries/email", size, queries / size, "q/email")
    B.result("c. run cron wall time", size, ms, "ms/email")
    B.result("c. run cron CPU (Python + PostgreSQL)", size, cpu_ms, "ms/email")
    return ms, cpu_ms


def main(env):
    calendar = B.make_calendar(env)
    env.cr.commit()
    costs = {}
    try:
        # Warm-up, untimed: the first drain of a process compiles templates and fills caches.
        measure(env, 50, calendar, quiet=True)
        for size in SIZES:
            costs[size] = measure(env, size, calendar)
    finally:
        env.cr.rollback()
        calendar.unlink()
        env.cr.commit()
    if len(costs) > 1:
        sizes = "/".join(map(str, costs))
        wall = max(c[0] for c in costs.values()) / min(c[0] for c in costs.values())
        cpu = max(c[1] for c in costs.values()) / min(c[1] for c in costs.values())
        B.say(
            "bench scaling: wall ms/email "
            + ", ".join(f"{size}: {c[0]:.2f}" for size, c in costs.items())
            + f" (largest / smallest {wall:.2f}); CPU ms/email "
            + ", ".join(f"{size}: {c[1]:.2f}" for size, c in costs.items())
            + f" (largest / smallest {cpu:.2f})"
        )
        B.result("c. cost spread, wall (max/min)", sizes, wall, "x")
        B.result("c. cost spread, CPU (max/min)", sizes, cpu, "x", "<= 1.2", cpu <= 1.2)


# `env` is defined by odoo-bin shell, which runs this file.
main(env)  # noqa: F821  # pylint: disable=undefined-variable
