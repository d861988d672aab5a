from odoo import fields, models, tools
from odoo.tools import SQL

from .sales_sequence_step import STEP_TYPES


class SalesSequenceReport(models.Model):
    """The Monday report: one row per step run (sent email, SMS, task, call) with what came of it, read by the
    pivot and graph views per sequence, step, rep and week. A reply, a meeting or an opportunity counts for the
    latest step run before it, as the step's metrics count replies; opens, clicks and bounces for the email they
    name. Rates are averages over the emails only (non-email rows hold no rate)."""

    _name = "sales.sequence.report"
    _description = "Sales Sequence Report"
    _auto = False
    _order = "date desc"
    _rec_name = "step_id"

    date = fields.Datetime(readonly=True)
    sequence_id = fields.Many2one("sales.sequence", readonly=True)
    step_id = fields.Many2one("sales.sequence.step", readonly=True)
    variant_id = fields.Many2one("sales.sequence.step.variant", string="A/B Variant", readonly=True)
    user_id = fields.Many2one("res.users", string="Rep", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True)
    kind = fields.Selection(STEP_TYPES, string="Step Type", readonly=True)
    step_runs = fields.Integer(readonly=True)
    sent = fields.Integer(string="Emails Sent", readonly=True)
    opened = fields.Integer(readonly=True)
    clicked = fields.Integer(readonly=True)
    replied = fields.Integer(readonly=True)
    bounced = fields.Integer(readonly=True)
    meetings = fields.Integer(readonly=True)
    opportunities = fields.Integer(readonly=True)
    open_rate = fields.Float(string="Open Rate (%)", aggregator="avg", readonly=True)
    reply_rate = fields.Float(string="Reply Rate (%)", aggregator="avg", readonly=True)

    @property
    def _table_query(self):
        return SQL(
            """
            WITH t AS (
                SELECT t.*,
                       t.kind IN ('email', 'email_reminder') AS is_email,
                       lead(t.date) OVER (PARTITION BY t.enrollment_id, t.kind IN ('email', 'email_reminder')
                                          ORDER BY t.date, t.id) AS next_email_date,
                       lead(t.date) OVER (PARTITION BY t.enrollment_id ORDER BY t.date, t.id) AS next_date
                  FROM sales_sequence_touch t
                 WHERE t.failed IS NOT TRUE
            ), runs AS (
                SELECT t.*,
                       EXISTS (SELECT 1 FROM sales_sequence_event ev
                                WHERE ev.touch_id = t.id AND ev.event_type = 'open') AS is_opened,
                       EXISTS (SELECT 1 FROM sales_sequence_event ev
                                WHERE ev.touch_id = t.id AND ev.event_type = 'click') AS is_clicked,
                       EXISTS (SELECT 1 FROM sales_sequence_event ev
                                WHERE ev.touch_id = t.id AND ev.event_type = 'bounce') AS is_bounced,
                       t.is_email AND EXISTS (
                           SELECT 1 FROM sales_sequence_event ev
                            WHERE ev.enrollment_id = t.enrollment_id AND ev.event_type = 'reply'
                              AND ev.date >= t.date AND (t.next_email_date IS NULL OR ev.date < t.next_email_date)
                       ) AS is_replied,
                       (SELECT count(*) FROM calendar_event ce
                          JOIN calendar_event_res_partner_rel rel ON rel.calendar_event_id = ce.id
                         WHERE rel.res_partner_id = t.partner_id AND ce.create_date >= t.date
                           AND (t.next_date IS NULL OR ce.create_date < t.next_date)) AS meeting_count,
                       (SELECT count(*) FROM crm_lead l
                         WHERE l.partner_id = t.partner_id AND l.type = 'opportunity' AND l.create_date >= t.date
                           AND (t.next_date IS NULL OR l.create_date < t.next_date)) AS opportunity_count
                  FROM t
            )
            SELECT id, date, sequence_id, step_id, variant_id, user_id, company_id, partner_id, kind,
                   1 AS step_runs,
                   is_email::int AS sent,
                   is_opened::int AS opened,
                   is_clicked::int AS clicked,
                   is_replied::int AS replied,
                   is_bounced::int AS bounced,
                   meeting_count AS meetings,
                   opportunity_count AS opportunities,
                   CASE WHEN is_email THEN 100.0 * is_opened::int END AS open_rate,
                   CASE WHEN is_email THEN 100.0 * is_replied::int END AS reply_rate
              FROM runs
            """
        )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
