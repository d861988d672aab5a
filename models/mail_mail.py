import logging

from odoo import models, tools

from ..lib.plaintext import prepare_for_plaintext

_logger = logging.getLogger(__name__)

# Where the SendBatch of the mail-queue batch being sent lives: the cursor's own cache, which the per-email commits
# of Odoo's mail queue leave alone (they empty the ORM cache).
SEND_BATCH_KEY = "sales_sequence.send_batch"


class MailMail(models.Model):
    """Sequence emails in Odoo's mail queue: tracking and the unsubscribe text added at send time (so the chatter
    copy holds neither), CC and BCC on the contact's own email, and the queue's verdict fed back to the enrollment.
    The whole batch's step runs are read once, before it (SendBatch), and its sends recorded together after it."""

    _inherit = "mail.mail"

    def _send(
        self,
        auto_commit=False,
        raise_exception=False,
        smtp_session=None,
        alias_domain_id=False,
        mail_server=False,
        post_send_callback=None,
    ):
        """The step runs of the batch read once before it (SendBatch); once the mail server took the emails, their
        send events and contacts' notes written together (`_record_sent_emails`), also when the batch stops on a
        dropped SMTP session: what was sent before the drop is recorded, the email in flight is a lost send."""
        cache = self.env.cr.cache
        previous = cache.get(SEND_BATCH_KEY)
        # sudo: the mail queue runs as whoever triggers it; the step runs only decorate and record these very emails.
        batch = cache[SEND_BATCH_KEY] = self.env["sales.sequence.touch"].sudo()._send_batch_for_mails(self)
        try:
            return super()._send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                smtp_session=smtp_session,
                alias_domain_id=alias_domain_id,
                mail_server=mail_server,
                post_send_callback=post_send_callback,
            )
        finally:
            cache[SEND_BATCH_KEY] = previous
            if batch.touches:
                self._sales_sequence_record_sent()

    def _sales_sequence_record_sent(self):
        try:
            with self.env.cr.savepoint():
                # sudo: engine history, whoever runs the mail queue.
                self.env["sales.sequence.enrollment"].sudo()._record_sent_emails()
        except Exception:  # noqa: BLE001 - the run cron records them; never hide the mail queue's own error
            _logger.warning("Sequence emails sent, their events and notes left to the run cron", exc_info=True)

    def _sales_sequence_send_batch(self):
        """The SendBatch of the batch being sent, or one read for these mails when called outside `_send`."""
        batch = self.env.cr.cache.get(SEND_BATCH_KEY)
        if batch is not None and batch.mail_ids.issuperset(self.ids):
            return batch
        # sudo: as in _send.
        return self.env["sales.sequence.touch"].sudo()._send_batch_for_mails(self)

    def _prepare_outgoing_body(self):
        body = super()._prepare_outgoing_body()
        batch = self._sales_sequence_send_batch()
        touch = batch.touches.get(self.id)
        if not body or not touch:
            return body
        # sudo: as in _send.
        return self.env["sales.sequence.touch"].sudo().browse(touch[0])._decorate_outgoing_body(body, batch, self.id)

    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        """One email to the contact carrying the step's CC and BCC, instead of Odoo's separate copy for CCs."""
        results = super()._prepare_outgoing_list(
            mail_server=mail_server, recipients_follower_status=recipients_follower_status
        )
        if self.model != "sales.sequence.enrollment":
            return results
        to_contact = [values for values in results if values.get("partner_id")]
        if not to_contact:
            return results
        main = to_contact[0]
        headers = dict(main["headers"])
        if self.email_cc:
            main["email_cc"] = tools.mail.email_split_and_format_normalize(self.email_cc)
            main["email_to_normalized"] = main["email_to_normalized"] + tools.mail.email_normalize_all(self.email_cc)
        if headers.get("Bcc"):
            # send_email drops the Bcc header and sends to the validated addresses only: validate the BCCs.
            main["email_to_normalized"] = main["email_to_normalized"] + tools.mail.email_normalize_all(headers["Bcc"])
        main["headers"] = headers
        for values in to_contact:
            # Odoo's text part of the decorated body listed the open pixel ("Image [3]" and its URL) and read "None
            # [1]" for a link whose label starts with a tag: made from the same body without them.
            values["body_alternative"] = tools.html2plaintext(prepare_for_plaintext(values["body"]))
        return to_contact

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        """The queue's verdict on each sequence email: sent is marked in one statement committed with the mail's
        own state (its event and note come with the rest of the batch), a failure handled at once."""
        batch = self._sales_sequence_send_batch()
        Touch = self.env["sales.sequence.touch"].sudo()  # sudo: as in _send
        for mail in self:
            if mail.id not in batch.touches:
                continue
            touch_id = batch.touches[mail.id][0]
            if failure_type or mail.state == "exception":
                touch = Touch.browse(touch_id)
                if not touch.failed:
                    touch.enrollment_id._on_send_failure(touch, failure_reason or mail.failure_reason)
            else:
                Touch._mark_sent(touch_id, batch.links.get(touch_id, ()))
        return super()._postprocess_sent_message(success_pids, failure_reason=failure_reason, failure_type=failure_type)
