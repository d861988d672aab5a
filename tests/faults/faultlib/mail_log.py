"""Instrumentation of the throwaway database: every mail.mail row ever inserted."""

from .db import query

MAIL_LOG_SQL = """
CREATE TABLE IF NOT EXISTS faults_mail_mail_log (
    id serial PRIMARY KEY, mail_id integer, mail_message_id integer, at timestamp DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION faults_mail_mail_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO faults_mail_mail_log (mail_id, mail_message_id) VALUES (NEW.id, NEW.mail_message_id);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS faults_mail_mail_log ON mail_mail;
CREATE TRIGGER faults_mail_mail_log AFTER INSERT ON mail_mail FOR EACH ROW EXECUTE FUNCTION faults_mail_mail_log();
"""


def install_mail_log(conn):
    """Odoo deletes a sequence email's mail.mail row once sent (auto_delete): a trigger logs every row inserted
    (transactionally: a rolled-back insert leaves no log), so "one mail.mail per email" is counted after sending
    too. Instrumentation of the test database only; the addon is not touched."""
    query(conn, MAIL_LOG_SQL)
