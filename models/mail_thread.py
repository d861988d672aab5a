import codecs
import logging

from odoo import api, models
from odoo.tools.mail import unfold_references

_logger = logging.getLogger(__name__)


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    @api.model
    def message_route(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        """Every inbound message reaches the sequences before Odoo routes it, whatever its route (a sequence email's
        thread, a lead, a ticket, the catchall): replies pause, auto-replies are logged, bounces stop.

        A message read from a rep's sequence mailbox (fetchmail.server) is the rep's mail: Odoo routes it only when
        it answers a record Odoo knows (or is a bounce); anything else stays in the mailbox, without a new record,
        a bounce email to its sender, or a "No possible route" error."""
        self._sales_sequence_process_inbound(message, message_dict)
        mailbox = self.env["fetchmail.server"]._sales_sequence_mailbox_from_context()
        if not mailbox:
            return super().message_route(
                message, message_dict, model=model, thread_id=thread_id, custom_values=custom_values
            )
        if not message_dict.get("is_bounce") and not self._sales_sequence_answers_a_record(message_dict):
            _logger.info(
                "Sequence mailbox %s: message %s answers no Odoo record, left in the mailbox",
                mailbox.name,
                message_dict.get("message_id"),
            )
            return []
        try:
            routes = super().message_route(
                message, message_dict, model=model, thread_id=thread_id, custom_values=custom_values
            )
        except ValueError:
            _logger.info(
                "Sequence mailbox %s: no route for %s, left in the mailbox",
                mailbox.name,
                message_dict.get("message_id"),
            )
            return []
        # Only updates of existing records: the rep's mailbox never creates one (a forward to an alias, say).
        return [route for route in routes if route[1]]

    @api.model
    def _sales_sequence_process_inbound(self, message, message_dict):
        message_id = message_dict.get("message_id")
        # The same message may arrive twice (the catchall and the rep's mailbox both got it): one reaction.
        if message_id and self.env["sales.sequence.event"].sudo().search_count(
            [("message_id", "=", message_id)], limit=1
        ):
            return
        try:
            with self.env.cr.savepoint():
                # sudo: the gateway acts for no user; it only updates the engine's own state and history.
                self.env["sales.sequence.enrollment"].sudo()._process_inbound(message, message_dict)
        except Exception:  # noqa: BLE001 - a fault of ours must never lose the message for Odoo's own routing
            _logger.exception("Sales sequences could not process inbound message %s", message_id)

    @api.model
    def _sales_sequence_answers_a_record(self, message_dict):
        """Whether the message answers a message Odoo holds (what Odoo's routing follows first)."""
        references = " ".join(filter(None, [message_dict.get("references"), message_dict.get("in_reply_to")]))
        message_ids = [ref for ref in unfold_references(references) if "reply_to" not in ref][-32:]
        # sudo: whether a message exists, whoever may read it; nothing of it is returned
        return bool(message_ids) and bool(
            self.env["mail.message"].sudo().search_count([("message_id", "in", message_ids)], limit=1)
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
