import codecs
import logging

from odoo import api, models

_logger = logging.getLogger(__name__)


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    @api.model
    def message_route(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        """Every inbound message reaches the sequences before Odoo routes it, whatever its route (a sequence email's
        thread, a lead, a ticket, the catchall): replies pause, auto-replies are logged, bounces stop."""
        try:
            with self.env.cr.savepoint():
                # sudo: the gateway acts for no user; it only updates the engine's own state and history.
                self.env["sales.sequence.enrollment"].sudo()._process_inbound(message, message_dict)
        except Exception:  # noqa: BLE001 - a fault of ours must never lose the message for Odoo's own routing
            _logger.exception("Sales sequences could not process inbound message %s", message_dict.get("message_id"))
        return super().message_route(
            message, message_dict, model=model, thread_id=thread_id, custom_values=custom_values
        )

    @api.model
    def _message_parse_extract_payload(self, message, message_dict, save_original=False):
        """Odoo's parser raises on a part in an unknown or broken charset, and the message is lost for every
        route. Read such parts as UTF-8 with replacement characters instead, and parse again."""
        try:
            return super()._message_parse_extract_payload(message, message_dict, save_original=save_original)
        except (LookupError, UnicodeError):
            for part in message.walk():
                charset = part.get_content_charset()
                if charset and not _is_known_charset(charset):
                    part.set_param("charset", "utf-8")
            return super()._message_parse_extract_payload(message, message_dict, save_original=save_original)


def _is_known_charset(charset):
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True
