"""The fault scripts' SMTP server: aiosmtpd on 127.0.0.1, run by faultlib.SmtpSink in a process of its own.

Its mode is read from a file (--mode-file) every 50 ms:
  accept    every email is accepted (250) and appended to --log as one JSON line: recipients, Message-Id, subject,
            and the step markers (FaultBodyNN) found in its text parts;
  refuse    the server is stopped: sessions in progress are cut, then the port is closed and connections are
            refused, as when the mail server crashes or is down;
  tempfail  connections are accepted but every email is answered "451 4.3.0" after DATA, as an overloaded or
            greylisting server does.
Prints "ready" on stdout once listening (or, in refuse mode, once started).
"""

import argparse
import email
import json
import re
import sys
import time
from email import policy

from aiosmtpd.controller import Controller

MARKER = re.compile(r"FaultBody(\d{2})")


class Handler:
    def __init__(self, log_path):
        self.log_path = log_path
        self.mode = "accept"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.mode != "accept":
            return "451 4.3.0 faults: temporary local problem, try again later"
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        texts = []
        for part in message.walk():
            if part.get_content_maintype() == "text":
                try:
                    texts.append(part.get_content())
                except (LookupError, UnicodeError):
                    texts.append(part.get_payload(decode=True).decode("utf-8", "replace"))
        record = {
            "rcpt": [rcpt.lower() for rcpt in envelope.rcpt_tos],
            "from": envelope.mail_from,
            "message_id": str(message.get("Message-Id", "")),
            "subject": str(message.get("Subject", "")),
            "markers": sorted(set(MARKER.findall("\n".join(texts)))),
            "at": time.time(),
        }
        with open(self.log_path, "a") as log:
            log.write(json.dumps(record) + "\n")
        return "250 2.0.0 OK"


def read_mode(path):
    try:
        with open(path) as mode_file:
            return mode_file.read().strip() or "accept"
    except OSError:
        return "accept"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode-file", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    handler = Handler(args.log)
    controller = None
    mode = None
    ready = False
    while True:
        new_mode = read_mode(args.mode_file)
        if new_mode != mode:
            mode = new_mode
            handler.mode = mode
            if mode == "refuse" and controller is not None:
                controller.stop()
                controller = None
            elif mode != "refuse" and controller is None:
                controller = Controller(handler, hostname="127.0.0.1", port=args.port, ready_timeout=10)
                controller.start()
            if not ready:
                sys.stdout.write("ready\n")
                sys.stdout.flush()
                ready = True
        time.sleep(0.05)


if __name__ == "__main__":
    main()
