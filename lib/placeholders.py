"""One placeholder language for a step's subject and body.

Odoo renders a mail body with QWeb, where a field is written ``<t t-out="object.name"/>``, and a subject with
inline templates, where it is written ``{{ object.name }}``. People type the second form everywhere. This module
turns ``{{ expr }}`` inside an HTML body into QWeb before rendering, so both forms work in the body:

* in text, ``Hello {{ object.name }}!`` becomes ``Hello <t t-out="object.name"/>!``;
* in an attribute, ``href="https://x.test/{{ object.id }}"`` becomes ``t-attf-href="..."``, QWeb's own
  attribute-format syntax, which reads ``{{ }}`` itself.

It also lists the expressions a template uses, so a failed rendering can name the placeholder that broke.

Plain Python (lxml, which Odoo depends on): no Odoo import.
"""

import re

from lxml import etree, html

PLACEHOLDER_RE = re.compile(r"\{\{(.+?)\}\}", re.DOTALL)
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
        node.set("t-out", pieces[index].strip())
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
    found = [match.strip() for match in PLACEHOLDER_RE.findall(source)]
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
