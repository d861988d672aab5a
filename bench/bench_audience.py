"""Benchmark of the audience sync: N matching contacts enrolled into an active sequence, next to the floor, a plain
SQL INSERT ... SELECT of the same rows on the same database; then a second sync, which adds nobody.

Run through tools/run-bench (fed to `odoo-bin shell`, where `env` is defined). Everything is rolled back.
Sizes: BENCH_AUDIENCE_SIZES="100000".
"""

import os
import sys
import time

from odoo import Command

SIZES = [int(size) for size in os.environ.get("BENCH_AUDIENCE_SIZES", "100000").split()]


def timed(env, function):
    env.flush_all()
    began = time.perf_counter()
    result = function()
    env.flush_all()
    return result, time.perf_counter() - began


def measure(env, size):
    cr = env.cr
    tag = f"aud{int(time.time())}"
    cr.execute(
        "INSERT INTO res_partner (name, complete_name, email, email_normalized, active, type, is_company, "
        "create_date, write_date, create_uid, write_uid) "
        "SELECT 'Audience ' || n, 'Audience ' || n, %s || n || '@bench.example', %s || n || '@bench.example', "
        "TRUE, 'contact', FALSE, now(), now(), 1, 1 FROM generate_series(1, %s) AS n",
        [tag, tag, size],
    )
    cr.execute("UPDATE res_partner SET commercial_partner_id = id WHERE email_normalized LIKE %s", [f"{tag}%"])
    env.invalidate_all()
    calendar = env["resource.calendar"].create(
        {
            "name": "Audience bench hours",
            "tz": "UTC",
            "attendance_ids": [Command.clear()]
            + [Command.create({"name": str(d), "dayofweek": str(d), "hour_from": 0, "hour_to": 24}) for d in range(7)],
        }
    )
    sequence = env["sales.sequence"].create(
        {
            "name": f"Audience bench {tag}",
            "calendar_id": calendar.id,
            "daily_limit": 0,
            "step_ids": [Command.create({"name": "One", "subject": "Hi", "body_html": "<p>Hi</p>"})],
            "audience_ids": [
                Command.create({"name": "Bench", "filter_domain": f"[('email', '=like', '{tag}%@bench.example')]"})
            ],
        }
    )
    sequence.action_activate()
    env.flush_all()  # the activation must not be undone with the floor's rows
    cr.execute("SAVEPOINT floor")
    _rows, floor = timed(
        env,
        lambda: cr.execute(
            "INSERT INTO sales_sequence_enrollment (sequence_id, partner_id, user_id, company_id, state, "
            "date_enrolled, active, paused_by_sequence, create_uid, create_date, write_uid, write_date) "
            "SELECT %s, p.id, %s, %s, 'draft', now(), TRUE, FALSE, 1, now(), 1, now() FROM res_partner p "
            "WHERE p.email LIKE %s",
            [sequence.id, sequence.user_id.id, sequence.company_id.id, f"{tag}%@bench.example"],
        ),
    )
    cr.execute("ROLLBACK TO SAVEPOINT floor")
    env.invalidate_all()
    enrolled, first = timed(env, sequence._sync_audience)
    again, second = timed(env, sequence._sync_audience)
    assert len(enrolled) == size, (len(enrolled), size)
    assert not again
    states = {
        state
        for (state,) in env["sales.sequence.enrollment"]._read_group([("sequence_id", "=", sequence.id)], ["state"])
    }
    sys.stdout.write(
        f"bench audience: {size} matching contacts; SQL floor INSERT ... SELECT {floor:6.2f} s; first sync "
        f"{first:6.2f} s = {size / first:8.0f} contacts/s = {first / floor:4.1f}x the floor (enrollments {states}); "
        f"second sync {second:6.2f} s ({second / first:4.1%} of the first), {len(again)} added\n"
    )
    cr.rollback()


for bench_size in SIZES:
    measure(env, bench_size)  # noqa: F821  # pylint: disable=undefined-variable
