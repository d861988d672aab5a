"""Tests of lib/placeholders.py: {{ }} placeholders in an HTML body become QWeb, and expressions are listed."""

from lxml import html
from placeholders import expressions, has_inline_placeholder, inline_to_qweb


def test_text_placeholder_becomes_t_out():
    assert inline_to_qweb("<p>Hello {{ object.name }}, nice to meet you</p>") == (
        '<p>Hello <t t-out="object.name"/>, nice to meet you</p>'
    )


def test_several_placeholders_in_text_and_tails_keep_their_order():
    source = "Hi {{ object.name }}, <b>bold</b> and {{ object.email }} then {{object.ref}}"
    assert inline_to_qweb(source) == (
        'Hi <t t-out="object.name"/>, <b>bold</b> and <t t-out="object.email"/> then <t t-out="object.ref"/>'
    )


def test_attribute_placeholder_becomes_attribute_format():
    source = '<a href="https://example.com/{{ object.id }}?ref={{ object.ref }}">link</a>'
    assert inline_to_qweb(source) == (
        '<a t-attf-href="https://example.com/{{ object.id }}?ref={{ object.ref }}">link</a>'
    )


def test_expression_with_quotes_and_comparison_is_kept_whole():
    converted = inline_to_qweb("<p>{{ object.name or 'there' }} {{ object.x &gt; 1 }}</p>")
    nodes = html.fragment_fromstring(converted).findall(".//t")
    assert [node.get("t-out") for node in nodes] == ["object.name or 'there'", "object.x > 1"]


def test_editor_non_breaking_spaces_around_the_expression_are_ignored():
    assert inline_to_qweb("<p>{{\xa0object.name\xa0}}</p>") == '<p><t t-out="object.name"/></p>'


def test_source_without_placeholder_is_returned_unchanged():
    for source in ("", None, "<p>plain &amp; simple</p>", '<p>Hi <t t-out="object.name"/></p>', "{ not } {{"):
        assert inline_to_qweb(source) == source


def test_existing_qweb_and_comments_are_left_alone():
    source = '<p t-if="object.email">Hi <t t-out="object.name"/> {{ object.ref }}</p><!-- {{ draft }} -->'
    assert inline_to_qweb(source) == (
        '<p t-if="object.email">Hi <t t-out="object.name"/> <t t-out="object.ref"/></p><!-- {{ draft }} -->'
    )


def test_conversion_is_idempotent():
    once = inline_to_qweb('<p>Hello {{ object.name }} <a href="/x/{{ object.id }}">x</a></p>')
    assert inline_to_qweb(once) == once


def test_has_inline_placeholder():
    assert has_inline_placeholder("Hello {{ object.name }}")
    assert not has_inline_placeholder("Hello {{ unclosed")
    assert not has_inline_placeholder("")


def test_expressions_lists_placeholders_then_qweb_attributes_once():
    source = (
        '<p>{{ object.name }}<t t-out="object.email"/><a t-attf-href="/x/{{ object.id }}"/>'
        '<t t-if="object.x &gt; 1">y</t>{{ object.name }}<span t-att-title="object.ref"/></p>'
    )
    assert expressions(source) == ["object.name", "object.id", "object.email", "object.x > 1", "object.ref"]


def test_expressions_of_a_subject():
    assert expressions("Quick question, {{ object.name.upper() }}", is_html=False) == ["object.name.upper()"]
    assert expressions(False) == []
