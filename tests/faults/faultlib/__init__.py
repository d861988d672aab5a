"""Shared machinery of the fault-injection scripts of tests/faults/ (see README.rst there).

Not an Odoo test module and not a Python package of the addon: tests/faults/ has no __init__.py, so Odoo's test
loader and the addon never import it. The scripts import it by path (they put tests/faults/ first on sys.path and
`import faultlib as F`). They drive the addon as a black box, through its public ORM entry points only (fed to
`odoo-bin shell` processes: shell_tasks.py) and Odoo's own ir.cron machinery (real `odoo-bin` servers), and assert
with SQL on the database.

Everything a script starts lives in one run folder under /tmp (Odoo's data dir, logs, the SMTP sink's log, a
PostgreSQL cluster of its own when it needs one) and one database named sales_sequence_faults_<script>_<pid>. Every
process it starts runs in a process group of its own and is killed on exit, whatever the exit (end, failure,
Ctrl-C, SIGTERM, the time limit); the database is dropped. The run folder is deleted on success and kept on
failure (its path is printed) so the Odoo logs are there to read; FAULTS_KEEP=1 keeps everything (database too).

One module per concern, each importable on its own (``from faultlib.checks import check_sequence``); this file
re-exports what the scripts use, as ``F.<name>``:

=============== ==================================================================================================
``base``        the virtualenv check (runs the script again with the virtualenv's Python), paths, settings,
                ``say``, ``free_port``, ``FaultTimeout``, ``AssertionFailed``
``db``          ``PgTarget`` (the machine's cluster or one of the script's own), ``query``, ``scalar``
``run``         ``Run`` (folder, processes, time limit, cleanup, Odoo commands and shells), ``main``, ``report``
``odoo_server`` ``OdooServer``: a real prefork Odoo whose cron workers run the crons
``smtp``        ``SmtpSink``: smtp_sink.py in a process of its own
``ticker``      ``Ticker`` (fast clock, cron wake-ups); ``cron_ids``, ``set_cron``, ``job_running``
``work``        ``WorkFeeder`` (waves of new enrollments); ``open_enrollments``, ``step_runs``, ``state_counts``
``mail_log``    ``install_mail_log``: the trigger logging every mail.mail row inserted
``checks``      ``Check``, ``check_sequence`` and the other SQL assertions, ``settle_and_check``
=============== ==================================================================================================
"""

# base first: started with the system Python, it runs the script again with the virtualenv's before any module
# below imports psycopg2 or psutil.
from . import base
from .base import (
    ADDON_DIR,
    ADDON_NAME,
    DB_PREFIX,
    FAULTS_DIR,
    MAIL_CRON_XMLID,
    ODOO_SRC,
    PG_BIN,
    RESULT_TAG,
    VENV,
    AssertionFailed,
    FaultTimeout,
    env_float,
    env_int,
    free_port,
    say,
)

import psycopg2  # the scripts catch its errors (F.psycopg2.OperationalError)

from .db import PgTarget, query, scalar
from .run import Run, main, report
from .odoo_server import OdooServer
from .smtp import SmtpSink
from .ticker import Ticker, cron_ids, job_running, set_cron
from .work import WorkFeeder, open_enrollments, state_counts, step_runs, step_runs_due
from .mail_log import MAIL_LOG_SQL, install_mail_log
from .checks import Check, check_before_mail_queue, check_send_records, check_sequence, expect_one, settle_and_check
