import base64
from datetime import timedelta

from werkzeug.exceptions import NotFound

from odoo import _, fields, http
from odoo.http import request
from odoo.tools import consteq

# A 1x1 transparent GIF: the open pixel's answer.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Mail scanners fetch images and follow links as soon as an email is delivered: what happens this soon after the
# send is a machine, not the contact, and counts neither as an open nor as a click.
PREFETCH_DELAY = timedelta(seconds=30)


class SalesSequenceController(http.Controller):
    """Public routes of the sequence emails. Every URL carries an HMAC of the record and the purpose keyed with
    the database secret; a forged, swapped, malformed or unknown one gets the same plain 404."""

    # ------------------------------------------------------------------
    # Unsubscribe: a page, and RFC 8058 one-click
    # ------------------------------------------------------------------

    @http.route(
        "/sales_sequence/unsubscribe/<int:enrollment_id>/<string:token>",
        type="http",
        auth="public",
        methods=["GET", "POST"],
        csrf=False,  # RFC 8058 one-click POSTs come from mail providers: the HMAC in the URL is the protection
    )
    def unsubscribe(self, enrollment_id, token, **post):
        # sudo: a public visitor holding a valid token acts for the contact it was sent to, nothing more.
        enrollment = request.env["sales.sequence.enrollment"].sudo()._from_token(enrollment_id, "unsubscribe", token)
        if not enrollment:
            raise NotFound()
        if request.httprequest.method == "POST":
            one_click = post.get("List-Unsubscribe") == "One-Click"
            enrollment._unsubscribe(_("one-click") if one_click else _("unsubscribe page"))
            if one_click:
                return request.make_response("", status=200)
            return self._page(enrollment, done=True)
        return self._page(enrollment, done=False)

    def _page(self, enrollment, done):
        html = request.env["ir.qweb"]._render(
            "sales_sequence.unsubscribe_page",
            {
                "done": done,
                "email": enrollment.partner_id.email_normalized,
                "company": enrollment.company_id,
                "action": request.httprequest.path,
            },
        )
        return request.make_response(html, headers=[("Content-Type", "text/html; charset=utf-8")])

    # ------------------------------------------------------------------
    # Tracking
    # ------------------------------------------------------------------

    @http.route("/sales_sequence/o/<int:touch_id>/<string:token>", type="http", auth="public", methods=["GET", "HEAD"])
    def track_open(self, touch_id, token, **kwargs):
        touch = self._touch_from_token(touch_id, "open", token)
        if not touch:
            raise NotFound()
        if self._counts(touch):
            request.env["sales.sequence.event"]._record(
                touch.enrollment_id, "open", False, step=touch.step_id, touch_id=touch.id
            )
        return request.make_response(
            PIXEL, headers=[("Content-Type", "image/gif"), ("Cache-Control", "no-store, no-cache, max-age=0")]
        )

    @http.route(
        "/sales_sequence/c/<int:touch_id>/<int:link_id>/<string:token>",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
    )
    def track_click(self, touch_id, link_id, token, **kwargs):
        touch = self._touch_from_token(touch_id, "click", token)
        link = touch.link_tracker_ids.filtered(lambda tracker: tracker.id == link_id) if touch else None
        if not link:
            raise NotFound()  # only a link of that very email: never an open redirect
        if self._counts(touch):
            request.env["sales.sequence.event"]._record(
                touch.enrollment_id, "click", link.url[:200], step=touch.step_id, touch_id=touch.id, url=link.url
            )
            request.env["link.tracker.click"].sudo().add_click(
                link.code, ip=request.httprequest.remote_addr, country_code=None
            )
        return request.redirect(link.url, code=302, local=False)

    @staticmethod
    def _touch_from_token(touch_id, purpose, token):
        # sudo: a public visitor holding a valid token reaches that one email's step run, nothing more.
        touch = request.env["sales.sequence.touch"].sudo().browse(touch_id).exists()
        if not touch or not token or not consteq(touch.enrollment_id._get_token(purpose, touch.id), token):
            return None
        return touch

    @staticmethod
    def _counts(touch):
        """A person, not a bot, a HEAD probe or a scanner fetching right after delivery."""
        if request.httprequest.method == "HEAD" or request.env["ir.http"].is_a_bot():
            return False
        return not touch.sent_at or fields.Datetime.now() - touch.sent_at > PREFETCH_DELAY
