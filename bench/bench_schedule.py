"""Benchmark of the pure-Python send schedule: next_slot calls per second on a realistic calendar."""

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from send_schedule import SendSchedule  # noqa: E402


def main(calls=20000):
    windows = [(day, 9, 12) for day in range(5)] + [(day, 13, 17) for day in range(5)]
    # 24 and 25 December, whole local days in Berlin (UTC+1), in UTC.
    holidays = [(datetime(2026, 12, 23, 23, 0), datetime(2026, 12, 25, 23, 0))]
    schedule = SendSchedule(windows, tz="Europe/Berlin", excluded=holidays)
    start = datetime(2026, 12, 1, 0, 0)
    instants = [start + timedelta(minutes=37 * i) for i in range(calls)]
    for label, kwargs in (("plain", {}), ("contact tz", {"tz": "America/New_York"}), ("randomized", {"seed": 42})):
        began = time.perf_counter()
        for instant in instants:
            schedule.next_slot(instant, **kwargs)
        elapsed = time.perf_counter() - began
        sys.stdout.write(
            f"bench next_slot {label:<10s}: {calls} calls in {elapsed:.3f} s = {calls / elapsed:8.0f} calls/s\n"
        )


if __name__ == "__main__":
    main()
