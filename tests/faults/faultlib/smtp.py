"""The local SMTP server (aiosmtpd, smtp_sink.py here) the mail queue sends to."""

import json
import socket
import subprocess

from .base import FAULTS_DIR, VENV, AssertionFailed, free_port, say


class SmtpSink:
    """smtp_sink.py in a process of its own: accepts (and records), refuses connections, or answers 451."""

    def __init__(self, run, mode="accept"):
        self.run = run
        self.port = free_port()
        self.mode_file = run.dir / "smtp.mode"
        self.log_file = run.dir / "smtp.jsonl"
        self.mode_file.write_text(mode)
        self.log_file.touch()
        self.proc = run.popen(
            [
                str(VENV / "bin" / "python"),
                str(FAULTS_DIR / "smtp_sink.py"),
                "--port",
                str(self.port),
                "--mode-file",
                str(self.mode_file),
                "--log",
                str(self.log_file),
            ],
            "smtp-sink.stderr",
            stdout=subprocess.PIPE,
        )
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            raise AssertionFailed(f"the SMTP sink did not start: {line!r}")
        self.mode = mode
        say(f"SMTP sink on 127.0.0.1:{self.port}, mode {mode}")

    def set_mode(self, mode):
        self.mode_file.write_text(mode)
        self.mode = mode
        # Wait until the port is listening, or closed, as the mode says.
        self.run.wait_until(lambda: self._listening() == (mode != "refuse"), 15, f"SMTP sink in mode {mode}", 0.1)
        say(f"SMTP sink: mode {mode}")

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.recv(100)  # the banner, so the sink's session ends cleanly
                conn.sendall(b"QUIT\r\n")
            return True
        except OSError:
            return False

    def records(self):
        rows = []
        with open(self.log_file) as log:
            for line in log:
                if line.strip():
                    rows.append(json.loads(line))
        return rows
