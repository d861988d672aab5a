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
    def _message_parse_extract_bounce(self, email_message, message_dict):
        """Odoo's bounce extraction raises on some real DSNs (a message/delivery-status part it cannot walk,
        "'str' object has no attribute 'get_all'"), and the whole message would be lost: no route, no reaction.
        Keep Odoo's own bounce detection and go on without the details it could not read; the sequences read the
        raw message themselves (lib/inbound) when message_route hands it to them."""
        try:
            return super()._message_parse_extract_bounce(email_message, message_dict)
        except Exception:  # noqa: BLE001 - a parser fault must not lose the message for every route
            _logger.info("Odoo could not read the bounce details of %s", message_dict.get("message_id"), exc_info=True)
            try:
                is_bounce = self._detect_is_bounce(email_message, message_dict)
            except Exception:  # noqa: BLE001 - undecidable: let the routing treat it as a message
                is_bounce = False
            return {
                "is_bounce": is_bounce,
                "bounced_email": False,
                "bounced_partner": self.env["res.partner"].sudo(),
                "bounced_msg_ids": False,
                "bounced_message": self.env["mail.message"].sudo(),
            }

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
