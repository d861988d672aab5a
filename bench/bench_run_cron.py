"""Benchmark of the run cron: N contacts enrolled and due, the cron drains them; prints time and queries.

Run through tools/run-bench (it feeds this file to `odoo-bin shell`, where `env` is defined). Everything it creates
is deleted at the end. The cron commits per chunk, as it does in production. Sizes: BENCH_SIZES="200 1000".
"""

import os
import sys
import time
from datetime import datetime, timedelta

from odoo import Command

SIZES = [int(size) for size in os.environ.get("BENCH_SIZES", "200 1000").split()]
NOW = datetime(2026, 12, 7, 10, 0)  # a Monday, inside the window


def build(env, size):
    calendar = env["resource.calendar"].create(
        {
            "name": "Bench hours",
            "tz": "UTC",
            "attendance_ids": [Command.clear()]
            + [Command.create({"name": str(d), "dayofweek": str(d), "hour_from": 0, "hour_to": 24}) for d in range(7)],
        }
    )
    partners = env["res.partner"].create(
        [{"name": f"Bench {i:05d}", "email": f"bench{i:05d}@customer.example.com"} for i in range(size)]
    )
    sequence = env["sales.sequence"].create(
        {
            "name": f"Bench sequence {size} {time.time()}",
            "calendar_id": calendar.id,
            "daily_limit": 0,
            "email_from": "bench.sender@example.com",
            "step_ids": [
                Command.create(
                    {
                        "name": "One",
                        "subject": "Hi {{ object.name }}",
                        "body_html": '<p>Hi <t t-out="object.name"/></p>',
                    }
                ),
                Command.create({"name": "Two", "delay_days": 2, "body_html": "<p>Again</p>"}),
            ],
        }
    )
    sequence.action_activate()
    enrollments, refusals = sequence._enroll_partners(partners)
    assert not refusals, refusals
    enrollments.write({"next_run_at": NOW - timedelta(minutes=1)})
    env.flush_all()
    env.cr.commit()
    return enrollments


def measure(env, size):
    enrollments = build(env, size)
    Enrollment = env["sales.sequence.enrollment"]
    from freezegun import freeze_time  # noqa: PLC0415 - only needed here

    queries_before = env.cr.sql_log_count
    started = time.perf_counter()
    with freeze_time(NOW):
        while Enrollment._count_due(NOW):
            Enrollment._cron_run_sequences()
    elapsed = time.perf_counter() - started
    queries = env.cr.sql_log_count - queries_before
    sent = len(enrollments.touch_ids)
    assert sent == size, (sent, size)
    sys.stdout.write(
        f"bench run_cron: {size:5d} enrollments, step 1 sent to all in {elapsed:6.2f} s = "
        f"{size / elapsed:6.1f} enrollments/s, {queries:6d} queries = {queries / size:5.1f} per enrollment\n"
    )
    cleanup(env, enrollments)


def cleanup(env, enrollments):
    sequence, partners = enrollments.sequence_id, enrollments.partner_id
    env["mail.mail"].search([("model", "=", "sales.sequence.enrollment"), ("res_id", "in", enrollments.ids)]).unlink()
    env["mail.message"].search(
        [
            "|",
            "&",
            ("model", "=", "sales.sequence.enrollment"),
            ("res_id", "in", enrollments.ids),
            "&",
            ("model", "=", "res.partner"),
            ("res_id", "in", partners.ids),
        ]
    ).unlink()
    calendar = sequence.calendar_id
    # What was sent is history no user deletes; the benchmark's own data goes, as when the addon is uninstalled.
    sequence.with_context(_force_unlink=True).unlink()
    partners.unlink()
    calendar.unlink()
    env.cr.commit()


# `env` is defined by odoo-bin shell, which runs this file.
for bench_size in SIZES:
    measure(env, bench_size)  # noqa: F821  # pylint: disable=undefined-variable
