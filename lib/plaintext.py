"""The HTML a plain-text part is made from. Plain Python (lxml), no Odoo import.

Odoo writes an email's text part with ``html2plaintext``, which numbers every link and image and lists their URLs:
a tracking pixel became "Image [3]" with its URL, and a link whose label starts with a tag (``<a><span>demo</span>
</a>``, as the editor writes after a link edit) became "None [1]". `prepare_for_plaintext(html)` returns the same
HTML without what a reader of the text part must not see: tracking-only images are dropped, every link's label is
its plain text, a link without a label shows its URL, a link without a target is plain text.
"""

import re

from lxml import etree, html

# Tracking-only images: 1x1 or 0x0, or hidden; and the open pixel routes of tracking (ours and Odoo's mass mailing).
PIXEL_SIZES = {"0", "1", "0px", "1px"}
HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
PIXEL_SRC_RE = re.compile(r"/sales_sequence/o/|/mail/track/|/mail/view/", re.IGNORECASE)


def is_tracking_image(img):
    """True for an image whose only purpose is to report an open."""
    if img.get("width") in PIXEL_SIZES and img.get("height") in PIXEL_SIZES:
        return True
    if HIDDEN_STYLE_RE.search(img.get("style") or ""):
        return True
    return bool(PIXEL_SRC_RE.search(img.get("src") or ""))


def _drop(element):
    """Remove `element`, keeping the text that follows it."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail or ""
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(element)


def _flatten_link(link):
    """The link's label as plain text (no child tag for html2plaintext to miss), its URL when it has none."""
    label = " ".join(link.text_content().split())
    href = (link.get("href") or "").strip()
    for child in list(link):
        link.remove(child)
    if not href:
        link.attrib.pop("href", None)
        link.text = label
        return
    if label:
        link.text = label
        return
    # No label (an image link whose image was dropped, an empty link): the URL itself, no numbered reference.
    link.attrib.pop("href", None)
    link.text = href


def prepare_for_plaintext(body):
    """`body` (HTML) ready for html2plaintext: no tracking image, links with a plain label and a target."""
    if not body or not body.strip():
        return body
    root = html.fragment_fromstring(body, create_parent="div")
    for img in list(root.iter("img")):
        if is_tracking_image(img):
            _drop(img)
    for link in list(root.iter("a")):
        _flatten_link(link)
    return etree.tostring(root, encoding="unicode", method="html")
