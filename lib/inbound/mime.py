"""Reading a message defensively: parsing raw bytes, headers, the text of its parts, quoted history.

Any accessor of a parsed message can raise on hostile input (header-parser bugs, bad parameters, odd payload
types, a ``message/delivery-status`` part whose payload is a string): each one here is wrapped so that a bad piece
is skipped, never the whole message. Hence the broad excepts.
"""

import binascii
import codecs
import email
import email.header
import email.policy
import email.utils
import quopri
import re
from datetime import date
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser

from .patterns import (
    ATTRIBUTION_RE,
    ATTRIBUTION_START_RE,
    HEADER_BLOCK_FROM_RE,
    HEADER_BLOCK_NEXT_RE,
    MAX_DEPTH,
    MAX_HEADER_CHARS,
    MAX_HTML_CHARS,
    MAX_PARTS,
    MAX_TEXT_CHARS,
    MSGID_RE,
    REPLY_PREFIX_RE,
    SEPARATOR_RE,
)


def as_message(message):
    """Accept raw bytes or text too, which makes the module easy to call from a shell or a test."""
    if isinstance(message, bytes | bytearray):
        return email.message_from_bytes(bytes(message), policy=email.policy.SMTP)
    if isinstance(message, str):
        return email.message_from_string(message, policy=email.policy.SMTP)
    return message


def reference_ids(message) -> tuple[str, ...]:
    """Message-Ids of In-Reply-To then References, angle brackets kept, first occurrence wins."""
    headers = header_items(message)
    ids = []
    for name in ("in-reply-to", "references"):
        for value in header_values(headers, name):
            ids.extend(message_ids_in(value))
    return tuple(dict.fromkeys(ids))


def message_ids_in(value: str) -> list[str]:
    found = MSGID_RE.findall(value or "")
    if found:
        return found
    # Some clients drop the brackets: keep tokens that look like ids.
    return [f"<{token}>" for token in (value or "").replace(",", " ").split() if "@" in token and len(token) < 300]


def received_date_of(message) -> date:
    """The day of the Date header, else today (used to put a year on "back on 12 January")."""
    try:
        value = header_value(header_items(message), "date")
        if value:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                return parsed.date()
    except Exception:  # a broken Date header is common; today is the documented fallback
        return date.today()
    return date.today()


# =====================================================================================================================
# Headers and text, read defensively
# =====================================================================================================================
# Any accessor of a parsed message can raise on hostile input (header-parser bugs, bad parameters, odd payload
# types): each one is wrapped so that a bad piece is skipped, never the whole message. Hence the broad excepts.


def header_items(message) -> list[tuple[str, str]]:
    """(lower-case name, decoded value) pairs read from the raw headers, so a malformed header never raises."""
    try:
        if hasattr(message, "raw_items"):
            raw = list(message.raw_items())
        elif hasattr(message, "items"):
            raw = list(message.items())
        else:
            raw = list(message or ())
    except Exception:
        return []
    pairs = []
    for item in raw[:500]:
        try:
            name, value = item
            if isinstance(value, list | tuple):
                pairs.extend((str(name).strip().lower(), decode_header_value(one)) for one in value)
            else:
                pairs.append((str(name).strip().lower(), decode_header_value(value)))
        except Exception:  # skip a header we cannot read rather than lose the message
            continue
    return pairs


def header_value(headers, name: str) -> str:
    for key, value in headers:
        if key == name:
            return value
    return ""


def header_values(headers, name: str) -> list[str]:
    return [value for key, value in headers if key == name]


def decode_header_value(value) -> str:
    """Unfold and decode RFC 2047 words; 8-bit bytes smuggled as surrogates are read as UTF-8 (else Latin-1)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _undo_surrogates(text[: MAX_HEADER_CHARS * 2])
    text = re.sub(r"\r?\n[ \t]*", " ", text)
    if "=?" in text:
        try:
            chunks = email.header.decode_header(text)
            text = "".join(
                decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in chunks
            )
        except Exception:  # keep the undecoded words, still readable enough for matching
            return text.strip()[:MAX_HEADER_CHARS]
    return text.strip()[:MAX_HEADER_CHARS]


def _undo_surrogates(text: str) -> str:
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return decode_bytes(raw, None)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset when it fits, else UTF-8, else CP1252 (Latin-1 text labelled UTF-8 or
    labelled with a charset Python does not know is common)."""
    if charset:
        try:
            name = codecs.lookup(charset.strip().strip('"').lower()).name
            # Exchange labels plain ASCII text "unicode-1-1-utf-7"; read as UTF-7 every "+" would garble it.
            if name != "utf-7":
                return data.decode(name)  # a bytes-to-bytes codec (base64...) raises LookupError
        except (LookupError, ValueError, TypeError, UnicodeError):
            charset = None  # unknown or lying label: fall back to the guesses below
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def message_text(message) -> str:
    """Best-effort plain text of a message: its text/plain parts, else its text/html parts stripped of tags.

    Attachments and returned messages (message/rfc822) are left out; the result is capped at MAX_TEXT_CHARS.
    Never raises.
    """
    try:
        message = as_message(message)
        plain, html = [], []
        for part, content_type in leaf_parts(message):
            if is_attachment(part):
                continue
            if content_type == "text/plain":
                plain.append(part_text(part, MAX_TEXT_CHARS))
            elif content_type == "text/html":
                html.append(part_text(part, MAX_HTML_CHARS))
        if any(chunk.strip() for chunk in plain):
            return "\n".join(plain)[:MAX_TEXT_CHARS]
        return "\n".join(html_to_text(chunk) for chunk in html)[:MAX_TEXT_CHARS]
    except Exception:
        return ""


def part_content_type(part) -> str:
    try:
        return (part.get_content_type() or "text/plain").lower()
    except Exception:
        return "text/plain"


def leaf_parts(message):
    """(part, content type) of every non-multipart part, depth first; message/* parts are not entered.

    Bounded by MAX_PARTS and MAX_DEPTH so that a hostile MIME tree cannot make us loop or recurse forever.
    """
    found = []
    stack = [(message, 0)]
    while stack and len(found) < MAX_PARTS:
        part, depth = stack.pop()
        content_type = part_content_type(part)
        payload = part_payload(part)
        if content_type.startswith("multipart/") and isinstance(payload, list) and depth < MAX_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(payload[:MAX_PARTS]))
        elif content_type.startswith("multipart/"):
            found.append((part, "text/plain"))  # a multipart without a usable boundary: read its body as text
        else:
            found.append((part, content_type))
    return found


def part_payload(part):
    try:
        return part.get_payload()
    except Exception:
        return None


def is_attachment(part) -> bool:
    try:
        disposition = (part.get("Content-Disposition") or "").lower()
    except Exception:
        return False
    return disposition.startswith("attachment")


def part_text(part, limit: int) -> str:
    """Decoded text of a leaf part, reading at most about `limit` characters of its body."""
    # The raw payload: get_payload() would already decode 8-bit bytes with the declared charset, replacing what
    # that charset cannot read (an unknown charset then loses every accented letter).
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        payload = part_payload(part)
    if payload is None or isinstance(payload, list):
        return ""
    raw = payload if isinstance(payload, str) else str(payload)
    try:
        encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    except Exception:
        encoding = ""
    # Encoded bodies are longer than their text: base64 by 4/3, quoted-printable up to 3 times.
    raw = raw[: limit * 3]
    try:
        data = raw.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return raw[:limit]  # parsed from a str: it is already text
    if encoding == "base64":
        data = _lenient_base64(data)
    elif encoding == "quoted-printable":
        data = quopri.decodestring(data)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(data, charset)[:limit]


def encoded_message_part_text(part) -> str | None:
    """The decoded text of a message/* part sent base64 or quoted-printable (RFC 2046 forbids it, some MTAs do it),
    else None. The stdlib parses such a part's encoded lines as if they were headers and bodies, so neither its
    fields nor Odoo's bounce parser see anything: put the lines back together and decode them."""
    try:
        encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    except Exception:
        return None
    if encoding not in ("base64", "quoted-printable"):
        return None
    payload = part_payload(part)
    chunks = []
    for block in payload[:MAX_PARTS] if isinstance(payload, list) else [part]:
        head = "".join(f"{name}: {value}\n" for name, value in header_items(block))
        body = getattr(block, "_payload", "")
        chunks.append(head + (body if isinstance(body, str) else ""))
    raw = "\n".join(chunks).encode("ascii", "surrogateescape")
    data = _lenient_base64(raw) if encoding == "base64" else quopri.decodestring(raw)
    return decode_bytes(data, None).replace("\r\n", "\n")


def _lenient_base64(data: bytes) -> bytes:
    cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
    try:
        return binascii.a2b_base64(cleaned)
    except (binascii.Error, ValueError):
        return b""


class _TextExtractor(HTMLParser):
    """HTML to text: block elements end lines, <blockquote> content gets "> " so quoted history can be dropped."""

    BLOCK_TAGS = frozenset(("p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "pre"))
    SKIPPED_TAGS = frozenset(("script", "style", "head", "title"))

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines = [""]
        self.quote_depth = 0
        self.line_depth = [0]
        self.skipping = 0

    def _newline(self):
        self.lines.append("")
        self.line_depth.append(self.quote_depth)

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "blockquote":
            self.quote_depth += 1
            self._newline()
        elif tag in self.BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag):
        if tag in self.SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self._newline()
        elif tag in self.BLOCK_TAGS:
            self._newline()

    def handle_data(self, data):
        if self.skipping:
            return
        pieces = data.replace("\r", "").split("\n")
        for index, piece in enumerate(pieces):
            if index:
                self._newline()
            if not self.lines[-1]:
                self.line_depth[-1] = self.quote_depth
            self.lines[-1] += piece.replace("\xa0", " ")

    def text(self):
        out = []
        for line, depth in zip(self.lines, self.line_depth, strict=False):
            line = " ".join(line.split())
            if line:
                out.append("> " * depth + line)
        return "\n".join(out)


@lru_cache(maxsize=8)  # classify() reads the same body for the bounce and the auto-reply checks
def html_to_text(html: str) -> str:
    """Text of an HTML body (blockquotes prefixed with "> "); falls back to a regex strip if the parser fails."""
    html = (html or "")[:MAX_HTML_CHARS]
    try:
        extractor = _TextExtractor()
        extractor.feed(html)
        extractor.close()
        return extractor.text()
    except Exception:
        text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
        return unescape(re.sub(r"<[^>]*>", " ", text))


# =====================================================================================================================
# Quoted history
# =====================================================================================================================


def strip_quoted(text: str) -> str:
    """The new text of a reply: lines quoted with ">" dropped, and everything from the quoted history onward.

    History starts at an attribution line ("On ... wrote:" and its 7-language forms, possibly wrapped), a
    separator ("-----Original Message-----", "Ursprüngliche Nachricht", "Begin forwarded message:"...) or an
    Outlook header block ("From: ..." followed by "Sent:"/"Date:"/"To:" lines).
    """
    lines = (text or "")[:MAX_TEXT_CHARS].splitlines()
    kept = []
    for index, line in enumerate(lines):
        if _starts_history(lines, index):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _starts_history(lines: list[str], index: int) -> bool:
    line = lines[index]
    if not line.strip():
        return False
    if SEPARATOR_RE.match(line):
        return True
    if HEADER_BLOCK_FROM_RE.match(line):
        following = [candidate for candidate in lines[index + 1 : index + 4] if candidate.strip()]
        if following and HEADER_BLOCK_NEXT_RE.match(following[0]):
            return True
    if len(line) > 500:
        return False
    if ATTRIBUTION_RE.match(line):
        return True
    if ATTRIBUTION_START_RE.match(line):
        # Gmail and others wrap long attribution lines: "On Mon, ... Sales <\nsales@x.com> wrote:"
        for end in (index + 2, index + 3):
            wrapped = " ".join(part.strip() for part in lines[index:end])
            if len(wrapped) < 700 and ATTRIBUTION_RE.match(wrapped):
                return True
    return False


def has_quoted_history(text: str, top: str) -> bool:
    return len(top.strip()) + 20 < len((text or "").strip())


def subject_head(subject: str) -> str:
    """The part of a subject before the first Re:/AW:/Fwd: prefix (the rest is someone else's subject)."""
    subject = subject or ""
    match = REPLY_PREFIX_RE.search(subject)
    return subject[: match.start()] if match else subject


def is_null_sender(headers) -> bool:
    return any(value.strip() in ("<>", "") for value in header_values(headers, "return-path"))


def parse_address(value: str) -> tuple[str, str]:
    try:
        display, address = email.utils.parseaddr(value)
    except Exception:
        return "", ""
    return display or "", (address or "").lower()
