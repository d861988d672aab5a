"""One placeholder language for a step's subject and body.

Odoo renders a mail body with QWeb, where a field is written ``<t t-out="object.name"/>``, and a subject with
inline templates, where it is written ``{{ object.name }}``. People type the second form everywhere. This module
turns ``{{ expr }}`` inside an HTML body into QWeb before rendering, so both forms work in the body:

* in text, ``Hello {{ object.name }}!`` becomes ``Hello <t t-out="object.name"/>!``;
* in an attribute, ``href="https://x.test/{{ object.id }}"`` becomes ``t-attf-href="..."``, QWeb's own
  attribute-format syntax, which reads ``{{ }}`` itself.

A default follows three bars, as in Odoo's own inline templates: ``{{ object.first_name ||| there }}`` becomes
``<t t-out="object.first_name">there</t>``, which Odoo renders as "there" when the field is empty.

It also lists the expressions a template holds, so that what a user may write is judged on the raw text (comments
and multi-line placeholders included, which a renderer would skip but an attacker would not), and so that a failed
rendering can name its placeholder without evaluating anything.

Plain Python (lxml, which Odoo depends on): no Odoo import.
"""

import re
from html import unescape

from lxml import etree, html

PLACEHOLDER_RE = re.compile(r"\{\{(.+?)\}\}", re.DOTALL)
DEFAULT_SEPARATOR = "|||"
# The merge fields every user may write in a sequence, on top of Odoo's own short list: fields of the contact read
# by Odoo's restricted (regex) renderer, with the reader's rights, nothing evaluated. (path, what it gives)
MERGE_FIELDS = (
    ("object.first_name", "First name"),
    ("object.last_name", "Last name"),
    ("object.name", "Full name"),
    ("object.title.name", "Title"),
    ("object.function", "Job position"),
    ("object.commercial_company_name", "Company"),
    ("object.parent_id.name", "Company (parent contact)"),
    ("object.email", "Email"),
    ("object.phone", "Phone"),
    ("object.mobile", "Mobile"),
    ("object.street", "Street"),
    ("object.city", "City"),
    ("object.zip", "Zip"),
    ("object.state_id.name", "State"),
    ("object.country_id.name", "Country"),
    ("object.website", "Website"),
    ("object.user_id.name", "The contact's salesperson"),
    ("object.user_id.email", "The salesperson's email"),
    ("object.user_id.signature", "The salesperson's signature"),
    # The sequence's owner, who sends: res.partner fields that read the owner from the rendering's context.
    ("object.sequence_owner_name", "Your name (the sequence's owner)"),
    ("object.sequence_owner_email", "Your email"),
    ("object.sequence_owner_phone", "Your phone"),
    ("object.sequence_owner_signature", "Your signature"),
)
# The fallback the picker suggests, said where an empty field holds an enrollment ("there" in "Hi there,").
SUGGESTED_FALLBACKS = {
    "object.first_name": "there",
    "object.name": "there",
    "object.commercial_company_name": "your company",
    "object.parent_id.name": "your company",
    "object.function": "your team",
    "object.city": "your city",
    "object.country_id.name": "your country",
    "object.state_id.name": "your region",
    "object.website": "your website",
}
DEFAULT_FALLBACK = "..."
# Any QWeb attribute anywhere in a text, comments included, with its (still escaped) value.
QWEB_ATTRIBUTE_RE = re.compile(r"""\bt-([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
# The only QWeb directive a user outside the Mail Template Editor group may write, as Odoo's restricted mode.
SAFE_QWEB_ATTRIBUTES = ("out",)
# QWeb attributes that hold a Python expression (t-attf-* hold a format string with {{ }} placeholders).
QWEB_EXPRESSION_ATTRIBUTES = ("t-out", "t-esc", "t-raw", "t-if", "t-elif", "t-foreach", "t-value")
WRAPPER = "sales-sequence-wrapper"


def has_inline_placeholder(source):
    return bool(source) and "{{" in source and PLACEHOLDER_RE.search(source) is not None


def inline_to_qweb(source):
    """The HTML `source` with every ``{{ expr }}`` turned into QWeb; unchanged when it has none."""
    if not has_inline_placeholder(source):
        return source
    root = html.fragment_fromstring(source, create_parent=WRAPPER)
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions keep their text as it is
        _convert_attributes(element)
        if element is not root or element.text:
            _convert_text(element, "text")
        if element is not root:
            _convert_text(element, "tail")
    return _serialize_children(root)


def _convert_attributes(element):
    for name, value in list(element.attrib.items()):
        if name.startswith("t-") or not PLACEHOLDER_RE.search(value):
            continue
        del element.attrib[name]
        element.set(f"t-attf-{name}", value)


def _convert_text(element, which):
    """Split element.text (or .tail) at its placeholders into text and <t t-out=".."/> nodes."""
    text = getattr(element, which)
    if not text or not PLACEHOLDER_RE.search(text):
        return
    pieces = PLACEHOLDER_RE.split(text)  # [text, expr, text, expr, ..., text]
    setattr(element, which, pieces[0])
    nodes = []
    for index in range(1, len(pieces), 2):
        node = etree.Element("t")
        expression, default = split_default(pieces[index])
        node.set("t-out", expression)
        if default:
            node.text = default
        node.tail = pieces[index + 1]
        nodes.append(node)
    if which == "text":
        for position, node in enumerate(nodes):
            element.insert(position, node)
    else:
        parent = element.getparent()
        position = parent.index(element) + 1
        for offset, node in enumerate(nodes):
            parent.insert(position + offset, node)


def _serialize_children(root):
    parts = [root.text or ""]
    parts.extend(etree.tostring(child, encoding="unicode", method="xml") for child in root)
    return "".join(parts)


def expressions(source, is_html=True):
    """The Python expressions a template evaluates, without repeats: its {{ }} placeholders first, then the
    expressions of its QWeb attributes."""
    if not source:
        return []
    found = [split_default(match)[0] for match in PLACEHOLDER_RE.findall(source)]
    if is_html and "t-" in source:
        root = html.fragment_fromstring(source, create_parent=WRAPPER)
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            for name, value in element.attrib.items():
                if name in QWEB_EXPRESSION_ATTRIBUTES or name.startswith("t-att-"):
                    found.append(value.strip())
                elif name.startswith("t-attf-"):
                    found.extend(match.strip() for match in PLACEHOLDER_RE.findall(value))
    return list(dict.fromkeys(expression for expression in found if expression))


def split_default(placeholder):
    """(expression, default) of the inside of a ``{{ }}``: ``object.first_name ||| there`` gives
    ("object.first_name", "there")."""
    expression, _separator, default = placeholder.partition(DEFAULT_SEPARATOR)
    return expression.strip(), default.strip()


def placeholder_count(source):
    """How many {{ }} placeholders and QWeb attributes `source` holds, wherever they stand."""
    if not source:
        return 0
    return len(PLACEHOLDER_RE.findall(source)) + len(QWEB_ATTRIBUTE_RE.findall(source))


def forbidden_expressions(source, allowed):
    """What in `source` a user restricted to the `allowed` expressions may not write, read from the raw text:
    every {{ }} (multi-line, inside an HTML comment or an attribute, all the same) whose expression is not
    allowed, and every QWeb attribute but a t-out of an allowed expression. An empty list: the text is safe."""
    if not source:
        return []
    allowed = {expression.strip() for expression in allowed}
    found = []
    for placeholder in PLACEHOLDER_RE.findall(source):
        expression, _default = split_default(placeholder)
        if expression not in allowed:
            found.append(f"{{{{ {expression} }}}}")
    for match in QWEB_ATTRIBUTE_RE.finditer(source):
        directive = match.group(1).lower()
        value = unescape(next((v for v in match.groups()[1:] if v is not None), ""))
        if directive not in SAFE_QWEB_ATTRIBUTES or value.strip() not in allowed:
            found.append(f't-{directive}="{value.strip()}"')
    return list(dict.fromkeys(found))


def field_path(expression):
    """The field names of an ``object.a.b`` expression, ["a", "b"]; None for anything else (a call, an
    operator, another variable): only such paths are read by Odoo's restricted renderer."""
    parts = expression.strip().split(".")
    if len(parts) < 2 or parts[0] != "object" or not all(part.isidentifier() for part in parts[1:]):
        return None
    return parts[1:]


def trim_inline_defaults(text):
    """``{{ object.first_name ||| there }}`` written so that Odoo's inline renderer, which keeps what stands between
    the default and the braces, gives "Hi there," and not "Hi there ,"."""

    def trim(match):
        if DEFAULT_SEPARATOR not in match.group(1):
            return match.group(0)
        expression, default = split_default(match.group(1))
        return "{{ " + expression + " ||| " + default + "}}"

    return PLACEHOLDER_RE.sub(trim, text)


def suggested_fallback(expression):
    return SUGGESTED_FALLBACKS.get(expression, DEFAULT_FALLBACK)


def merge_token(expression, fallback=None):
    """What the picker inserts: ``{{ object.first_name ||| there }}``; without a fallback, ``{{ object.x }}``."""
    fallback = (fallback or "").strip()
    return "{{ " + expression + (" ||| " + fallback if fallback else "") + " }}"


def required_paths(source, is_html=True):
    """The field paths a template prints without a fallback, without repeats: ``{{ object.first_name }}`` (in
    text, or stored as ``<t t-out="object.first_name"/>``) gives ["object.first_name"]; ``{{ object.first_name |||
    there }}`` and code (a call, an operator) give nothing. An empty value there would leave a hole in the email."""
    if not source:
        return []
    found = []
    if is_html:
        root = html.fragment_fromstring(inline_to_qweb(source), create_parent=WRAPPER)
        for element in root.iter():
            if not isinstance(element.tag, str) or "t-out" not in element.attrib:
                continue
            if (element.text or "").strip() or len(element):
                continue  # the element's content is the fallback QWeb prints for an empty value
            found.append(element.get("t-out").strip())
    else:
        for placeholder in PLACEHOLDER_RE.findall(source):
            expression, default = split_default(placeholder)
            if not default:
                found.append(expression)
    return list(dict.fromkeys(expression for expression in found if field_path(expression)))


def append_token(text, token, is_html=False):
    """`text` with the merge field `token` at its end: inside the last paragraph of an HTML body, after a space."""
    if not is_html:
        return f"{text.rstrip()} {token}" if text.strip() else token
    body = str(text).rstrip()
    if body.endswith("</p>"):
        return f"{body[: -len('</p>')].rstrip()} {token}</p>"
    return f"{body}<p>{token}</p>"
