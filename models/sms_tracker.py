from odoo import models


class SmsTracker(models.Model):
    """Odoo's SMS queue and the provider's delivery reports update an SMS through its tracker: the sequence's texts
    have one each (`_run_sms`), so their verdict reaches the enrollment (`_on_sms_verdict`)."""

    _inherit = "sms.tracker"

    def _action_update_from_sms_state(self, sms_state, failure_type=False, failure_reason=False):
        result = super()._action_update_from_sms_state(
            sms_state, failure_type=failure_type, failure_reason=failure_reason
        )
        self._sales_sequence_verdict(sms_state, failure_type, failure_reason)
        return result

    def _action_update_from_provider_error(self, provider_error):
        result = super()._action_update_from_provider_error(provider_error)
        _error_status, failure_type, failure_reason = result
        self._sales_sequence_verdict("error", failure_type, failure_reason or provider_error)
        return result

    def _sales_sequence_verdict(self, sms_state, failure_type, failure_reason):
        reason = failure_reason
        if failure_type and failure_type != "unknown":
            labels = dict(self.env["mail.notification"]._fields["failure_type"]._description_selection(self.env))
            reason = labels.get(failure_type, failure_type)
        self.env["sales.sequence.enrollment"]._on_sms_verdict(self.mapped("sms_uuid"), sms_state, reason)
