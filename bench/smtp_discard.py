"""A local SMTP server for bench_end_to_end.py: aiosmtpd on 127.0.0.1, accepting every email and discarding it
(counting them only), in a process of its own. Prints "ready" once listening; stops on SIGTERM.

    python bench/smtp_discard.py --port 2525
"""

import argparse
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Discard:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.count += 1
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    handler = Discard()
    controller = Controller(handler, hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stop.wait()
    controller.stop()
    sys.stderr.write(f"smtp_discard: {handler.count} emails received\n")


if __name__ == "__main__":
    main()
