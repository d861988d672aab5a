"""Auto-replies: out-of-office and other machine answers, told from a person's reply (see the package docstring)."""

import re
from dataclasses import dataclass
from datetime import date

from .mime import (
    has_quoted_history,
    header_items,
    header_value,
    header_values,
    is_null_sender,
    message_text,
    parse_address,
    strip_quoted,
    subject_head,
)
from .patterns import (
    AUTO_BODY_ABSENCE_RE,
    AUTO_BODY_CERTAIN_RE,
    AUTO_BODY_HINT_RE,
    AUTO_REPLY_HEADER_RULES,
    AUTO_SUBJECT_PREFIX_RE,
    AUTO_SUBJECT_RE,
    AUTO_SUBJECT_START_RE,
    BODY_SCAN_CHARS,
    CONVERSATION_RE,
    EXCHANGE_RULE_HEADERS,
    MAILING_LIST_HEADERS,
    MAX_TEXT_CHARS,
    NO_REPLY_SENDER_RE,
    PRECEDENCE_AUTO_RE,
    PRECEDENCE_BULK_RE,
)
from .return_date import extract_return_date


@dataclass(frozen=True)
class AutoReply:
    reason: str  # why it was recognised, e.g. "header Auto-Submitted: auto-replied" or "subject: Out of Office"
    return_date: date | None  # the first day the person says they are back, if stated


def detect(message, received) -> AutoReply | None:
    """The classify pipeline's auto-reply signal: headers, subject and the new text of the body."""
    headers = header_items(message)
    return classify_auto_reply(headers, header_value(headers, "subject"), message_text(message), received)


def classify_auto_reply(headers, subject: str, text: str, received: date | None = None) -> AutoReply | None:
    """An AutoReply when headers, subject or the new body text say the message was sent by a machine, else None.

    `headers`: a mapping, a message or a list of (name, value) pairs; names are case-insensitive.
    """
    try:
        pairs = header_items(headers)
        subject = subject or ""
        text = (text or "")[:MAX_TEXT_CHARS]
        top = strip_quoted(text)
        quotes_history = has_quoted_history(text, top)
        top = top[:BODY_SCAN_CHARS]
        reason = (
            auto_reply_header_reason(pairs)
            or _auto_reply_subject_reason(subject)
            or _bulk_precedence_reason(pairs, top)
            or _auto_reply_body_reason(top, quotes_history, pairs)
        )
        if reason is None:
            return None
        received = received or date.today()
        return_date = extract_return_date(top, received) or extract_return_date(subject, received)
        return AutoReply(reason=reason, return_date=return_date)
    except Exception:
        return None


def auto_reply_header_reason(headers) -> str | None:
    names = {name for name, _ in headers}
    auto_submitted = header_value(headers, "auto-submitted")
    if auto_submitted and not re.match(r"^\s*no\b", auto_submitted, re.IGNORECASE):
        return f"header Auto-Submitted: {auto_submitted[:60]}"
    for name, pattern, reason in AUTO_REPLY_HEADER_RULES:
        for value in header_values(headers, name):
            if pattern is None or re.search(pattern, value, re.IGNORECASE):
                return reason
    precedence = header_value(headers, "precedence")
    if precedence and PRECEDENCE_AUTO_RE.match(precedence) and not names.intersection(MAILING_LIST_HEADERS):
        return f"header Precedence: {precedence[:30]}"
    if "x-auto-response-suppress" in names and names.intersection(EXCHANGE_RULE_HEADERS):
        return "header X-Auto-Response-Suppress with an Exchange inbox rule"
    if re.match(r"^\s*multipart/report", header_value(headers, "content-type"), re.IGNORECASE):
        return "header Content-Type: multipart/report (delivery or read receipt)"
    return None


def _bulk_precedence_reason(headers, top: str) -> str | None:
    """``Precedence: bulk/junk/list`` (or X-Precedence) with out-of-office wording in the new text, even above quoted
    history; without that wording it is a newsletter's or a person's mail setup, no evidence of a machine."""
    if {name for name, _ in headers}.intersection(MAILING_LIST_HEADERS):
        return None
    for name in ("precedence", "x-precedence"):
        value = header_value(headers, name)
        wording = AUTO_BODY_CERTAIN_RE.search(top) or AUTO_BODY_ABSENCE_RE.search(top) or AUTO_BODY_HINT_RE.search(top)
        if value and PRECEDENCE_BULK_RE.match(value) and wording:
            return f"header Precedence: {value[:30]} with out-of-office wording ({wording.group(0).strip()[:40]})"
    return None


def _auto_reply_subject_reason(subject: str) -> str | None:
    head = subject_head(subject)
    match = AUTO_SUBJECT_RE.search(head) or AUTO_SUBJECT_START_RE.search(head) or AUTO_SUBJECT_PREFIX_RE.search(subject)
    if match:
        return f"subject: {subject.strip()[:80]}"
    return None


def _auto_reply_body_reason(top: str, quotes_history: bool, headers) -> str | None:
    """Machine-only phrases always count; hints and absences need no quoted history, a machine sender, or both."""
    certain = AUTO_BODY_CERTAIN_RE.search(top)
    if certain:
        return f"body: {certain.group(0).strip()[:60]}"
    hint = AUTO_BODY_HINT_RE.search(top)
    absence = AUTO_BODY_ABSENCE_RE.search(top)
    found = hint or absence
    if not found:
        return None
    if _is_machine_sender(headers):
        return f"body: {found.group(0).strip()[:60]}"
    # A person answering ("I'm away next week, for urgent matters call Bob; let's talk after") writes to the
    # reader, an autoresponder informs: weak signals never count in a text that talks to the reader.
    if CONVERSATION_RE.search(top):
        return None
    if (hint and absence) or not quotes_history:
        return f"body: {found.group(0).strip()[:60]}"
    return None


def _is_machine_sender(headers) -> bool:
    if is_null_sender(headers):
        return True
    _, address = parse_address(header_value(headers, "from"))
    return bool(address and NO_REPLY_SENDER_RE.match(address.split("@", 1)[0]))
