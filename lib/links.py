"""Tracked links in an outgoing HTML email. Plain Python, no Odoo import.

`rewrite_links(html, tracked_url)` replaces the target of every http(s) link (``<a href="...">``) by what
`tracked_url(url)` returns, and lists the original URLs; `tracked_url` returning None leaves a link as it is (the
unsubscribe link, mailto:, anchors). The redirect route then only ever leads to a URL of this list: a tracked link
can never be turned into an open redirect.
"""

import html
import re

HREF_RE = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s>]+)\2""", re.IGNORECASE)


def rewrite_links(body, tracked_url):
    """(new body, [original URLs in order of first appearance]) with each http(s) link sent through tracked_url."""
    urls = []

    def replace(match):
        url = html.unescape(match.group(3))
        new_url = tracked_url(url)
        if not new_url:
            return match.group(0)
        if url not in urls:
            urls.append(url)
        return f"{match.group(1)}{match.group(2)}{html.escape(new_url, quote=True)}{match.group(2)}"

    return HREF_RE.sub(replace, body or ""), urls
