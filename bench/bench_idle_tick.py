"""Benchmark (b): the run cron's idle tick on a large database, and the EXPLAIN of its due query.

The dataset (built once, in SQL, in a few minutes; reused when present with BENCH_IDLE_REUSE=1):
* BENCH_IDLE_SEQUENCES (1,000) active one-step sequences: one made through the ORM, the others copied from it in SQL;
* BENCH_IDLE_PARTNERS (100,000) contacts inserted in SQL; each sequence enrolls a window of
  BENCH_IDLE_ENROLLMENTS / BENCH_IDLE_SEQUENCES of them (1,000,000 / 1,000), so a contact is in several sequences;
* the enrollments (INSERT ... SELECT over generate_series), all 'active' at step 1: those of the first
  BENCH_IDLE_ARCHIVED_PCT (10) % of the sequences are overdue (1 to 600 minutes ago), all others wait in the future
  (1 day to 31 days ahead);
* then those 10 % of the sequences are archived through the ORM (`write({'active': False})`), so the addon's own
  archive behaviour applies (today: their open enrollments are paused, out of the due set); that write is timed.

Measured:
* the idle tick: `_cron_run_sequences()` with nothing due, 1 warm-up call then the median of 20 calls (each then
  rolled back, as each cron run is its own transaction), and its queries per call. Goal: under 5 ms. Outside a cron
  job `_notify_progress` writes nothing; inside one it adds one UPDATE of ir_cron_progress.
* `EXPLAIN (ANALYZE, BUFFERS)` of the due query (the SELECT ... FOR NO KEY UPDATE SKIP LOCKED of `_lock_due`, as it
  was executed, captured from the cursor) and of `_count_due`'s count.
* for comparison, the same two queries if the archived sequences' overdue enrollments had stayed in the due set
  (their state set back to 'active' in SQL, measured with `_lock_due` + `_count_due` directly, then rolled back).

Cleanup: BENCH_IDLE_CLEANUP=1 deletes the dataset at the end (BENCH_IDLE_CLEANUP=only: delete it and stop);
tools/run-bench drops its throwaway database instead, unless BENCH_KEEP=1 (then the dataset stays for
BENCH_IDLE_REUSE=1 runs on that database).
"""

import os
import sys
import time

sys.path.insert(0, os.environ.get("BENCH_DIR") or os.path.join(os.getcwd(), "bench"))

import benchlib as B  # noqa: E402

from odoo import fields  # noqa: E402
from odoo.tools import SQL  # noqa: E402

ENROLLMENTS = int(os.environ.get("BENCH_IDLE_ENROLLMENTS", "1000000"))
SEQUENCES = int(os.environ.get("BENCH_IDLE_SEQUENCES", "1000"))
PARTNERS = int(os.environ.get("BENCH_IDLE_PARTNERS", "100000"))
ARCHIVED_PCT = float(os.environ.get("BENCH_IDLE_ARCHIVED_PCT", "10"))
REUSE = os.environ.get("BENCH_IDLE_REUSE") == "1"
CLEANUP = os.environ.get("BENCH_IDLE_CLEANUP", "")
CALLS = 20
PREFIX = "Idle bench"
PARTNER_TAG = "idlebench"
GOAL_MS = 5.0


def dataset_ids(env):
    env.cr.execute("SELECT id FROM sales_sequence WHERE name LIKE %s ORDER BY id", [f"{PREFIX} %"])
    return [row[0] for row in env.cr.fetchall()]


def dataset_size(env, sequence_ids):
    env.cr.execute("SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s)", [sequence_ids])
    return env.cr.fetchone()[0]


def copy_columns(env, table, skip):
    env.cr.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position",
        [table],
    )
    return [name for (name,) in env.cr.fetchall() if name not in skip]


def build(env):
    per_sequence = ENROLLMENTS // SEQUENCES
    assert per_sequence <= PARTNERS, "each sequence enrolls distinct contacts: BENCH_IDLE_PARTNERS too small"
    archived_count = round(SEQUENCES * ARCHIVED_PCT / 100)
    now = fields.Datetime.now()
    began = time.perf_counter()
    calendar = B.make_calendar(env)
    calendar.name = f"{PREFIX} hours"
    template = B.make_sequence(env, f"{PREFIX} {1:05d}", calendar)
    env.flush_all()
    columns = copy_columns(env, "sales_sequence", {"id", "name"})
    env.cr.execute(
        SQL(
            "INSERT INTO sales_sequence (name, %s) SELECT %s || ' ' || lpad(g::text, 5, '0'), %s "
            "FROM sales_sequence t, generate_series(2, %s) AS g WHERE t.id = %s",
            SQL(", ").join(map(SQL.identifier, columns)),
            PREFIX,
            SQL(", ").join(SQL.identifier("t", c) for c in columns),
            SEQUENCES,
            template.id,
        )
    )
    step = template.step_ids
    columns = copy_columns(env, "sales_sequence_step", {"id", "sequence_id"})
    env.cr.execute(
        SQL(
            "INSERT INTO sales_sequence_step (sequence_id, %s) SELECT s.id, %s FROM sales_sequence s, "
            "sales_sequence_step t WHERE s.name LIKE %s AND s.id <> %s AND t.id = %s",
            SQL(", ").join(map(SQL.identifier, columns)),
            SQL(", ").join(SQL.identifier("t", c) for c in columns),
            f"{PREFIX} %",
            template.id,
            step.id,
        )
    )
    sequences_done = time.perf_counter()
    partners = B.insert_partners(env, PARTNERS, PARTNER_TAG)
    partners_done = time.perf_counter()
    env.cr.execute(
        """
        INSERT INTO sales_sequence_enrollment
               (sequence_id, partner_id, user_id, company_id, step_id, state, state_reason, active,
                paused_by_sequence, next_run_at, date_enrolled, create_uid, create_date, write_uid, write_date)
        SELECT s.id, (%(partners)s::int[])[1 + ((s.rank - 1) * %(per)s + n - 1) %% %(count)s], s.user_id, s.company_id,
               st.id, 'active', 'Waiting for step 1 (bench).', TRUE, FALSE,
               CASE WHEN s.rank <= %(archived)s THEN %(now)s - interval '1 minute' * (1 + n %% 600)
                    ELSE %(now)s + interval '1 day' + interval '1 minute' * ((s.rank * %(per)s + n) %% 43200) END,
               %(now)s, 1, %(now)s, 1, %(now)s
          FROM (SELECT id, user_id, company_id, row_number() OVER (ORDER BY id) AS rank
                  FROM sales_sequence WHERE name LIKE %(prefix)s) AS s
          JOIN sales_sequence_step st ON st.sequence_id = s.id
         CROSS JOIN generate_series(1, %(per)s) AS n
        """,
        {
            "partners": partners.ids,
            "per": per_sequence,
            "count": len(partners),
            "archived": archived_count,
            "now": now,
            "prefix": f"{PREFIX} %",
        },
    )
    enrollments_done = time.perf_counter()
    env.cr.execute("ANALYZE sales_sequence_enrollment")
    env.cr.execute("ANALYZE sales_sequence")
    env.cr.execute("ANALYZE res_partner")
    env.cr.commit()
    env.invalidate_all()
    ids = dataset_ids(env)
    archived = env["sales.sequence"].browse(ids[:archived_count])
    archive_began = time.perf_counter()
    archived.write({"active": False})
    archive_written = time.perf_counter()
    env.flush_all()
    archive_flushed = time.perf_counter()
    env.cr.commit()  # runs the precommit hooks (mail tracking) first
    archive_done = time.perf_counter()
    env.cr.execute(
        "SELECT count(*) FROM mail_message m WHERE m.model = 'sales.sequence.enrollment' AND m.res_id IN "
        "(SELECT id FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s))",
        [archived.ids],
    )
    messages = env.cr.fetchone()[0]
    env.cr.execute("SELECT count(*) FROM sales_sequence_event WHERE sequence_id = ANY(%s)", [archived.ids])
    events = env.cr.fetchone()[0]
    env.cr.execute("ANALYZE sales_sequence_enrollment")
    env.cr.commit()
    B.say(
        f"bench idle tick: built {ENROLLMENTS} enrollments in {SEQUENCES} sequences ({len(partners)} contacts) in "
        f"{enrollments_done - began:.1f} s (sequences {sequences_done - began:.1f} s, contacts "
        f"{partners_done - sequences_done:.1f} s, enrollments {enrollments_done - partners_done:.1f} s)"
    )
    B.say(
        f"bench idle tick: archiving {archived_count} sequences ({archived_count * per_sequence} overdue enrollments) "
        f"through the ORM took {archive_done - archive_began:.1f} s (write {archive_written - archive_began:.1f} s, "
        f"flush {archive_flushed - archive_written:.1f} s, commit {archive_done - archive_flushed:.1f} s) and wrote "
        f"{events} timeline events and {messages} chatter messages on the paused enrollments"
    )
    B.result("b. archive 10% of sequences (ORM write)", ENROLLMENTS, archive_done - archive_began, "s")
    return ids


def ensure_nothing_due(env, sequence_ids):
    """Waiting enrollments of a kept dataset may have fallen due since it was built: move them a month ahead."""
    now = fields.Datetime.now()
    env.cr.execute(
        "UPDATE sales_sequence_enrollment e SET next_run_at = next_run_at + interval '31 days' FROM sales_sequence s "
        "WHERE s.id = e.sequence_id AND s.active AND e.sequence_id = ANY(%s) AND e.state IN ('active', 'queued') "
        "AND e.next_run_at <= %s + interval '1 hour'",
        [sequence_ids, now],
    )
    if env.cr.rowcount:
        B.say(f"bench idle tick: {env.cr.rowcount} kept enrollments had fallen due: moved 31 days ahead")
        env.cr.execute("ANALYZE sales_sequence_enrollment")
    env.cr.commit()


def print_plan(title, lines):
    B.say(f"bench idle tick: {title}")
    for line in lines:
        B.say(f"  | {line}")


def timed_calls(env, function):
    function()  # warm-up: caches, prepared plans
    env.cr.rollback()
    times, queries = [], []
    for _call in range(CALLS):
        before = env.cr.sql_log_count
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
        queries.append(env.cr.sql_log_count - before)
        env.cr.rollback()
    return B.median(times), min(times), max(times), B.median(queries)


def cleanup(env):
    ids = dataset_ids(env)
    if not ids:
        return
    began = time.perf_counter()
    env.cr.execute("DELETE FROM sales_sequence_event WHERE sequence_id = ANY(%s)", [ids])
    env.cr.execute("DELETE FROM sales_sequence_touch WHERE sequence_id = ANY(%s)", [ids])
    env.cr.execute(
        "DELETE FROM mail_message WHERE model = 'sales.sequence.enrollment' AND res_id IN "
        "(SELECT id FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s))",
        [ids],
    )
    env.cr.execute(
        "DELETE FROM mail_followers WHERE res_model = 'sales.sequence.enrollment' AND res_id IN "
        "(SELECT id FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s))",
        [ids],
    )
    env.cr.execute("DELETE FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s)", [ids])
    # The sequences' own chatter (the template sequence was made through the ORM) and followers.
    env.cr.execute("DELETE FROM mail_message WHERE model = 'sales.sequence' AND res_id = ANY(%s)", [ids])
    env.cr.execute("DELETE FROM mail_followers WHERE res_model = 'sales.sequence' AND res_id = ANY(%s)", [ids])
    env.cr.execute("DELETE FROM sales_sequence WHERE id = ANY(%s)", [ids])
    env.cr.execute("DELETE FROM res_partner WHERE email LIKE %s", [f"{PARTNER_TAG}.%@bench.example.com"])
    env.cr.execute("DELETE FROM resource_calendar WHERE name = %s", [f"{PREFIX} hours"])
    env.cr.commit()
    env.invalidate_all()
    B.say(f"bench idle tick: dataset deleted in {time.perf_counter() - began:.1f} s")


def main(env):
    if CLEANUP == "only":
        cleanup(env)
        return
    ids = dataset_ids(env)
    if ids and REUSE and len(ids) == SEQUENCES and dataset_size(env, ids) == ENROLLMENTS:
        B.say(f"bench idle tick: reusing the dataset of {ENROLLMENTS} enrollments in {SEQUENCES} sequences")
    else:
        cleanup(env)
        ids = build(env)
    ensure_nothing_due(env, ids)
    Enrollment = env["sales.sequence.enrollment"]
    now = fields.Datetime.now()
    due = Enrollment._count_due(now)
    assert not due, f"{due} enrollments are due: the idle tick would send them"
    env.cr.execute(
        "SELECT s.active, e.state, count(*) FROM sales_sequence_enrollment e JOIN sales_sequence s "
        "ON s.id = e.sequence_id WHERE e.sequence_id = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2",
        [ids],
    )
    B.say(
        "bench idle tick: enrollments by (sequence active, state): "
        + ", ".join(f"({active}, {state}) {count}" for active, state, count in env.cr.fetchall())
    )
    env.cr.rollback()

    median, fastest, slowest, queries = timed_calls(env, Enrollment._cron_run_sequences)
    B.say(
        f"bench idle tick: _cron_run_sequences() with nothing due among {ENROLLMENTS} enrollments: median "
        f"{median:.2f} ms of {CALLS} (min {fastest:.2f}, max {slowest:.2f}), {queries:.0f} queries per tick"
    )
    B.result("b. idle tick", ENROLLMENTS, median, "ms", f"< {GOAL_MS:g} ms", median < GOAL_MS)
    B.result("b. idle tick queries", ENROLLMENTS, queries, "queries")
    lock, count, queries_seen = B.due_queries(env, fields.Datetime.now())
    if not lock:
        seen = " / ".join(B.code_of(q) for q, _p in queries_seen)
        B.say(f"bench idle tick: the due query was not found among: {seen}")
    for title, found in (
        ("EXPLAIN (ANALYZE, BUFFERS) of the due query (_lock_due)", lock),
        ("EXPLAIN (ANALYZE, BUFFERS) of the count (_count_due)", count),
    ):
        for query, params in found:
            print_plan(title, [" ".join(B.code_of(query).split())] + B.explain(env, query, params))
            env.cr.rollback()

    # For comparison: the archived sequences' overdue enrollments left in the due set (not committed).
    env.cr.execute(
        "UPDATE sales_sequence_enrollment e SET state = 'active', paused_by_sequence = FALSE FROM sales_sequence s "
        "WHERE s.id = e.sequence_id AND NOT s.active AND e.sequence_id = ANY(%s) AND e.state = 'paused'",
        [ids],
    )
    left_due = env.cr.rowcount
    if left_due:
        env.cr.execute("ANALYZE sales_sequence_enrollment")
        now = fields.Datetime.now()
        times = []
        for _call in range(CALLS + 1):
            began = time.perf_counter()
            locked = Enrollment._lock_due(now, 50)
            Enrollment._count_due(now)
            times.append((time.perf_counter() - began) * 1000)
            assert not locked, "enrollments of archived sequences were picked as due"
        median = B.median(times[1:])
        B.say(
            f"bench idle tick: if the {left_due} enrollments of archived sequences had stayed due: _lock_due + "
            f"_count_due median {median:.2f} ms"
        )
        B.result("b. idle tick, archived left due (info)", ENROLLMENTS, median, "ms")
        queries = B.captured(env, lambda: Enrollment._lock_due(now, 50))
        for query, params in [q for q in queries if "SKIP LOCKED" in B.code_of(q[0]).upper()][:1]:
            print_plan(
                "EXPLAIN (ANALYZE, BUFFERS) of the due query, archived sequences' enrollments left due",
                B.explain(env, query, params),
            )
    env.cr.rollback()
    env.cr.execute("ANALYZE sales_sequence_enrollment")
    env.cr.commit()
    if CLEANUP == "1":
        cleanup(env)


# `env` is defined by odoo-bin shell, which runs this file.
main(env)  # noqa: F821  # pylint: disable=undefined-variable
