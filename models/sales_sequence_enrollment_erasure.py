from datetime import timedelta

from odoo import _, models
from odoo.osv import expression
from odoo.tools import SQL

from .sales_sequence_enrollment import OPEN_STATES

# A click's event and Odoo's link.tracker.click row are written by the same request: the click row whose time is this
# close to the event's, on a link of that email, is the person's (it holds their IP address).
CLICK_MATCH_WINDOW = timedelta(seconds=10)


class SalesSequenceEnrollment(models.Model):
    """Erasure on request, the enrollment's part: what the sequences sent and received for the contact goes, the
    rows the metrics count stay (the enrollment with its state and dates, its step runs and events with their
    dates, types and outcomes). Called by the contact's erasure (models/res_partner_erasure.py) and by Odoo's
    Privacy Lookup when it deletes an enrollment it found."""

    _inherit = "sales.sequence.enrollment"

    def _erase_personal_data(self):
        """Erase what these enrollments hold of their contact; returns the counts of what went (no personal data).
        Callers check the right to erase and run as superuser: the erasure reaches every row of the person,
        in colleagues' sequences and in Odoo's technical mail tables alike."""
        enrollments = self.with_context(active_test=False, tracking_disable=True, mail_notrack=True)
        erased = _("Personal data erased on request.")
        # Stop the sequences first (a transition), so nothing is sent or drafted again while the data goes.
        enrollments.filtered(lambda e: e.state in OPEN_STATES)._cancel(erased)
        drafts = (
            self.env["sales.sequence.draft"].with_context(active_test=False).search([("enrollment_id", "in", self.ids)])
        )
        threads = {"sales.sequence.enrollment": self.ids, "sales.sequence.draft": drafts.ids}
        # Canceling a step's activity records a "skip" event quoting its summary: cleared with the others below.
        self.env["mail.activity"].search(self._erasure_thread_domain("res_model", "res_id", threads)).unlink()
        counts = self._erase_thread_messages(threads)
        touches = self.env["sales.sequence.touch"].search([("enrollment_id", "in", self.ids)])
        events = self.env["sales.sequence.event"].search([("enrollment_id", "in", self.ids)])
        sms = self.env["sms.sms"].search([("uuid", "in", [uuid for uuid in touches.mapped("sms_uuid") if uuid])])
        counts["sms"] = len(sms)
        sms.unlink()
        counts["drafts"] = len(drafts)
        drafts.unlink()
        self._erase_click_addresses(events)
        # The rows the metrics and the report count stay; their texts (rendered subjects, SMS text, quoted replies,
        # links with the address, inbound Message-Ids) go.
        touches.write({"subject": False, "message_id": False})
        events.write({"description": False, "url": False, "message_id": False, "return_date": False})
        enrollments.write({"state_reason": erased})
        counts["history"] = len(touches) + len(events)
        counts["enrollments"] = len(self)
        return counts

    def _erase_thread_messages(self, threads):
        """Delete the chatter of `threads` ({model: ids}): messages (their emails, tracking values and notifications
        go with them, by cascade) and attachments. Returns {"messages": n, "mails": n}."""
        messages = self.env["mail.message"].search(self._erasure_thread_domain("model", "res_id", threads))
        mails = self.env["mail.mail"].search([("mail_message_id", "in", messages.ids)])
        counts = {"messages": len(messages), "mails": len(mails)}
        mails.unlink()
        messages.exists().unlink()
        self.env["ir.attachment"].search(self._erasure_thread_domain("res_model", "res_id", threads)).unlink()
        return counts

    @staticmethod
    def _erasure_thread_domain(model_field, id_field, threads):
        """A domain matching the records of `threads` ({model: ids}) by a (model name, id) pair of fields."""
        parts = [[(model_field, "=", model), (id_field, "in", ids)] for model, ids in threads.items() if ids]
        return expression.OR(parts) if parts else expression.FALSE_DOMAIN

    def _erase_click_addresses(self, events):
        """Odoo's click counter (link.tracker.click) keeps the visitor's IP address: cleared on the clicks of these
        enrollments (their links, at the time of their click events)."""
        clicks = events.filtered(lambda e: e.event_type == "click" and e.touch_id)
        if not clicks:
            return
        relation = self.env["sales.sequence.touch"]._fields["link_tracker_ids"]
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                UPDATE link_tracker_click c SET ip = NULL
                  FROM sales_sequence_event ev
                  JOIN %(rel)s rel ON rel.%(touch_col)s = ev.touch_id
                 WHERE ev.id = ANY(%(events)s) AND c.link_id = rel.%(link_col)s
                   AND c.create_date BETWEEN ev.date - %(window)s AND ev.date + %(window)s
                """,
                rel=SQL.identifier(relation.relation),
                touch_col=SQL.identifier(relation.column1),
                link_col=SQL.identifier(relation.column2),
                events=clicks.ids,
                window=CLICK_MATCH_WINDOW,
            )
        )
        self.env["link.tracker.click"].invalidate_model(["ip"])
