from odoo import fields, models


class SalesSequenceMetricsMixin(models.AbstractModel):
    """The email, SMS and task figures of a sequence or a step, and their rates: one SQL query per batch of records
    (`sales.sequence.touch._metrics`), grouped by `_metrics_group_field`."""

    _name = "sales.sequence.metrics.mixin"
    _description = "Sales Sequence Metrics"
    _metrics_group_field = None

    metric_sent = fields.Integer(string="Sent", compute="_compute_metrics")
    metric_delivered = fields.Integer(string="Delivered", compute="_compute_metrics")
    metric_opened = fields.Integer(string="Opened", compute="_compute_metrics")
    metric_clicked = fields.Integer(string="Clicked", compute="_compute_metrics")
    metric_replied = fields.Integer(string="Replied", compute="_compute_metrics")
    metric_bounced = fields.Integer(string="Bounced", compute="_compute_metrics")
    metric_unsubscribed = fields.Integer(string="Unsubscribed", compute="_compute_metrics")
    metric_sms = fields.Integer(string="SMS Sent", compute="_compute_metrics")
    metric_activities = fields.Integer(string="Tasks and Calls", compute="_compute_metrics")
    open_rate = fields.Float(string="Open Rate (%)", compute="_compute_metrics", digits=(5, 1))
    click_rate = fields.Float(string="Click Rate (%)", compute="_compute_metrics", digits=(5, 1))
    reply_rate = fields.Float(string="Reply Rate (%)", compute="_compute_metrics", digits=(5, 1))
    bounce_rate = fields.Float(string="Bounce Rate (%)", compute="_compute_metrics", digits=(5, 1))

    def _compute_metrics(self):
        metrics = self.env["sales.sequence.touch"]._metrics(self._metrics_group_field, self._origin.ids)
        for record in self:
            figures = metrics.get(record._origin.id, {})
            for key in ("sent", "delivered", "opened", "clicked", "replied", "bounced", "unsubscribed", "sms"):
                record[f"metric_{key}"] = figures.get(key, 0)
            record.metric_activities = figures.get("activities", 0)
            sent = figures.get("sent", 0)
            delivered = figures.get("delivered", 0) or sent
            record.open_rate = 100.0 * figures.get("opened", 0) / delivered if delivered else 0.0
            record.click_rate = 100.0 * figures.get("clicked", 0) / delivered if delivered else 0.0
            record.reply_rate = 100.0 * figures.get("replied", 0) / sent if sent else 0.0
            record.bounce_rate = 100.0 * figures.get("bounced", 0) / sent if sent else 0.0
