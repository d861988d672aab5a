"""Shared helpers of the Odoo benchmarks (bench_mass_mailing, bench_idle_tick, bench_scaling, bench_workers).

The benchmarks run inside `odoo-bin shell -d DB` (tools/run-bench feeds them on stdin, `env` is the shell's) and
import this module from BENCH_DIR. Each measure is printed as a human line and as one machine line

    BENCH<TAB>name<TAB>size<TAB>value<TAB>unit<TAB>goal<TAB>PASS|FAIL|-

that tools/run-bench gathers into its final table.

What is shared: the same ~1 KB email (a name placeholder, two links), contacts inserted in SQL, a 24/7 send schedule,
a one-step sequence with enrollments made due, the cron drained, peak memory and cleanup.
"""

import os
import re
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from unittest.mock import patch

from odoo import Command, fields
from odoo.tools import SQL

SUBJECT_INLINE = "Hello {{ object.name }}, a quick question"
# ~1 KB of HTML: a name placeholder (QWeb, as both sales_sequence steps and mass_mailing bodies render) and two links.
FILLER = (
    "We help sales teams like yours reach the right people at the right time. Our customers usually cut the time "
    "spent on manual follow-ups by half in their first month, and they keep every touch in the CRM where the "
    "whole team can see it. I would love to show you how it works on your own data, in fifteen minutes, whenever "
    "it suits you this week or the next. If it is not a priority right now, just tell me and I will not insist. "
    "In the meantime, here are two pages that answer the questions we hear most often from teams of your size, "
    "with a few numbers from customers in your industry."
)
BODY_HTML = (
    '<p>Hello <t t-out="object.name"/>,</p>'
    f"<p>{FILLER}</p>"
    '<p>See <a href="https://www.example.com/product/tour">the product tour</a> and '
    '<a href="https://www.example.com/pricing">our pricing</a>.</p>'
    "<p>Best regards,<br/>The bench team</p>"
)
EMAIL_FROM = "bench.sender@example.com"


def say(line):
    sys.stdout.write(line.rstrip("\n") + "\n")
    sys.stdout.flush()


def result(name, size, value, unit, goal="", ok=None):
    """One row of run-bench's table; `ok` True/False/None (no goal)."""
    verdict = "-" if ok is None else ("PASS" if ok else "FAIL")
    if isinstance(value, float):
        value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    say(f"BENCH\t{name}\t{size}\t{value}\t{unit}\t{goal}\t{verdict}")


def sizes(variable, default):
    return [int(size) for size in os.environ.get(variable, default).replace(",", " ").split()]


def median(values):
    return statistics.median(values)


# ----------------------------------------------------------------------------------------------------------------
# Memory: peak resident set size of this process during a block, in MB
# ----------------------------------------------------------------------------------------------------------------


def _status_kb(field):
    with open("/proc/self/status", encoding="ascii") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1))


class PeakRSS:
    """Peak RSS growth of the block: the kernel's high-water mark (what getrusage's ru_maxrss reads) is reset to the
    current RSS on entry by writing 5 to /proc/self/clear_refs, and read back (VmHWM) on exit; the value is
    VmHWM - RSS at entry. Without clear_refs (not Linux) it falls back to ru_maxrss deltas, which only show a new
    peak of the process."""

    def __enter__(self):
        self.mb = None
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")
            self.start_kb = _status_kb("VmRSS")
            self.mode = "hwm"
        except OSError:
            import resource  # noqa: PLC0415

            self.start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.mode = "maxrss"
        return self

    def __exit__(self, *exc):
        if self.mode == "hwm":
            peak_kb = _status_kb("VmHWM")
        else:
            import resource  # noqa: PLC0415

            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.mb = max(peak_kb - self.start_kb, 0) / 1024
        return False


class TracemallocPeak:
    """Peak of the Python heap allocated during the block (tracemalloc), in MB. tracemalloc slows Python down
    several times: use it on an untimed run."""

    def __enter__(self):
        import tracemalloc  # noqa: PLC0415

        self._tracemalloc = tracemalloc
        self.mb = None
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        _current, peak = self._tracemalloc.get_traced_memory()
        self._tracemalloc.stop()
        self.mb = peak / 1024 / 1024
        return False


def process_cpu_seconds(pid):
    """utime + stime of process `pid` in seconds, from /proc (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            values = stat.read().rsplit(")", 1)[1].split()
        return (int(values[11]) + int(values[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class CPUTime:
    """CPU seconds spent during the block by this Python process (time.process_time) and by the PostgreSQL backend
    of `env.cr` (from /proc, when the server runs on this machine): a cost that other processes' load on the
    machine barely changes, unlike wall time. `python`, `postgres` (None if unreadable) and `total` after the block."""

    def __init__(self, env):
        env.cr.execute("SELECT pg_backend_pid()")
        self.backend = env.cr.fetchone()[0]

    def __enter__(self):
        self._python = time.process_time()
        self._postgres = process_cpu_seconds(self.backend)
        return self

    def __exit__(self, *exc):
        self.python = time.process_time() - self._python
        after = process_cpu_seconds(self.backend)
        self.postgres = after - self._postgres if after is not None and self._postgres is not None else None
        self.total = self.python + (self.postgres or 0.0)
        return False


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------


def insert_partners(env, count, tag):
    """`count` contacts inserted in one SQL statement (name 'Bench <tag> n', a unique email each, their own
    commercial partner); returns them."""
    env.flush_all()
    env.cr.execute(
        "INSERT INTO res_partner (id, commercial_partner_id, name, complete_name, email, email_normalized, active, "
        "type, is_company, create_date, write_date, create_uid, write_uid) "
        "SELECT id, id, 'Bench ' || %s || ' ' || n, 'Bench ' || %s || ' ' || n, "
        "%s || '.' || n || '@bench.example.com', %s || '.' || n || '@bench.example.com', TRUE, 'contact', FALSE, "
        "now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', 1, 1 "
        "FROM (SELECT nextval('res_partner_id_seq') AS id, n FROM generate_series(1, %s) AS n) AS numbered "
        "RETURNING id",
        [tag, tag, tag, tag, count],
    )
    ids = sorted(row[0] for row in env.cr.fetchall())
    env.invalidate_all()
    return env["res.partner"].browse(ids)


def delete_partners(env, partners):
    env.flush_all()
    env.cr.execute("DELETE FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s)", [partners.ids])
    env.cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [partners.ids])
    env.invalidate_all()


def make_calendar(env):
    return env["resource.calendar"].create(
        {
            "name": "Bench hours 24/7",
            "tz": "UTC",
            "attendance_ids": [Command.clear()]
            + [Command.create({"name": str(d), "dayofweek": str(d), "hour_from": 0, "hour_to": 24}) for d in range(7)],
        }
    )


def make_sequence(env, name, calendar, tracking=True, daily_limit=0):
    """An active classic sequence of one email step (the bench email), open 24/7, no daily limit by default."""
    sequence = env["sales.sequence"].create(
        {
            "name": name,
            "calendar_id": calendar.id,
            "daily_limit": daily_limit,
            "email_from": EMAIL_FROM,
            "tracking_enabled": tracking,
            "step_ids": [Command.create({"name": "One", "subject": SUBJECT_INLINE, "body_html": BODY_HTML})],
        }
    )
    sequence.action_activate()
    return sequence


def enroll_due(env, sequence, partners, now=None):
    """Enroll `partners` as an audience sync does (one SQL insert, started without tracking), then make step 1 due
    a minute ago; committed."""
    Enrollment = env["sales.sequence.enrollment"]
    enrollments = Enrollment._insert_open(sequence, partners)
    assert len(enrollments) == len(partners), (len(enrollments), len(partners))
    enrollments.with_context(tracking_disable=True)._start()
    env.flush_all()
    due_at = (now or fields.Datetime.now()) - timedelta(minutes=1)
    env.cr.execute(
        "UPDATE sales_sequence_enrollment SET next_run_at = %s WHERE id = ANY(%s) AND state = 'active'",
        [due_at, enrollments.ids],
    )
    assert env.cr.rowcount == len(partners), f"{env.cr.rowcount} of {len(partners)} enrollments started"
    env.invalidate_all()
    env.cr.commit()
    return enrollments


def drain(env, cpu=None):
    """Run the cron until it handles nothing; returns (handled, seconds, queries). It commits per chunk itself.
    With `cpu` (a CPUTime), its CPU time is measured too."""
    Enrollment = env["sales.sequence.enrollment"]
    env.cr.commit()
    queries = env.cr.sql_log_count
    with cpu or nullcontext():
        began = time.perf_counter()
        handled = 0
        while True:
            done = Enrollment._cron_run_sequences()
            if not done:
                break
            handled += done
        elapsed = time.perf_counter() - began
    return handled, elapsed, env.cr.sql_log_count - queries


def count_sent(env, enrollments):
    env.cr.execute(
        "SELECT count(*) FROM sales_sequence_touch WHERE enrollment_id = ANY(%s) AND mail_message_id IS NOT NULL",
        [enrollments.ids],
    )
    return env.cr.fetchone()[0]


def delete_sequence(env, sequence, partner_ids=()):
    """The sequences, their enrollments and everything their runs wrote (step runs, events, messages and their
    mails, notes on the contacts), in SQL: the addon keeps sent history from users on purpose."""
    env.flush_all()
    ids = sequence.ids
    env.cr.execute("SELECT id FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s)", [ids])
    enrollment_ids = [row[0] for row in env.cr.fetchall()]
    env.cr.execute(
        "DELETE FROM sales_sequence_event WHERE sequence_id = ANY(%s) OR enrollment_id = ANY(%s)", [ids, enrollment_ids]
    )
    env.cr.execute(
        "DELETE FROM sales_sequence_touch WHERE sequence_id = ANY(%s) OR enrollment_id = ANY(%s)", [ids, enrollment_ids]
    )
    # Their mail.mail and notifications go with the messages (ON DELETE CASCADE).
    env.cr.execute(
        "DELETE FROM mail_message WHERE model = 'sales.sequence.enrollment' AND res_id = ANY(%s)", [enrollment_ids]
    )
    if partner_ids:
        env.cr.execute("DELETE FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s)", [list(partner_ids)])
    env.cr.execute(
        "DELETE FROM mail_followers WHERE res_model = 'sales.sequence.enrollment' AND res_id = ANY(%s)",
        [enrollment_ids],
    )
    env.cr.execute("DELETE FROM sales_sequence_enrollment WHERE id = ANY(%s)", [enrollment_ids])
    env.invalidate_all()
    sequence.unlink()  # through the ORM: its own chatter and followers go with it
    env.cr.commit()


# ----------------------------------------------------------------------------------------------------------------
# The due query, as the addon executes it
# ----------------------------------------------------------------------------------------------------------------


def captured(env, function):
    """The (query, params) the cursor executes while `function` runs."""
    cursor_class = type(env.cr)
    original = cursor_class.execute
    seen = []

    def spy(self, query, params=None, log_exceptions=True):
        seen.append((query, params))
        return original(self, query, params, log_exceptions)

    with patch.object(cursor_class, "execute", spy):
        function()
    return seen


def code_of(query):
    return query.code if isinstance(query, SQL) else str(query)


def explain(env, query, params, options="ANALYZE, BUFFERS"):
    """The EXPLAIN lines of `query` (as captured); the caller rolls back (ANALYZE runs it, locks included)."""
    if isinstance(query, SQL):
        env.cr.execute(SQL(f"EXPLAIN ({options}) %s", query))
    else:
        env.cr.execute(f"EXPLAIN ({options}) " + query, params)
    return [row[0] for row in env.cr.fetchall()]


def due_queries(env, now, limit=50):
    """([the due query (_lock_due's SELECT ... SKIP LOCKED)], [_count_due's count], all queries seen), captured
    from one `_lock_due` and one `_count_due`, then rolled back."""
    Enrollment = env["sales.sequence.enrollment"]
    queries = captured(env, lambda: (Enrollment._lock_due(now, limit), Enrollment._count_due(now)))
    env.cr.rollback()
    lock = [q for q in queries if "SKIP LOCKED" in code_of(q[0]).upper()]
    count = [q for q in queries if "count(" in code_of(q[0]).lower() and "sales_sequence_enrollment" in code_of(q[0])]
    return lock[:1], count[:1], queries


@contextmanager
def timed():
    box = {}
    began = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - began
