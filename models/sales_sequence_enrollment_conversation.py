import logging
from datetime import datetime, time, timedelta

from markupsafe import Markup, escape
from psycopg2.errors import SerializationFailure

from odoo import _, api, fields, models
from odoo.tools import consteq, email_normalize, format_date, html2plaintext
from odoo.tools.misc import hmac

from ..lib import inbound as inbound_lib
from .sales_sequence_enrollment import DUE_STATES, OPEN_STATES, SENDING_STATES, cached_schedule

_logger = logging.getLogger(__name__)

# A soft bounce retries the step; this many within SOFT_BOUNCE_WINDOW stop the enrollment.
SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=7)
# A DSN answers one email; a few more Message-Ids (its References) are tolerated, never a list to end many.
MAX_BOUNCE_REFERENCES = 10
BOUNCE_FALLBACK_WINDOW = timedelta(days=7)


class SalesSequenceEnrollment(models.Model):
    """The conversation: how an enrollment reacts to what comes back (replies, auto-replies, bounces, unsubscribes)
    and to the mail queue's verdict (sent, failed). Every reaction is recorded as a sales.sequence.event first,
    then changes the enrollment through the transitions of sales_sequence_enrollment.py."""

    _inherit = "sales.sequence.enrollment"

    # ------------------------------------------------------------------
    # The mail gateway: every inbound message, whatever its route
    # ------------------------------------------------------------------

    @api.model
    def _process_inbound(self, message, message_dict):
        """Classify an inbound message (lib/inbound/) and apply it to the enrollments it concerns. Called by the
        gateway before Odoo routes the message; returns nothing, changes `message_dict` only to hand a bounce that
        Odoo did not recognise to Odoo's own bounce handling."""
        received = (message_dict.get("date") and fields.Datetime.to_datetime(message_dict["date"])) or datetime.now()
        inbound = inbound_lib.classify(message, received=received.date())
        if self._process_unsubscribe_mail(message_dict):
            return
        references = self._message_references(inbound, message_dict)
        if inbound.kind == "complaint":
            self._on_complaint(inbound.complaint, references, message_dict)
            return
        if inbound.kind == "bounce":
            self._on_bounce(inbound.bounce, references, message_dict)
            return
        sender = email_normalize(message_dict.get("email_from") or "")
        if not sender or self._is_own_address(sender):
            return
        enrollments = self._find_by_references(references) | self._find_running_by_email(sender)
        if inbound.kind == "auto_reply":
            enrollments._on_auto_reply(inbound.auto_reply, message_dict)
        else:
            enrollments._on_reply(message_dict, threaded=self._find_by_references(references))

    @api.model
    def _message_references(self, inbound, message_dict):
        references = list(inbound.references)
        for header in ("in_reply_to", "references"):
            references.extend((message_dict.get(header) or "").split())
        return [reference.strip() for reference in dict.fromkeys(references) if reference.strip()]

    @api.model
    def _find_by_references(self, references):
        """Enrollments one of whose emails the message answers (or quotes), whoever sent it."""
        if not references:
            return self.browse()
        touches = self.env["sales.sequence.touch"].search([("message_id", "in", references)])
        return touches.enrollment_id

    @api.model
    def _find_running_by_email(self, email):
        """Running enrollments of every contact sharing this normalized address, in every sequence."""
        partners = self.env["res.partner"].with_context(active_test=False).search([("email_normalized", "=", email)])
        if not partners:
            return self.browse()
        return self.search([("partner_id", "in", partners.ids), ("state", "in", SENDING_STATES)])

    @api.model
    def _is_own_address(self, email):
        """An address of an internal user or of a sequence mailbox: our side of the conversation, not a reply."""
        users = (
            self.env["res.users"]
            .with_context(active_test=False)
            .search([("email_normalized", "=", email), ("share", "=", False)], limit=1)
        )
        return bool(users)

    # ------------------------------------------------------------------
    # Replies
    # ------------------------------------------------------------------

    def _on_reply(self, message_dict, threaded):
        """A reply stops the emails: paused, or ended completed when the sequence says so; the owner gets an
        activity, the contact's chatter and (when the reply was routed elsewhere) the enrollment's show it."""
        if not self:
            return
        when = fields.Datetime.now()
        subject = message_dict.get("subject") or ""
        snippet = self._reply_snippet(message_dict)
        # On the step that was answered (the latest sent), as Metrics count it, not on the next one.
        latest = self._latest_sent_touches()
        for touch, enrollments in self.grouped(lambda e: latest.get(e.id, self.env["sales.sequence.touch"])).items():
            self.env["sales.sequence.event"]._record(
                enrollments,
                "reply",
                subject[:200],
                step=touch.step_id if touch else None,
                touch_id=touch.id or False,
                message_id=message_dict.get("message_id") or False,
            )
        reason = _("Replied on %(date)s.", date=format_date(self.env, when))
        running = self.filtered(lambda e: e.state in SENDING_STATES)
        running |= running._account_mates().filtered(lambda e: e.state in SENDING_STATES)
        to_complete = running.filtered(lambda e: e.sequence_id.on_reply == "complete")
        to_complete._end("completed", reason)
        (running - to_complete)._pause(reason, next_run_at=False)
        note = Markup("<p>%s</p><blockquote>%s</blockquote>") % (
            _("Reply received from %(sender)s: %(subject)s", sender=message_dict.get("email_from"), subject=subject),
            snippet,
        )
        for enrollment in self:
            if enrollment not in threaded:
                enrollment._message_log(body=note)
            enrollment.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("Reply to handle"),
                note=note,
                user_id=enrollment.sequence_id.user_id.id,
            )
        self.partner_id._message_log_batch(
            bodies=dict.fromkeys(
                self.partner_id.ids,
                Markup("<p>%s</p><blockquote>%s</blockquote>")
                % (_("Replied to a sales sequence: %(subject)s", subject=subject), snippet),
            )
        )

    def _latest_sent_touches(self):
        """{enrollment id: its latest step run that went out}, in one query."""
        # sudo: step runs are engine history; only those of these enrollments are read.
        touches = (
            self.env["sales.sequence.touch"]
            .sudo()
            .search([("enrollment_id", "in", self.ids), ("failed", "=", False)], order="date, id")
        )
        return {touch.enrollment_id.id: touch for touch in touches}

    @api.model
    def _reply_snippet(self, message_dict):
        lines = html2plaintext(message_dict.get("body") or "").splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith(">")).strip()
        return escape(text[:500])

    # ------------------------------------------------------------------
    # Auto-replies
    # ------------------------------------------------------------------

    def _on_auto_reply(self, auto_reply, message_dict):
        """Logged, never a reply: the enrollment goes on. A stated return date holds the next step until then."""
        if not self:
            return
        self.env["sales.sequence.event"]._record(
            self,
            "auto_reply",
            auto_reply.reason[:200],
            message_id=message_dict.get("message_id") or False,
            return_date=auto_reply.return_date or False,
        )
        body = _("Auto-reply received (%(reason)s); the sequence goes on.", reason=auto_reply.reason)
        if auto_reply.return_date:
            body = _(
                "Auto-reply received: away until %(date)s. The next step waits until then.",
                date=format_date(self.env, auto_reply.return_date),
            )
        for enrollment in self:
            enrollment._message_log(body=body)
        if auto_reply.return_date:
            self._hold_until(auto_reply.return_date)

    def _hold_until(self, return_date):
        """Move the next step of running enrollments to the first allowed slot on or after `return_date`."""
        back = datetime.combine(return_date, time.min)
        reason = _("Out of office: the next step waits for the return on %(date)s.", date=format_date(self.env, back))
        schedules = {}
        for enrollment in self.filtered(lambda e: e.state in DUE_STATES and e.step_id):
            schedule = cached_schedule(schedules, enrollment.sequence_id)
            slot = enrollment._next_allowed_slot(schedule, back)
            if not enrollment.next_run_at or enrollment.next_run_at < slot:
                enrollment.write({"next_run_at": slot, "state_reason": reason})
        self._wake_cron_for_due()

    # ------------------------------------------------------------------
    # Bounces
    # ------------------------------------------------------------------

    @api.model
    def _on_bounce(self, bounce, references, message_dict):
        """Match a bounce to what we sent and apply it: hard stops, soft retries until the third in a week.

        Anyone can mail the catchall a text that looks like a DSN and lists addresses: such a message must not end
        the enrollments of those addresses. A bounce therefore counts
        * for an email it quotes (its Message-Id, which only the email's recipients ever saw), where it names that
          email's recipient when it names any; at most MAX_BOUNCE_REFERENCES emails;
        * else, since many real DSNs quote nothing of the original (Domino, Exim, some ISPs), only when it names
          exactly one address, and then only for the one latest email sent to that address in the last
          BOUNCE_FALLBACK_WINDOW (a DSN comes within the few days a server retries)."""
        if not bounce:
            return
        touches = self._reported_touches(bounce, references, message_dict)
        # The latest send each bounce quotes; a send already marked failed was retried: nothing more to do.
        by_enrollment = {
            enrollment: sent.sorted("date")[-1] for enrollment, sent in touches.grouped("enrollment_id").items()
        }
        if not by_enrollment:
            return
        if bounce.kind == "hard":
            self._hand_bounce_to_odoo(bounce, message_dict, by_enrollment)
        for enrollment, touch in by_enrollment.items():
            enrollment._apply_bounce(bounce, touch, message_dict)

    @api.model
    def _on_complaint(self, complaint, references, message_dict):
        """An abuse report (ARF, an SES complaint) about one of our emails: the address is never mailed again (it
        is blacklisted and every open enrollment of it ends), as the mailbox providers' bulk-sender rules demand.
        Matched like a bounce, so a forged report names nobody it may not."""
        if not complaint:
            return
        touches = self._reported_touches(complaint, references, message_dict)
        how = _("abuse report from the recipient's mailbox provider (%(origin)s)", origin=complaint.source.upper())
        for enrollment in touches.enrollment_id:
            enrollment._unsubscribe(how)

    @api.model
    def _reported_touches(self, report, references, message_dict):
        """The emails a bounce or a complaint (`report`) may act on, by the rules of `_on_bounce`."""
        named = {email_normalize(recipient) or recipient for recipient in report.recipients}
        if message_dict.get("bounced_email"):
            named.add(message_dict["bounced_email"])
        quoted = self._quoted_touches(report, references, message_dict)
        if quoted:
            return quoted.filtered(lambda t: t.enrollment_id.partner_id.email_normalized in named) if named else quoted
        if len(named) == 1:
            return self._latest_touch_to(next(iter(named)))
        return quoted

    @api.model
    def _quoted_touches(self, bounce, references, message_dict):
        """Our emails whose Message-Id the bounce quotes (in its original part, its references or Odoo's parse)."""
        message_ids = list(bounce.original_message_ids) + list(message_dict.get("bounced_msg_ids") or []) + references
        message_ids = list(dict.fromkeys(message_ids))[:MAX_BOUNCE_REFERENCES]
        if not message_ids:
            return self.env["sales.sequence.touch"]
        return self.env["sales.sequence.touch"].search([("message_id", "in", message_ids), ("failed", "=", False)])

    @api.model
    def _latest_touch_to(self, email):
        """The one latest email sent to `email` in the last BOUNCE_FALLBACK_WINDOW, by a running enrollment."""
        since = fields.Datetime.now() - BOUNCE_FALLBACK_WINDOW
        enrollments = self._find_running_by_email(email)
        return self.env["sales.sequence.touch"].search(
            [
                ("enrollment_id", "in", enrollments.ids),
                ("message_id", "!=", False),
                ("failed", "=", False),
                ("date", ">=", since),
            ],
            order="date desc, id desc",
            limit=1,
        )

    @api.model
    def _hand_bounce_to_odoo(self, bounce, message_dict, by_enrollment):
        """Odoo counts bounces on the contact and the message (message_bounce, mail.notification) when it
        recognises a DSN; hand it the ones only our classifier recognised (plain-text qmail, Exchange NDRs...)."""
        if message_dict.get("is_bounce"):
            return
        enrollment, touch = next(iter(by_enrollment.items()))
        message_dict.update(
            is_bounce=True,
            bounced_email=enrollment.partner_id.email_normalized,
            bounced_partner=enrollment.partner_id.sudo(),
            bounced_msg_ids=[touch.message_id] if touch and touch.message_id else [],
            bounced_message=touch.mail_message_id.sudo() if touch else self.env["mail.message"].sudo(),
        )

    def _apply_bounce(self, bounce, touch, message_dict):
        self.ensure_one()
        detail = " ".join(filter(None, [bounce.status, bounce.diagnostic]))[:200]
        self.env["sales.sequence.event"]._record(
            self,
            "bounce" if bounce.kind == "hard" else "soft_bounce",
            detail,
            step=touch.step_id if touch else self.step_id,
            touch_id=touch.id if touch else False,
            message_id=message_dict.get("message_id") or False,
        )
        if bounce.kind == "hard":
            self._end("bounced", _("Hard bounce: %(detail)s", detail=detail or _("permanent delivery failure")))
            return
        since = fields.Datetime.now() - SOFT_BOUNCE_WINDOW
        recent = self.env["sales.sequence.event"].search_count(
            [("enrollment_id", "=", self.id), ("event_type", "=", "soft_bounce"), ("date", ">=", since)]
        )
        if recent >= SOFT_BOUNCE_LIMIT:
            self._end(
                "bounced",
                _("%(count)s soft bounces in 7 days (%(detail)s): stopped.", count=recent, detail=detail),
            )
        elif touch and self.state in SENDING_STATES:
            self._retry_step(
                touch,
                _(
                    "Soft bounce (%(detail)s): the step is sent again at the next slot.",
                    detail=detail or _("temporary failure"),
                ),
            )

    def _retry_step(self, touch, reason):
        """Send `touch`'s step again at the next allowed slot: the run no longer counts as done."""
        self.ensure_one()
        self._rewind_to(touch)
        schedule = self.sequence_id._get_send_schedule()
        self._activate(reason, next_run_at=self._next_allowed_slot(schedule, fields.Datetime.now()))
        self._wake_cron_for_due()

    def _rewind_to(self, touch):
        """Make `touch`'s step the next one again, timed from the send before it: that run does not count."""
        self.ensure_one()
        touch.sudo().failed = True  # sudo: step runs are engine history, users cannot write them
        # Now, not at the next flush: the unique index must see it before the step's next run is inserted.
        touch.flush_recordset(["failed"])
        # Several emails of the enrollment may fail (all queued before the first failure was known): the next step
        # is the earliest of their steps, never a later one, so no failed step is skipped.
        done_steps = self._done_touches().step_id
        failed_steps = self.touch_ids.filtered(lambda t: t.failed and t.step_id not in done_steps).step_id
        order = list(self.sequence_id.step_ids)
        earliest = min(failed_steps, key=lambda s: order.index(s) if s in order else len(order))
        previous = self._done_touches().filtered(lambda t: t.date <= touch.date).sorted("date")[-1:]
        self.write({"step_id": earliest.id, "last_touch_at": previous.date or False})

    # ------------------------------------------------------------------
    # Unsubscribe
    # ------------------------------------------------------------------

    def _unsubscribe(self, how):
        """Blacklist the contact's address and end all its open enrollments, in every sequence, completed."""
        self.ensure_one()
        email = self.partner_id.email_normalized
        if not email:
            return
        # sudo: the visitor of a public unsubscribe page, or a mail gateway, acts for the contact
        self.env["mail.blacklist"].sudo()._add(
            email, message=_("Unsubscribed from sales sequences (%(how)s).", how=how)
        )
        partners = self.env["res.partner"].with_context(active_test=False).search([("email_normalized", "=", email)])
        enrollments = self.search([("partner_id", "in", partners.ids), ("state", "in", OPEN_STATES)])
        enrollments |= self
        self.env["sales.sequence.event"]._record(enrollments, "unsubscribe", how)
        enrollments._end("completed", _("Unsubscribed on %(date)s.", date=format_date(self.env, fields.Date.today())))
        partners._message_log_batch(
            bodies=dict.fromkeys(
                partners.ids, _("Unsubscribed from sales sequences (%(how)s): the address is blacklisted.", how=how)
            )
        )

    @api.model
    def _process_unsubscribe_mail(self, message_dict):
        """The mailto of List-Unsubscribe: subject "unsubscribe-<enrollment id>-<token>". True when handled."""
        subject = (message_dict.get("subject") or "").strip().lower()
        if not subject.startswith("unsubscribe-"):
            return False
        parts = subject.split("-")
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        enrollment = self._from_token(int(parts[1]), "unsubscribe", parts[2])
        if enrollment:
            enrollment._unsubscribe(_("one-click email"))
        return bool(enrollment)

    # ------------------------------------------------------------------
    # Tokens: each opens one door (unsubscribe, open pixel, tracked click)
    # ------------------------------------------------------------------

    def _get_token(self, purpose, record_id=None):
        """HMAC of the record id and the purpose, keyed with the database secret: a token opens one door only."""
        return hmac(self.env(su=True), f"sales_sequence.{purpose}", record_id or self.id)

    def _get_unsubscribe_url(self):
        self.ensure_one()
        return f"{self.get_base_url()}/sales_sequence/unsubscribe/{self.id}/{self._get_token('unsubscribe')}"

    @api.model
    def _from_token(self, record_id, purpose, token):
        """The enrollment whose token for `purpose` is `token`, else an empty recordset (forged, swapped, bad)."""
        if not token or not isinstance(record_id, int) or record_id <= 0:
            return self.browse()
        enrollment = self.browse(record_id).exists()
        if not enrollment or not consteq(enrollment._get_token(purpose), token):
            return self.browse()
        return enrollment

    # ------------------------------------------------------------------
    # The mail queue's verdict
    # ------------------------------------------------------------------

    @api.model
    def _record_sent_emails(self):
        """The send event and the contact's note of every email the mail queue sent (`sales.sequence.touch.
        _mark_sent` flagged its step run `record_pending`, committed with the mail's state), written together, in
        the transaction that clears the flags: each sent email gets exactly one of each, whichever worker records
        it (the mail queue after its batch, the run cron after a crash). Returns how many."""
        self.env.flush_all()
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    "SELECT id FROM sales_sequence_touch WHERE record_pending ORDER BY id FOR NO KEY UPDATE SKIP LOCKED"
                )
                touch_ids = [row[0] for row in self.env.cr.fetchall()]
        except SerializationFailure:
            # Another worker recorded some of them since our snapshot. It may be the last one to look: the run
            # cron, woken now with a fresh snapshot, records the rest rather than its next hourly sweep.
            self._run_crons()[:1]._trigger()
            return 0
        if not touch_ids:
            return 0
        # sudo: engine history, whoever runs the mail queue.
        touches = self.env["sales.sequence.touch"].sudo().browse(touch_ids)
        touches.invalidate_recordset()
        Event = self.env["sales.sequence.event"].sudo()
        Event.create(
            [
                {
                    "enrollment_id": touch.enrollment_id.id,
                    "event_type": "send",
                    "description": touch.subject,
                    "step_id": touch.step_id.id,
                    "touch_id": touch.id,
                    "date": touch.sent_at,
                }
                for touch in touches
            ]
        )
        Event._update_last_contacted(touches.enrollment_id.partner_id, "send")
        # The contact's note says what really left: written once the mail server took the email, so a send that
        # failed and went again leaves one note.
        for step, sent in touches.grouped("step_id").items():
            for part in self._split_by_contact(sent):
                subjects = {touch.enrollment_id.id: touch.subject for touch in part}
                part.enrollment_id.sudo()._log_on_contacts(step, subjects)
        self.env.flush_all()
        self.env.cr.execute("UPDATE sales_sequence_touch SET record_pending = NULL WHERE id = ANY(%s)", [touch_ids])
        touches.invalidate_recordset(["record_pending"])
        return len(touch_ids)

    @api.model
    def _split_by_contact(self, touches):
        """`touches` in parts where no contact appears twice: a note per step run, as the batch log writes one per
        contact."""
        parts = []  # [(step run ids, contact ids)]
        for touch in touches:
            partner_id = touch.enrollment_id.partner_id.id
            part = next((part for part in parts if partner_id not in part[1]), None)
            if part is None:
                part = ([], set())
                parts.append(part)
            part[0].append(touch.id)
            part[1].add(partner_id)
        return [touches.browse(ids) for ids, _partners in parts]

    @api.model
    def _fail_lost_sends(self):
        """The emails the mail queue lost (`sales.sequence.touch._lost_sends`) are handled as any send failure, so
        the step is neither lost nor counted as sent. Returns how many."""
        lost = self.env["sales.sequence.touch"]._lost_sends()
        for touch, reason in lost:
            touch.enrollment_id._on_send_failure(touch, reason)
        return len(lost)

    def _on_send_failure(self, touch, reason):
        """The mail queue could not send: pause with the reason and tell the owner; resume sends the same step."""
        self.ensure_one()
        self._rewind_to(touch)
        self.env["sales.sequence.event"]._record(
            self, "send_failure", (reason or "")[:200], step=touch.step_id, touch_id=touch.id
        )
        self._pause(
            _(
                "Sending step '%(step)s' failed: %(reason)s. Fix the cause, then resume: the step is sent again.",
                step=touch.step_id.name,
                reason=reason or _("unknown error"),
            ),
            next_run_at=False,
        )
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=_("Sequence email not sent"),
            note=self.state_reason,
            user_id=self.sequence_id.user_id.id,
        )
