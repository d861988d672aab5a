"""Tests of lib/links.py: links rewritten for tracking, only http(s) ones, originals listed."""

from links import rewrite_links


def test_http_links_are_rewritten_and_listed_once():
    body = (
        '<p><a href="https://example.com/a?x=1&amp;y=2">A</a> <a class="btn" href=\'http://example.org/b\'>B</a>'
        ' <a href="https://example.com/a?x=1&amp;y=2">again</a></p>'
    )
    seen = []

    def tracked(url):
        seen.append(url)
        return f"https://odoo.test/c/{len(seen)}?u=1&v=2"

    new_body, urls = rewrite_links(body, tracked)
    assert urls == ["https://example.com/a?x=1&y=2", "http://example.org/b"]
    assert 'href="https://odoo.test/c/1?u=1&amp;v=2"' in new_body
    assert "href='https://odoo.test/c/2?u=1&amp;v=2'" in new_body
    assert "example.com" not in new_body


def test_other_links_and_declined_ones_stay():
    body = '<a href="mailto:a@b.c">m</a><a href="#top">t</a><a href="https://keep.test/unsubscribe">u</a>'
    new_body, urls = rewrite_links(body, lambda url: None if "unsubscribe" in url else "https://t.test/x")
    assert new_body == body
    assert urls == []


def test_empty_body():
    assert rewrite_links("", lambda url: "x") == ("", [])
    assert rewrite_links(None, lambda url: "x") == ("", [])
