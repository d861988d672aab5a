"""Benchmark of the CSV import wizard: a file of N new contacts (email, name, company) enrolled in a draft sequence.

Run through tools/run-bench (fed to `odoo-bin shell`, where `env` is defined). Everything it creates is rolled back.
Sizes: BENCH_IMPORT_SIZES="10000".
"""

import base64
import os
import sys
import time

SIZES = [int(size) for size in os.environ.get("BENCH_IMPORT_SIZES", "10000").split()]


def measure(env, size):
    stamp = int(time.time())
    lines = ["email,name,company"] + [
        f"import{stamp}.{i}@bench.example.com,Imported {i},Bench Company {i % 50}" for i in range(size)
    ]
    content = "\n".join(lines).encode()
    sequence = env["sales.sequence"].create({"name": f"Import bench {size} {stamp}", "daily_limit": 0})
    wizard = env["sales.sequence.import.wizard"].create(
        {"sequence_id": sequence.id, "file": base64.b64encode(content), "create_missing": True}
    )
    env.flush_all()
    queries_before = env.cr.sql_log_count
    began = time.perf_counter()
    wizard.action_import()
    env.flush_all()
    elapsed = time.perf_counter() - began
    queries = env.cr.sql_log_count - queries_before
    assert wizard.enrolled_count == size, (wizard.enrolled_count, size)
    sys.stdout.write(
        f"bench import: {size:6d} CSV lines, contacts created and enrolled in {elapsed:6.2f} s = "
        f"{size / elapsed:7.1f} lines/s, {queries} queries\n"
    )
    env.cr.rollback()


for bench_size in SIZES:
    measure(env, bench_size)  # noqa: F821  # pylint: disable=undefined-variable
