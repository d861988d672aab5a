from odoo import models, tools

from ..lib.plaintext import prepare_for_plaintext


class MailMail(models.Model):
    """Sequence emails in Odoo's mail queue: tracking and the unsubscribe text added at send time (so the chatter
    copy holds neither), CC and BCC on the contact's own email, and the queue's verdict fed back to the enrollment."""

    _inherit = "mail.mail"

    def _sales_sequence_touch(self):
        """The step run this mail sends, if it is a sequence email."""
        self.ensure_one()
        if self.model != "sales.sequence.enrollment" or not self.mail_message_id:
            return self.env["sales.sequence.touch"]
        # sudo: the mail queue runs as whoever triggers it; the touch only decorates this very email.
        return self.env["sales.sequence.touch"].sudo().search([("mail_message_id", "=", self.mail_message_id.id)])

    def _prepare_outgoing_body(self):
        body = super()._prepare_outgoing_body()
        touch = self._sales_sequence_touch()
        if not body or not touch:
            return body
        return touch._decorate_outgoing_body(body)

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
        for mail in self:
            touch = mail._sales_sequence_touch()
            if not touch or touch.failed:
                continue
            if failure_type or mail.state == "exception":
                touch.enrollment_id._on_send_failure(touch, failure_reason or mail.failure_reason)
            else:
                touch.enrollment_id._on_email_sent(touch)
        return super()._postprocess_sent_message(success_pids, failure_reason=failure_reason, failure_type=failure_type)
