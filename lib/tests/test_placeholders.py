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


# ----- What a user outside the Mail Template Editor group may write (judged on the raw text) -----

ALLOWED = ("object.name", "object.email", "object.first_name")


def test_allowed_fields_pass():
    from placeholders import forbidden_expressions

    source = '<p>Hi {{ object.first_name ||| there }}, <t t-out="object.email"/> {{object.name}}</p>'
    assert forbidden_expressions(source, ALLOWED) == []


def test_code_inside_an_html_comment_is_seen():
    from placeholders import forbidden_expressions

    source = "<p>Hi</p><!-- <t t-out=\"object.email\"/> {{ int('X' + str(object.env.cr.fetchall())) }} -->"
    assert forbidden_expressions(source, ALLOWED) == ["{{ int('X' + str(object.env.cr.fetchall())) }}"]


def test_multi_line_placeholder_is_seen():
    from placeholders import forbidden_expressions

    assert forbidden_expressions("Hello {{\n object.env.user.password \n}}", ALLOWED) == [
        "{{ object.env.user.password }}"
    ]


def test_other_qweb_directives_and_escaped_expressions_are_seen():
    from placeholders import forbidden_expressions

    source = (
        '<p t-if="object.env">x</p><t t-out="object.env[&quot;res.users&quot;]"/>'
        "<t t-set='a' t-value='1'/><a t-attf-href='{{ object.sudo() }}'>l</a>"
    )
    found = forbidden_expressions(source, ALLOWED)
    assert 't-if="object.env"' in found
    assert 't-out="object.env["res.users"]"' in found
    assert 't-set="a"' in found and 't-value="1"' in found
    assert "{{ object.sudo() }}" in found


def test_default_after_three_bars_becomes_the_t_out_body():
    assert inline_to_qweb("<p>Hi {{ object.first_name ||| there }}!</p>") == (
        '<p>Hi <t t-out="object.first_name">there</t>!</p>'
    )


def test_placeholder_count_counts_every_kind():
    from placeholders import placeholder_count

    assert placeholder_count('<p>{{ a }} {{ b }} <t t-out="c"/></p><!-- {{ d }} -->') == 4
    assert placeholder_count("") == 0


def test_field_path_only_for_plain_paths():
    from placeholders import field_path

    assert field_path("object.parent_id.name") == ["parent_id", "name"]
    assert field_path("object.name.lower()") is None
    assert field_path("user.name") is None
    assert field_path("object") is None


def test_trim_inline_defaults_drops_the_space_odoo_would_keep():
    from placeholders import trim_inline_defaults

    assert trim_inline_defaults("Hi {{ object.first_name ||| there }},") == "Hi {{ object.first_name ||| there}},"
    assert trim_inline_defaults("Hi {{ object.name }}") == "Hi {{ object.name }}"


def test_required_paths_are_the_fields_printed_without_fallback():
    from placeholders import required_paths

    body = (
        "<p>Hi {{ object.first_name ||| there }}, I saw that {{ object.commercial_company_name }} grows; "
        '<t t-out="object.city"/> <t t-out="object.country_id.name">your country</t> '
        "{{ object.name.upper() }} {{ object.city }}</p>"
    )
    assert required_paths(body) == ["object.commercial_company_name", "object.city"]


def test_required_paths_of_a_text():
    from placeholders import required_paths

    text = "Call {{ object.first_name }} at {{ object.phone ||| the switchboard }}"
    assert required_paths(text, is_html=False) == ["object.first_name"]
    assert required_paths("", is_html=False) == []


def test_merge_token_and_suggested_fallback():
    from placeholders import MERGE_FIELDS, merge_token, suggested_fallback

    assert merge_token("object.first_name", suggested_fallback("object.first_name")) == (
        "{{ object.first_name ||| there }}"
    )
    assert merge_token("object.city", "") == "{{ object.city }}"
    assert ("object.sequence_owner_signature", "Your signature") in MERGE_FIELDS


def test_append_token_into_the_last_paragraph():
    from placeholders import append_token

    token = "{{ object.first_name ||| there }}"
    assert append_token("<p>Hi</p><p>Hello</p>", token, is_html=True) == f"<p>Hi</p><p>Hello {token}</p>"
    assert append_token("", token, is_html=True) == f"<p>{token}</p>"
    assert append_token("Quick question,", token) == f"Quick question, {token}"
    assert append_token("", token) == token
