import logging
from collections import defaultdict
from types import SimpleNamespace

from markupsafe import Markup

from odoo import Command, _, api, models, tools
from odoo.tools import email_normalize
from odoo.tools.misc import clean_context

from ..lib.variants import assign_variant

_logger = logging.getLogger(__name__)

# Where the body goes in the layout rendered once per batch (see _email_layout): a string no email contains.
LAYOUT_BODY_MARKER = "<!--sales-sequence-body-5f0c8a1e-->"


class SalesSequenceEnrollment(models.Model):
    """The email executor: `_run_email` blocks the unsendable, queues what is over the daily limits, renders (A/B
    variants) and sends the rest in one batch of mail rows. Approval joins through `_take_approved` (see
    sales_sequence_enrollment_approval.py)."""

    _inherit = "sales.sequence.enrollment"

    def _run_email(self, step, now, schedules):
        """Send `step` to these enrollments of one sequence: block the unsendable, draft what needs approval, queue
        what is over the daily limits, send the rest, each in its own savepoint so one failure never stops the
        others."""
        sequence = step.sequence_id
        schedule = schedules[sequence]
        sendable, drafts = self._block_unsendable()._take_approved(step, now)
        sendable = sendable._queue_over_limits(sequence, schedule, now)
        if not sendable:
            return
        contents = sendable._email_contents(step, drafts)
        sendable = sendable.filtered(lambda e: e.id in contents)
        sent = sendable._send_emails(step, contents, now, schedules)
        drafts.filtered(lambda d: d.enrollment_id in sent).sudo().write({"state": "sent"})  # sudo: engine status
        step._pick_ab_winner()

    def _take_approved(self, step, now):
        """(the enrollments that may be sent `step` now, their approved drafts): all of them, with no draft, here;
        sales_sequence_enrollment_approval.py overrides this with super() for the steps that ask for approval."""
        return self, self.env["sales.sequence.draft"]

    # ------------------------------------------------------------------
    # Who can be emailed
    # ------------------------------------------------------------------

    def _block_unsendable(self):
        """Block enrollments whose contact has no valid email address, end those whose address is blacklisted
        (unsubscribed here, from a newsletter, or by an admin: mail.blacklist); return the others."""
        blocked_emails = self._blacklisted_emails(self.partner_id.mapped("email_normalized"))
        blacklisted = self.filtered(lambda e: e.partner_id.email_normalized in blocked_emails)
        blacklisted._complete_blacklisted()
        remaining = self - blacklisted
        invalid = remaining.filtered(lambda e: not e.partner_id.email_normalized)
        missing = invalid.filtered(lambda e: not e.partner_id.email)
        missing._block(
            _("The contact has no email address: fill the contact's Email field, then resume the enrollment.")
        )
        for enrollment in invalid - missing:
            enrollment._block(
                _(
                    "The contact's email address '%(email)s' is invalid: correct the contact's Email field, "
                    "then resume the enrollment.",
                    email=enrollment.partner_id.email,
                )
            )
        return remaining - invalid

    @api.model
    def _blacklisted_emails(self, emails):
        """The addresses among `emails` on mail.blacklist, whatever put them there, in one query."""
        emails = [email for email in emails if email]
        if not emails:
            return set()
        # sudo: the blacklist is technical; only membership of addresses we already hold comes back.
        return set(self.env["mail.blacklist"].sudo().search([("email", "in", emails)]).mapped("email"))

    def _complete_blacklisted(self):
        self.env["sales.sequence.event"]._record(self, "skip", _("Blacklisted address: not sent."))
        for enrollment in self:
            enrollment._end(
                "completed",
                _(
                    "%(email)s is on the blacklist (unsubscribed): no sequence email goes to it.",
                    email=enrollment.partner_id.email_normalized,
                ),
            )

    # ------------------------------------------------------------------
    # Content: A/B variants and rendering
    # ------------------------------------------------------------------

    def _variant_for(self, step):
        """The A/B variant this enrollment receives for `step` (the winner once there is one), or an empty one."""
        self.ensure_one()
        if step.winner_variant_id:
            return step.winner_variant_id
        return step.variant_ids.browse(assign_variant(self.id, step.id, step.variant_ids.ids))

    def _email_contents(self, step, drafts):
        """{enrollment id: (subject, body, variant)}: an approved draft's own content, else rendered per variant.
        Enrollments whose email cannot be rendered are blocked with the placeholder that failed, and left out."""
        contents = {}
        by_draft = {draft.enrollment_id.id: draft for draft in drafts}
        for enrollment in self.filtered(lambda e: e.id in by_draft):
            draft = by_draft[enrollment.id]
            contents[enrollment.id] = (draft.subject or "", draft.body_html or "", draft.variant_id)
        to_render = self.filtered(lambda e: e.id not in by_draft)
        groups = (
            to_render.grouped(lambda e: e._variant_for(step)) if step.variant_ids else {step.variant_ids: to_render}
        )
        for variant, group in groups.items():
            enrollments = group._hold_empty_merge_fields(step, variant or None)
            rendered, errors = enrollments._render_step(step, variant or None)
            for enrollment in enrollments:
                error = errors.get(enrollment.partner_id.id)
                if error:
                    enrollment._block(
                        _(
                            "The email could not be rendered. %(error)s. Fix the step or the contact, then resume "
                            "the enrollment.",
                            error=error,
                        )
                    )
                    continue
                subject, body = rendered[enrollment.partner_id.id]
                contents[enrollment.id] = (subject, body, variant)
        return contents

    def _render_step(self, step, variant=None):
        """Render the step for all contacts at once; when that fails, render one by one to find the culprits.

        Returns ({partner_id: (subject, body)}, {partner_id: error message}).
        """
        partner_ids = self.partner_id.ids
        try:
            with self.env.cr.savepoint():
                return step._render_email(partner_ids, variant), {}
        except Exception:  # noqa: BLE001 - isolate the contacts whose data breaks the template
            _logger.info("Sequence step %s: batch rendering failed, rendering contact by contact", step.id)
        rendered, errors = {}, {}
        for partner in self.partner_id:
            try:
                with self.env.cr.savepoint():
                    rendered.update(step._render_email(partner.ids, variant))
            except Exception as error:  # noqa: BLE001
                errors[partner.id] = step._explain_render_error(partner, error, variant)
        return rendered, errors

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    # ------------------------------------------------------------------
    # The mail rows, built as Odoo's message_post would build them
    # ------------------------------------------------------------------
    # One message_post per contact runs Odoo's whole notify pipeline per email (followers, recipients, ancestors, a
    # QWeb layout render); here a batch costs one create per kind of row (bench/ measures it). What follows is what
    # message_post (addons/mail/models/mail_thread.py, Odoo 18.0) would produce for a comment posted to the
    # enrollment for the contact alone, part by part:
    #   - the mail.message values:  message_post, msg_values (_email_values "message": model, res_id, message_type,
    #     subtype_id, author_id, email_from, subject, body, partner_ids) and its "default-like values"
    #     (_get_thread_values: record_alias_domain_id, record_company_id, reply_to);
    #   - Message-Id and References: mail.message._get_message_id's generate_tracking_message_id('<res_id>-<model>'),
    #     and _notify_by_email_get_base_mail_values' references (ours: the earlier sequence emails, for threading);
    #   - the headers: _notify_by_email_get_base_mail_values (Return-Path from the alias domain) and
    #     models._notify_by_email_get_headers (X-Odoo-Objects, the company's bounce address) in _email_headers;
    #   - the mail.mail: _notify_thread_by_email with _notify_by_email_get_final_mail_values (recipient_ids,
    #     body_html from _notify_by_email_render_layout: ours is the sequence layout, see _email_layout; auto_delete,
    #     is_notification, state outgoing), created with sudo and a clean context as it does (SafeMail);
    #     mail.mail _inherits mail.message, so one create makes both rows;
    #   - the mail.notification: _notify_thread_by_email's notif_create_values (is_read, ready, email), in one create.
    # Left out on purpose: follower notifications (the contact alone receives it: create runs with
    # mail_create_nosubscribe), the author's subscription, the inbox/bus notifications, and the immediate send
    # (force_send): Odoo's mail queue sends, woken by _send_emails.

    def _send_emails(self, step, contents, now, schedules, advance=True):
        """Send each enrollment its content: the whole batch in one savepoint with one create per kind of row
        (messages and their mail.mail, notifications, step runs, contact notes); when that fails, one savepoint
        per enrollment isolates the culprit. Returns the enrollments sent."""
        if not self:
            return self
        values = self._email_values(step, contents, now)
        try:
            with self.env.cr.savepoint():
                self._create_emails(step, values, now)
            sent = self
        except Exception:  # noqa: BLE001 - find the enrollments that break the batch, send the others
            _logger.info("Sequence step %s: batch send failed, sending one by one", step.id, exc_info=True)
            sent = self.browse()
            for enrollment in self:
                try:
                    with self.env.cr.savepoint():
                        enrollment._create_emails(step, {enrollment.id: values[enrollment.id]}, now)
                    sent |= enrollment
                except Exception as error:  # noqa: BLE001 - one contact's failure must not stop the batch
                    _logger.warning(
                        "Sequence enrollment %s: sending step %s failed", enrollment.id, step.id, exc_info=True
                    )
                    enrollment._block(_("Sending step '%(step)s' failed: %(error)s", step=step.name, error=error))
        if sent:
            # Odoo's mail queue runs hourly unless woken: the emails leave now, each chunk as soon as it commits.
            self.env.ref("mail.ir_cron_mail_scheduler_action")._trigger()
        if advance:
            sent._advance_batch(step, now, schedules)
        return sent

    def _email_values(self, step, contents, now):
        """{enrollment id: {"message": mail.mail values, "touch": step run values}}, computed from values read
        once for the batch: threading from the earlier emails, sender routing, headers, the rendered layout."""
        sequence = step.sequence_id
        thread_values = self._get_thread_values(sequence._get_email_from())
        earlier = self._earlier_emails()
        comment = self.env.ref("mail.mt_comment")
        first_step = step._is_first_step()
        layouts = {}
        result = {}
        for enrollment in self:
            subject, body, variant = contents[enrollment.id]
            partner = enrollment.partner_id
            thread = thread_values[enrollment.id]
            previous = earlier.get(enrollment.id, [])
            headers = enrollment._email_headers(thread, step)
            references = []
            if step.thread_mode == "reply" and previous and not first_step:
                subject = "Re: {}".format(previous[0][1].removeprefix("Re: "))
                references = [message_id for message_id, _subject in previous]
                headers["In-Reply-To"] = references[-1]
            message_id = tools.mail.generate_tracking_message_id(f"{enrollment.id}-{enrollment._name}")
            author = sequence._get_author(partner)
            # The prospect sees the sender's name on the reply address, never the record's (Odoo's default
            # "Company Contact / Sequence" would show the internal sequence name).
            reply_address = tools.email_split(thread["reply_to"])
            reply_to = tools.formataddr((author.name or "", reply_address[0])) if reply_address else thread["reply_to"]
            result[enrollment.id] = {
                "message": {
                    "model": enrollment._name,
                    "res_id": enrollment.id,
                    "message_type": "comment",
                    "subtype_id": comment.id,
                    "is_internal": False,
                    "author_id": author.id,
                    "email_from": sequence._get_email_from(partner),
                    "subject": " ".join(subject.splitlines()),
                    "body": Markup(body),
                    "body_html": enrollment._email_layout(body, author, step, layouts),
                    "message_id": message_id,
                    # RFC 5322: the ancestors only; the first email has none.
                    "references": " ".join(references) or False,
                    "reply_to": reply_to,
                    "record_alias_domain_id": thread["record_alias_domain_id"],
                    "record_company_id": thread["record_company_id"],
                    "email_add_signature": step.use_signature,
                    "email_layout_xmlid": "sales_sequence.mail_layout_sequence",
                    "mail_server_id": sequence.mail_server_id.id,
                    "partner_ids": [Command.link(partner.id)],
                    "recipient_ids": [Command.link(partner.id)],
                    "email_cc": step.email_cc or False,
                    "headers": repr(headers),
                    "auto_delete": True,
                    "is_notification": True,
                    "state": "outgoing",
                },
                "touch": {
                    "enrollment_id": enrollment.id,
                    "step_id": step.id,
                    "date": now,
                    "mailbox": enrollment._get_mailbox(),
                    "message_id": message_id,
                    "subject": subject,
                    "kind": step.step_type,
                    "variant_id": variant.id if variant else False,
                },
            }
        return result

    def _earlier_emails(self):
        """{enrollment id: [(Message-Id, subject)] of its emails sent so far, oldest first}, in one query."""
        # sudo: step runs are engine history; only those of these enrollments are read.
        touches = (
            self.env["sales.sequence.touch"]
            .sudo()
            .search(
                [("enrollment_id", "in", self.ids), ("message_id", "!=", False), ("failed", "=", False)],
                order="date, id",
            )
        )
        earlier = defaultdict(list)
        for touch in touches:
            earlier[touch.enrollment_id.id].append((touch.message_id, touch.subject or ""))
        return earlier

    def _email_headers(self, thread, step):
        """The headers Odoo's notification would set (X-Odoo-Objects and Return-Path, as
        _notify_by_email_get_base_mail_values and models._notify_by_email_get_headers do), the RFC 8058 unsubscribe
        headers and the step's BCC (sent to, never shown)."""
        self.ensure_one()
        headers = {"X-Odoo-Objects": f"{self._name}-{self.id}"}
        # sudo: the bounce address of the alias domain, as Odoo's notification reads it.
        alias_domain = self.env["mail.alias.domain"].sudo().browse(thread["record_alias_domain_id"])
        company = self.env["res.company"].sudo().browse(thread["record_company_id"])
        bounce = alias_domain.bounce_email or company.bounce_email
        if bounce:
            headers["Return-Path"] = bounce
        if step.sequence_id.use_list_headers:
            # Mail clients' own Unsubscribe button; RFC 3834 auto-responders then treat the email as list mail.
            headers["List-Unsubscribe"] = self._get_list_unsubscribe(thread["reply_to"])
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if step.email_bcc:
            headers["Bcc"] = step.email_bcc
        return headers

    def _get_list_unsubscribe(self, reply_to):
        """RFC 8058 one-click unsubscribe: an https URL and a mailto, both carrying the enrollment's token."""
        self.ensure_one()
        token = self._get_token("unsubscribe")
        url = self._get_unsubscribe_url()
        mailbox = email_normalize(reply_to or "") or self._get_mailbox()
        return f"<{url}>, <mailto:{mailbox}?subject=unsubscribe-{self.id}-{token}>"

    def _email_layout(self, body, author, step, layouts):
        """The email as it leaves: the body and the sender's signature in the sequence layout (no Odoo chrome).
        The layout is rendered once per signature and language (`layouts` caches it) around a marker the body
        replaces: the same HTML as rendering it per email, without a QWeb render per email."""
        self.ensure_one()
        user = author.user_ids[:1]
        signature = user.signature if step.use_signature and user else ""
        lang = self.partner_id.lang or self.env.lang
        if (signature, lang) not in layouts:
            layouts[signature, lang] = str(self._render_layout(LAYOUT_BODY_MARKER, signature, lang))
        before, marker, after = layouts[signature, lang].partition(LAYOUT_BODY_MARKER)
        if not marker:  # a customized layout that does not show the body as is: render it for this email
            return self._render_layout(body, signature, lang)
        return Markup(before + str(body) + after)

    def _render_layout(self, body, signature, lang):
        return self.env["ir.qweb"]._render(
            "sales_sequence.mail_layout_sequence",
            {"message": SimpleNamespace(body=Markup(body)), "signature": signature, "lang": lang},
            minimal_qcontext=True,
            lang=lang,
        )

    def _create_emails(self, step, values, now):
        """One create per kind of row for the whole batch (see "The mail rows" above); the step runs' unique index
        refuses a second send."""
        # sudo and clean_context: as _notify_thread_by_email creates them (SafeMail, SafeNotification), whatever
        # the user and without residual default_* keys; mail.mail creates its mail.message through _inherits.
        mails = (
            self.env["mail.mail"]
            .sudo()
            .with_context(**clean_context(self.env.context))
            .create([values[enrollment.id]["message"] for enrollment in self])
        )
        # _notify_thread_by_email's notif_create_values: the email notification the chatter shows as sent or not.
        self.env["mail.notification"].sudo().create(
            [
                {
                    "author_id": mail.author_id.id,
                    "is_read": True,
                    "mail_mail_id": mail.id,
                    "mail_message_id": mail.mail_message_id.id,
                    "notification_status": "ready",
                    "notification_type": "email",
                    "res_partner_id": enrollment.partner_id.id,
                }
                for enrollment, mail in zip(self, mails, strict=True)
            ]
        )
        self.env["sales.sequence.touch"].sudo().create(
            [
                {**values[enrollment.id]["touch"], "mail_message_id": mail.mail_message_id.id}
                for enrollment, mail in zip(self, mails, strict=True)
            ]
        )

    def _get_thread_values(self, email_from):
        """Per enrollment, message_post's "default-like values" (record_alias_domain_id, record_company_id,
        reply_to), looked up for the whole batch instead of one record at a time."""
        reply_tos = self._notify_get_reply_to(default=email_from)
        # sudo: as message_post itself does, alias domains are read whatever the sender may read; only ids leave.
        alias_domains = self.sudo()._mail_get_alias_domains(default_company=self.env.company)
        companies = self._mail_get_companies(default=self.env.company)
        return {
            enrollment.id: {
                "reply_to": reply_tos[enrollment.id],
                "record_alias_domain_id": alias_domains[enrollment.id].id,
                "record_company_id": companies[enrollment.id].id,
            }
            for enrollment in self
        }

    def _log_on_contacts(self, step, subjects):
        """A note on each contact's chatter, all in one batch, for the step just sent."""
        if not self:
            return
        bodies = {}
        for enrollment in self:  # not a comprehension: _() finds the language in the caller's frame
            bodies[enrollment.partner_id.id] = _(
                "Sequence %(sequence)s, step '%(step)s' sent: %(subject)s",
                sequence=enrollment.sequence_id.name,
                step=step.name,
                subject=subjects[enrollment.id],
            )
        self.partner_id._message_log_batch(bodies=bodies, author_id=step.sequence_id.user_id.partner_id.id)
