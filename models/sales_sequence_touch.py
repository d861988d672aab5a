from dataclasses import dataclass, field

from markupsafe import Markup

from odoo import _, api, fields, models, tools
from odoo.tools import SQL

from ..lib.links import rewrite_links
from .sales_sequence_step import STEP_TYPES


@dataclass
class SendBatch:
    """What a mail-queue batch needs to decorate and record its sequence emails, read once before the batch.

    Plain values, not records: Odoo's mail queue commits after each email, and a commit empties the ORM cache.
    `mail_ids` are the batch's mails; `touches` maps the id of each sequence email among them to (step run id,
    enrollment id, tracking enabled, unsubscribe style); `trackers` the link trackers made so far, by URL (made once
    per URL, whatever the number of emails that carry it); `links` the trackers each step run's email carries,
    written with its `sent_at`."""

    mail_ids: frozenset = frozenset()
    touches: dict = field(default_factory=dict)
    trackers: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)


class SalesSequenceTouch(models.Model):
    """A step run for one enrollment. At most one per (enrollment, step): the database itself refuses a second
    send of a step, whatever path or worker attempts it.

    Touches are history, append-only: users read them, nobody but the engine (as superuser) writes them, and
    nothing deletes them, directly (no access right) or by cascade (an enrollment with touches cannot be deleted).
    The daily limit counts them, so no user can shrink a mailbox's count."""

    _name = "sales.sequence.touch"
    _description = "Sales Sequence Step Run"
    _order = "date desc, id desc"
    _rec_name = "subject"

    enrollment_id = fields.Many2one("sales.sequence.enrollment", required=True, index=True, ondelete="restrict")
    step_id = fields.Many2one("sales.sequence.step", index=True, ondelete="set null")
    sequence_id = fields.Many2one(related="enrollment_id.sequence_id", store=True, index=True)
    partner_id = fields.Many2one(related="enrollment_id.partner_id", string="Contact", store=True)
    user_id = fields.Many2one(related="enrollment_id.user_id", store=True)
    company_id = fields.Many2one(related="enrollment_id.company_id", store=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    kind = fields.Selection(STEP_TYPES, string="Type", default="email", required=True, index=True)
    variant_id = fields.Many2one("sales.sequence.step.variant", index="btree_not_null")
    activity_id = fields.Many2one("mail.activity", index="btree_not_null", ondelete="set null")
    done_at = fields.Datetime(string="Done On", help="Task, call: when the activity was marked done (or canceled).")
    call_outcome_id = fields.Many2one(
        "sales.sequence.call.outcome", index="btree_not_null", ondelete="restrict", help="Call: what came of it."
    )
    branch_answer = fields.Selection(
        [("yes", "Yes"), ("no", "No")], help="Branch: the answer its condition gave, hence the path taken."
    )
    mailbox = fields.Char(help="Normalized sender address, the unit of the daily limit.", index=True)
    subject = fields.Char()
    mail_message_id = fields.Many2one("mail.message", string="Message", index="btree_not_null", ondelete="set null")
    message_id = fields.Char(
        string="Message-Id", index="btree_not_null", help="Message-Id of the email sent: replies and bounces match it."
    )
    sent_at = fields.Datetime(
        string="Sent On", help="When the mail queue handed the email to the mail server (an SMS: to the provider)."
    )
    sms_uuid = fields.Char(string="SMS UUID", index="btree_not_null", help="The text queued in Odoo's SMS queue.")
    failed = fields.Boolean(help="The mail queue could not send it; resuming the enrollment sends the step again.")
    link_tracker_ids = fields.Many2many(
        "link.tracker", string="Tracked Links", help="The links of this email: the only ones its redirects lead to."
    )
    record_pending = fields.Boolean(
        help="The mail queue sent it; its send event and the contact's note are written with the rest of its batch "
        "(or by the run cron, should the mail queue die first)."
    )

    def init(self):
        # One successful run per (enrollment, step): the database refuses a second send, whatever path or worker
        # attempts it. A failed send does not count, so resuming sends the step again.
        # 18.0.1.0.0's plain unique constraint, which refused the re-send of a failed step: migrations/18.0.1.1.0.
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS sales_sequence_touch_sent_once "
            "ON sales_sequence_touch (enrollment_id, step_id) WHERE failed IS NOT TRUE"
        )
        # The run cron looks for emails the mail queue left in exception (_fail_lost_sends): a small index.
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS sales_sequence_mail_mail_exception_idx "
            "ON mail_mail (mail_message_id) WHERE state = 'exception'"
        )
        # The sent emails whose event and note are still to write: a handful at any time, found without a scan.
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS sales_sequence_touch_record_pending_idx "
            "ON sales_sequence_touch (id) WHERE record_pending"
        )

    def _record_call_outcomes(self):
        """The call steps' outcomes, as the activities marked done carry them (before Odoo deletes them)."""
        for touch in self.filtered(lambda t: t.kind == "call" and t.activity_id.sales_sequence_call_outcome_id):
            touch.call_outcome_id = touch.activity_id.sales_sequence_call_outcome_id

    def _count_sent_by_mailbox(self, mailbox, start, end):
        """Emails the mailbox sent in [start, end), across all sequences and companies."""
        self.flush_model(["mailbox", "date"])
        self.env.cr.execute(
            SQL(
                "SELECT count(*) FROM sales_sequence_touch WHERE mailbox = %s AND date >= %s AND date < %s "
                "AND failed IS NOT TRUE",
                mailbox,
                start,
                end,
            )
        )
        return self.env.cr.fetchone()[0]

    def _metrics(self, group_field, ids):
        """{id: {sent, delivered, opened, clicked, replied, bounced, unsubscribed, sms, activities}} of the step
        runs grouped by `group_field` ("sequence_id" or "step_id"), in one query. A reply or an unsubscribe counts
        for the latest email before it; opens, clicks and bounces for the email they name."""
        if not ids:
            return {}
        assert group_field in ("sequence_id", "step_id")
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                WITH t AS (
                    SELECT id, enrollment_id, %(group)s AS group_id, kind, sent_at, date,
                           lead(date) OVER (PARTITION BY enrollment_id, kind IN ('email', 'email_reminder')
                                            ORDER BY date, id) AS next_date
                      FROM sales_sequence_touch
                     WHERE %(group)s = ANY(%(ids)s) AND failed IS NOT TRUE
                )
                SELECT group_id,
                       count(*) FILTER (WHERE is_email),
                       count(*) FILTER (WHERE is_email AND sent_at IS NOT NULL AND NOT bounced),
                       count(*) FILTER (WHERE opened),
                       count(*) FILTER (WHERE clicked),
                       count(*) FILTER (WHERE replied),
                       count(*) FILTER (WHERE bounced),
                       count(*) FILTER (WHERE unsubscribed),
                       count(*) FILTER (WHERE kind = 'sms' AND sent_at IS NOT NULL),
                       count(*) FILTER (WHERE kind IN ('task', 'call'))
                  FROM (
                    SELECT t.group_id, t.kind, t.sent_at, t.kind IN ('email', 'email_reminder') AS is_email,
                           EXISTS (SELECT 1 FROM sales_sequence_event ev
                                    WHERE ev.touch_id = t.id AND ev.event_type = 'open') AS opened,
                           EXISTS (SELECT 1 FROM sales_sequence_event ev
                                    WHERE ev.touch_id = t.id AND ev.event_type = 'click') AS clicked,
                           EXISTS (SELECT 1 FROM sales_sequence_event ev
                                    WHERE ev.touch_id = t.id AND ev.event_type = 'bounce') AS bounced,
                           t.kind IN ('email', 'email_reminder') AND EXISTS (
                               SELECT 1 FROM sales_sequence_event ev
                                WHERE ev.enrollment_id = t.enrollment_id AND ev.event_type = 'reply'
                                  AND ev.date >= t.date AND (t.next_date IS NULL OR ev.date < t.next_date)
                           ) AS replied,
                           t.kind IN ('email', 'email_reminder') AND EXISTS (
                               SELECT 1 FROM sales_sequence_event ev
                                WHERE ev.enrollment_id = t.enrollment_id AND ev.event_type = 'unsubscribe'
                                  AND ev.date >= t.date AND (t.next_date IS NULL OR ev.date < t.next_date)
                           ) AS unsubscribed
                      FROM t
                  ) runs
              GROUP BY group_id
                """,
                group=SQL.identifier(group_field),
                ids=list(ids),
            )
        )
        keys = ("sent", "delivered", "opened", "clicked", "replied", "bounced", "unsubscribed", "sms", "activities")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in self.env.cr.fetchall()}

    def _variant_stats(self, variant_ids):
        """{variant id: (sent, replied, opened, clicked)} from the step runs and their events, in one query."""
        if not variant_ids:
            return {}
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT t.variant_id, count(*),
                       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM sales_sequence_event ev
                                                       WHERE ev.enrollment_id = t.enrollment_id
                                                         AND ev.event_type = 'reply' AND ev.date >= t.date)),
                       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM sales_sequence_event ev
                                                       WHERE ev.touch_id = t.id AND ev.event_type = 'open')),
                       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM sales_sequence_event ev
                                                       WHERE ev.touch_id = t.id AND ev.event_type = 'click'))
                  FROM sales_sequence_touch t
                 WHERE t.variant_id = ANY(%s) AND t.failed IS NOT TRUE
              GROUP BY t.variant_id
                """,
                variant_ids,
            )
        )
        return {row[0]: row[1:] for row in self.env.cr.fetchall()}

    # ------------------------------------------------------------------
    # The outgoing email, decorated at send time
    # ------------------------------------------------------------------

    @api.model
    def _send_batch_for_mails(self, mails):
        """The SendBatch of the sequence emails among `mails` (mail.mail), in one query."""
        batch = SendBatch(mail_ids=frozenset(mails.ids))
        if not mails:
            return batch
        mails.flush_model(["mail_message_id"])
        self.env.cr.execute(
            SQL(
                """
                SELECT m.id, t.id, t.enrollment_id, s.tracking_enabled, s.unsubscribe_style
                  FROM mail_mail m
                  JOIN sales_sequence_touch t ON t.mail_message_id = m.mail_message_id
                  JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
                  JOIN sales_sequence s ON s.id = e.sequence_id
                 WHERE m.id = ANY(%s)
                """,
                mails.ids,
            )
        )
        batch.touches = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        return batch

    def _decorate_outgoing_body(self, body, send_batch, mail_id):
        """Tracked links and the open pixel (when the sequence tracks), then the unsubscribe text. Reads nothing:
        the sequence's settings come with `send_batch` (SendBatch), the URLs and tokens from configuration."""
        self.ensure_one()
        _touch_id, enrollment_id, tracking, unsubscribe_style = send_batch.touches[mail_id]
        enrollment = self.env["sales.sequence.enrollment"].browse(enrollment_id)
        base_url = enrollment.get_base_url()
        if tracking:
            body = self._track_links(body, base_url, enrollment, send_batch)
            pixel_token = enrollment._get_token("open", self.id)
            body = tools.mail.append_content_to_html(
                body,
                Markup('<img src="%s" alt="" width="1" height="1" style="display:none"/>')
                % f"{base_url}/sales_sequence/o/{self.id}/{pixel_token}",
                plaintext=False,
                preserve=False,
                container_tag="div",
            )
        return tools.mail.append_content_to_html(
            body,
            self._unsubscribe_html(unsubscribe_style, enrollment._get_unsubscribe_url()),
            plaintext=False,
            container_tag="div",
        )

    def _track_links(self, body, base_url, enrollment, send_batch):
        """Route each http(s) link through a redirect that leads only to the links of this email. A tracker is made
        once per URL for the whole batch (the emails of a step differ by their token only); which trackers this
        email carries is kept in `send_batch.links` and written with its `sent_at` (`_mark_sent`)."""
        token = enrollment._get_token("click", self.id)
        links = send_batch.links.setdefault(self.id, set())

        def tracked_url(url):
            if url.startswith(f"{base_url}/sales_sequence/"):
                return None  # our own unsubscribe and tracking links stay as they are
            if url not in send_batch.trackers:
                # sudo: link trackers are shared technical records
                tracker = self.env["link.tracker"].sudo().search_or_create([{"url": url, "title": url}])
                send_batch.trackers[url] = tracker.id
            links.add(send_batch.trackers[url])
            return f"{base_url}/sales_sequence/c/{self.id}/{send_batch.trackers[url]}/{token}"

        return rewrite_links(body, tracked_url)[0]

    def _unsubscribe_html(self, unsubscribe_style, url):
        if unsubscribe_style == "footer":
            return Markup(
                '<p style="font-size:11px;color:#888888;margin-top:24px">%s <a href="%s" style="color:#888888">%s</a>'
                "</p>"
            ) % (_("Not interested in these emails?"), url, _("Unsubscribe"))
        return Markup('<p><a href="%s">%s</a></p>') % (url, _("Unsubscribe from these emails"))

    @api.model
    def _lost_sends(self):
        """[(step run, failure reason)] of the emails the mail queue left in exception without telling anyone (the
        SMTP connection dropped mid-send: Odoo marks the mail before sending, and the error stops its queue before
        its post-send hook). The engine handles them as any send failure (`_fail_lost_sends`)."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT t.id, m.failure_reason
              FROM mail_mail m
              JOIN sales_sequence_touch t ON t.mail_message_id = m.mail_message_id
             WHERE m.state = 'exception' AND t.failed IS NOT TRUE AND t.sent_at IS NULL
            """
        )
        # sudo: the engine's own history, whoever runs the cron.
        return [
            (self.sudo().browse(touch_id), reason or _("the connection to the mail server was lost"))
            for touch_id, reason in self.env.cr.fetchall()
        ]

    @api.model
    def _mark_sent(self, touch_id, tracker_ids):
        """The mail queue handed the step run's email to the mail server: `sent_at` and the links its redirects may
        lead to, in one statement committed with the mail's own state; the run is flagged `record_pending` until
        its event and note are written (`sales.sequence.enrollment._record_sent_emails`). A run already marked or
        failed meanwhile (a bounce, a lost send) is left as it is. Returns whether it was marked."""
        table = self._fields["link_tracker_ids"]
        self.env.cr.execute(
            SQL(
                """
                WITH links AS (
                    INSERT INTO %(rel)s (%(touch_col)s, %(link_col)s)
                    SELECT %(touch)s, link FROM unnest(%(links)s::int[]) AS link
                    ON CONFLICT DO NOTHING
                )
                UPDATE sales_sequence_touch SET sent_at = %(now)s, record_pending = TRUE
                 WHERE id = %(touch)s AND sent_at IS NULL AND failed IS NOT TRUE
                """,
                rel=SQL.identifier(table.relation),
                touch_col=SQL.identifier(table.column1),
                link_col=SQL.identifier(table.column2),
                touch=touch_id,
                links=sorted(tracker_ids),
                now=fields.Datetime.now(),
            )
        )
        marked = bool(self.env.cr.rowcount)
        self.browse(touch_id).invalidate_recordset(["sent_at", "record_pending", "link_tracker_ids"])
        return marked
