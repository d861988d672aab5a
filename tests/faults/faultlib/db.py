"""Database access: the PostgreSQL of the machine, or a cluster of the script's own."""

import subprocess
from dataclasses import dataclass

import psycopg2

from .base import PG_BIN


@dataclass
class PgTarget:
    """Where the databases are: the machine's cluster through its local socket (host None), or a cluster of the
    script's own on 127.0.0.1:port."""

    host: str = None
    port: int = None
    user: str = None

    def odoo_args(self):
        args = []
        if self.host:
            args.append(f"--db_host={self.host}")
        if self.port:
            args.append(f"--db_port={self.port}")
        if self.user:
            args.append(f"--db_user={self.user}")
        return args

    def connect(self, dbname, autocommit=True, statement_timeout_ms=60000):
        kwargs = {"dbname": dbname, "connect_timeout": 5, "application_name": "faults-orchestrator"}
        if self.host:
            kwargs["host"] = self.host
        if self.port:
            kwargs["port"] = self.port
        if self.user:
            kwargs["user"] = self.user
        kwargs["options"] = f"-c statement_timeout={statement_timeout_ms} -c lock_timeout=10000"
        conn = psycopg2.connect(**kwargs)
        conn.autocommit = autocommit
        return conn

    def client_args(self):
        args = []
        if self.host:
            args += ["-h", self.host]
        if self.port:
            args += ["-p", str(self.port)]
        if self.user:
            args += ["-U", self.user]
        return args

    def drop_database(self, dbname):
        subprocess.run(
            [str(PG_BIN / "dropdb"), *self.client_args(), "--if-exists", "--force", dbname],
            check=False,
            timeout=60,
            capture_output=True,
        )


def query(conn, sql, params=None):
    with conn.cursor() as cr:
        cr.execute(sql, params)
        return cr.fetchall() if cr.description else []


def scalar(conn, sql, params=None):
    rows = query(conn, sql, params)
    return rows[0][0] if rows else None
