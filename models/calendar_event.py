from odoo import api, models


class CalendarEvent(models.Model):
    _inherit = "calendar.event"

    @api.model_create_multi
    def create(self, vals_list):
        events = super().create(vals_list)
        # sudo: a meeting booked with a contact in a sequence from an opportunity joins that opportunity, whoever
        # booked it (before the meeting ends the enrollment).
        self.env["sales.sequence.enrollment"].sudo()._link_meetings_to_leads(events)
        # sudo: a meeting booked by anyone ends the sequences of its attendees whose sequence exits on meetings.
        self.env["sales.sequence.enrollment"].sudo()._exit_on_meetings(events.partner_ids)
        return events
