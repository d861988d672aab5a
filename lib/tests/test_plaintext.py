"""Tests of lib/plaintext.py: the HTML the text part of an email is made from."""

from lxml import html
from plaintext import is_tracking_image, prepare_for_plaintext


def test_the_open_pixel_is_dropped_and_the_text_after_it_kept():
    body = (
        '<p>Hello</p><div><img src="https://odoo.test/sales_sequence/o/3/abc" alt="" width="1" height="1" '
        'style="display:none"/>after</div>'
    )
    prepared = prepare_for_plaintext(body)
    assert "<img" not in prepared
    assert "after" in prepared
    assert "sales_sequence/o/" not in prepared


def test_a_real_image_stays():
    prepared = prepare_for_plaintext('<p><img src="https://example.com/logo.png" width="120" height="40"/></p>')
    assert "logo.png" in prepared


def test_a_link_whose_label_starts_with_a_tag_gets_a_plain_label():
    prepared = prepare_for_plaintext(
        '<p>have a look at <a href="https://x.example/demo"><span>our demo</span></a>.</p>'
    )
    link = html.fragment_fromstring(prepared).find(".//a")
    assert link.text == "our demo"
    assert link.get("href") == "https://x.example/demo"
    assert len(link) == 0


def test_a_link_without_label_shows_its_url_and_a_link_without_target_is_text():
    prepared = prepare_for_plaintext('<p><a href="https://x.example/"></a> and <a>no target</a></p>')
    fragment = html.fragment_fromstring(prepared)
    assert [link.get("href") for link in fragment.iter("a")] == [None, None]
    assert "https://x.example/" in fragment.text_content()
    assert "no target" in fragment.text_content()


def test_hidden_or_tiny_images_are_tracking_only():
    assert is_tracking_image(html.fragment_fromstring('<img src="a.png" width="1" height="1"/>'))
    assert is_tracking_image(html.fragment_fromstring('<img src="a.png" style="visibility: hidden"/>'))
    assert not is_tracking_image(html.fragment_fromstring('<img src="a.png" width="10" height="10"/>'))


def test_empty_body_is_returned_as_is():
    assert prepare_for_plaintext("") == ""
    assert prepare_for_plaintext(None) is None
