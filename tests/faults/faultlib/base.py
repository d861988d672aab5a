"""Base of the fault scripts' library: the virtualenv check (run again with the virtualenv's Python), where
things are, the settings read from the environment, progress output, and the two ways a run ends early.

Imported first by the package (``faultlib/__init__.py``), before any module that needs the virtualenv's packages
(psycopg2, psutil): started with the system Python, the script is run again with the virtualenv's here.
"""

import importlib
import os
import socket
import sys
import time
from pathlib import Path

# tests/faults/, where the scripts, shell_tasks.py and smtp_sink.py are; the addon is two folders up.
FAULTS_DIR = Path(__file__).resolve().parent.parent
ADDON_DIR = FAULTS_DIR.parent.parent
VENV = Path(os.environ.get("SALES_SEQUENCE_VENV", "/opt/sales_sequence-venv"))

try:
    for _package in ("psutil", "psycopg2"):  # the packages of the virtualenv the library needs
        importlib.import_module(_package)
except ImportError:  # started with the system Python: run again with the virtualenv's, which has Odoo's packages
    _venv_python = VENV / "bin" / "python"
    if _venv_python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(_venv_python), [str(_venv_python), *sys.argv])
    raise

ODOO_SRC = Path(os.environ.get("ODOO_SRC", "/opt/odoo-18.0"))
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
ADDON_NAME = "sales_sequence"
DB_PREFIX = "sales_sequence_faults_"
RESULT_TAG = "FAULTS_RESULT "
MAIL_CRON_XMLID = "mail.ir_cron_mail_scheduler_action"


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


def say(message):
    """Progress on stderr (stdout carries the summary line only)."""
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FaultTimeout(Exception):
    """The script's time limit (FAULTS_TIMEOUT) was reached."""


class AssertionFailed(Exception):
    """A precondition of the scenario did not hold (not the final SQL assertions, which are counted)."""
