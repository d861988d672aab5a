"""Bounces: RFC 3464 delivery reports and the non-standard notices of real mail systems (see the package docstring)."""

import re
from dataclasses import dataclass

from . import ses
from .auto_reply import auto_reply_header_reason
from .mime import (
    as_message,
    encoded_message_part_text,
    header_items,
    header_value,
    header_values,
    html_to_text,
    is_attachment,
    is_null_sender,
    leaf_parts,
    message_ids_in,
    parse_address,
    part_content_type,
    part_payload,
    part_text,
    subject_head,
)
from .patterns import (
    BASIC_CODE_RE,
    BOILERPLATE_RE,
    BOUNCE_EVIDENCE_RE,
    BOUNCE_RECIPIENT_RES,
    BOUNCE_SUBJECT_RE,
    DSN_FIELDS_CHARS,
    EMAIL_RE,
    ENHANCED_STATUS_RE,
    MAILBOX_FULL_RE,
    MAILER_DISPLAY_NAME_RE,
    MAILER_LOCAL_PART_RE,
    MAX_HTML_CHARS,
    MAX_PARTS,
    MAX_RECIPIENTS,
    MAX_TEXT_CHARS,
    MESSAGE_ID_FOLDED_RE,
    MESSAGE_ID_LINE_RE,
    NOTIFICATION_SCAN_CHARS,
    REASON_HINT_RE,
    RETURNED_COPY_MARKERS_RE,
    SOFT_BOUNCE_RE,
)


@dataclass(frozen=True)
class Bounce:
    kind: str  # "hard" or "soft"
    status: str | None  # DSN status like "5.1.1" / "4.2.2", None when unknown
    recipients: tuple[str, ...]  # bounced addresses, lower-cased, bare
    original_message_ids: tuple[str, ...]  # Message-Ids of the email that bounced, with angle brackets
    diagnostic: str  # short human text (e.g. "550 5.1.1 User unknown"), may be ""


@dataclass
class _Anatomy:
    """What a delivery report is made of, gathered in one walk over its MIME tree."""

    notification: str  # human-readable text of the report (before any copy of the returned message)
    full_text: str  # all readable text, returned copy included (for Message-ID lines)
    recipient_blocks: list  # RFC 3464 per-recipient fields, as dicts of lower-case names
    is_report: bool  # Content-Type multipart/report
    report_type: str
    has_returned_copy: bool  # a message/rfc822 or text/rfc822-headers part
    original_ids: list
    blocks_in_text: bool  # recipient fields read from the text, not from a message/delivery-status part


def detect(message, received) -> Bounce | None:
    """The classify pipeline's bounce signal (`received` unused: a bounce carries no date to read)."""
    return parse_bounce(message)


def parse_bounce(message) -> Bounce | None:
    """The bounce in `message` (RFC 3464 DSN, an SES notification or a known non-standard notice), or None."""
    try:
        message = as_message(message)
        notification = ses.notification(message)
        if notification is not None:
            fields = ses.bounce_fields(notification)
            return Bounce(**fields) if fields else None
        headers = header_items(message)
        anatomy = _anatomy(message)
        return _bounce_from(headers, anatomy)
    except Exception:  # not recognising a bounce is safer than breaking the gateway
        return None


def _anatomy(message) -> _Anatomy:
    plain, html, blocks, original_ids = [], [], [], []
    has_copy = False
    for part, content_type in leaf_parts(message):
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            blocks.extend(_delivery_status_blocks(part))
        elif content_type in ("message/rfc822", "message/global"):
            has_copy = True
            original_ids.extend(attached_message_ids(part))
        elif content_type in (
            "text/rfc822-headers",
            "text/rfc822-header",
            "message/rfc822-headers",
            "message/global-headers",
        ):
            has_copy = True
            original_ids.extend(ids_in_header_text(part_text(part, DSN_FIELDS_CHARS)))
        elif content_type == "text/plain":
            plain.append(part_text(part, MAX_TEXT_CHARS))
        elif content_type == "text/html" and not is_attachment(part):
            html.append(part_text(part, MAX_HTML_CHARS))
    if any(chunk.strip() for chunk in plain):
        full = "\n".join(plain)
    else:
        full = "\n".join(html_to_text(chunk) for chunk in html)
    full = full[:MAX_TEXT_CHARS]
    notification = _before_returned_copy(full)[:NOTIFICATION_SCAN_CHARS]
    blocks_in_text = not blocks
    if blocks_in_text:
        # Some MTAs print the RFC 3464 fields in the text itself; trusted only from a mailer (see _bounce_from).
        blocks = [block for block in parse_fields(notification) if _is_recipient_block(block)]
    content_type = part_content_type(message)
    try:
        report_type = str(message.get_param("report-type") or "").lower()
    except Exception:
        report_type = ""
    return _Anatomy(
        notification=notification,
        full_text=full,
        recipient_blocks=[block for block in blocks if _is_recipient_block(block)],
        is_report=content_type == "multipart/report",
        report_type=report_type,
        has_returned_copy=has_copy,
        original_ids=original_ids,
        blocks_in_text=blocks_in_text,
    )


def _before_returned_copy(text: str) -> str:
    match = RETURNED_COPY_MARKERS_RE.search(text)
    # A marker in the first lines is the report's own header echo, not the returned copy.
    if match and match.start() > 40:
        return text[: match.start()]
    return text


def _delivery_status_blocks(part) -> list[dict]:
    """The field blocks of a message/delivery-status part (the stdlib gives them as a list of header blocks)."""
    encoded = encoded_message_part_text(part)
    if encoded is not None:
        return parse_fields(encoded[:DSN_FIELDS_CHARS])
    payload = part_payload(part)
    if isinstance(payload, list):
        blocks = []
        for block in payload[:MAX_PARTS]:
            fields = {}
            for name, value in header_items(block):
                fields.setdefault(name, value)
            # The stdlib ends a block at the first line it cannot read as a header; keep the rest too.
            if fields:
                blocks.append(fields)
            leftover = part_payload(block)
            if isinstance(leftover, str) and ":" in leftover:
                blocks.extend(parse_fields(leftover[:DSN_FIELDS_CHARS]))
        return blocks
    return parse_fields(part_text(part, DSN_FIELDS_CHARS))


def parse_fields(text: str) -> list[dict]:
    """RFC 822-style "Name: value" blocks separated by blank lines (continuation lines joined)."""
    blocks, current, last = [], {}, None
    for line in (text or "")[:DSN_FIELDS_CHARS].splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in (" ", "\t") and last:
            current[last] += " " + line.strip()
            continue
        match = re.match(r"^\s*([A-Za-z][A-Za-z0-9-]{1,40})\s*:\s*(.*)$", line)
        if match:
            last = match.group(1).lower()
            current.setdefault(last, match.group(2).strip())
        else:
            last = None
    if current:
        blocks.append(current)
    return blocks


def _is_recipient_block(block: dict) -> bool:
    return "final-recipient" in block or "original-recipient" in block or ("action" in block and "status" in block)


def attached_message_ids(part) -> list[str]:
    encoded = encoded_message_part_text(part)
    if encoded is not None:
        return ids_in_header_text(encoded.split("\n\n", 1)[0] + "\n")
    payload = part_payload(part)
    if isinstance(payload, list) and payload:
        ids = message_ids_in(header_value(header_items(payload[0]), "message-id"))
        if ids:
            return ids[:1]
        return ids_in_header_text(part_payload(payload[0]) if isinstance(part_payload(payload[0]), str) else "")
    return ids_in_header_text(part_text(part, DSN_FIELDS_CHARS))


def ids_in_header_text(text: str) -> list[str]:
    """The Message-ID quoted in text (a headers part, or a transcript); the first one is the returned message's."""
    text = (text or "")[:MAX_TEXT_CHARS]
    ids = MESSAGE_ID_LINE_RE.findall(text) + MESSAGE_ID_FOLDED_RE.findall(text)
    return ids[:1]


def _bounce_from(headers, anatomy: _Anatomy) -> Bounce | None:
    if _is_success_report(anatomy):
        return None
    failing = _failing_blocks(anatomy.recipient_blocks)
    # A delivery-status part is structure; the same fields typed in a text could be a person pasting a report.
    structural = bool(failing) and not anatomy.blocks_in_text
    if not structural and not _looks_like_bounce(headers, anatomy):
        return None
    primary = _primary_block(failing)
    status = _status_of(primary, anatomy.notification)
    diagnostic = _diagnostic_of(primary, anatomy.notification, status)
    kind = _bounce_kind(primary, status, diagnostic, anatomy.notification, header_value(headers, "subject"))
    recipients = _bounce_recipients(failing, headers, anatomy)
    return Bounce(
        kind=kind,
        status=status,
        recipients=recipients,
        original_message_ids=_original_ids(headers, anatomy),
        diagnostic=diagnostic,
    )


def _action(block: dict) -> str:
    return (block.get("action") or "").strip().lower()


def _block_status(block: dict) -> str | None:
    match = ENHANCED_STATUS_RE.search(block.get("status") or "")
    return ".".join(match.groups()) if match else None


def _failing_blocks(blocks: list[dict]) -> list[dict]:
    failing = []
    for block in blocks:
        action = _action(block)
        status = _block_status(block) or ""
        if action.startswith(("fail", "delay")) or (not action and status[:1] in ("4", "5")):
            failing.append(block)
    return failing


def _is_success_report(anatomy: _Anatomy) -> bool:
    """A DSN whose recipients were all delivered, relayed or expanded (a success notice, not a bounce)."""
    blocks = anatomy.recipient_blocks
    if not blocks or _failing_blocks(blocks):
        return False
    return all(
        _action(block).startswith(("deliver", "relay", "expand")) or (_block_status(block) or "").startswith("2")
        for block in blocks
    )


def _primary_block(failing: list[dict]) -> dict | None:
    """The recipient that decides the bounce: a failed one before a delayed one."""
    for block in failing:
        if _action(block).startswith("fail"):
            return block
    return failing[0] if failing else None


def _looks_like_bounce(headers, anatomy: _Anatomy) -> bool:
    """A non-RFC 3464 bounce: mailer sender, NDR headers or report structure, together with failure evidence."""
    subject_hit = bool(BOUNCE_SUBJECT_RE.search(subject_head(header_value(headers, "subject"))))
    evidence = _has_failure_evidence(anatomy.notification)
    # NDR headers (Exchange's, Exim's X-Failed-Recipients) support a report with a bounce subject or failure text;
    # alone they are no bounce: anyone can write a header.
    ndr_headers = {"x-ms-exchange-message-is-ndr", "x-failed-recipients"}
    if any(name in ndr_headers for name, _ in headers) and (subject_hit or evidence):
        return True
    if anatomy.is_report and anatomy.report_type in ("delivery-status", "") and (subject_hit or evidence):
        return True
    if _is_mailer_sender(headers):
        return subject_hit or evidence
    if is_null_sender(headers) and subject_hit and evidence:
        return auto_reply_header_reason(headers) is None or anatomy.has_returned_copy
    return subject_hit and evidence and anatomy.has_returned_copy


def _has_failure_evidence(text: str) -> bool:
    return bool(BOUNCE_EVIDENCE_RE.search(text) or _text_status(text) or _basic_code(text))


def _is_mailer_sender(headers) -> bool:
    for name in ("from", "sender"):
        value = header_value(headers, name)
        if not value:
            continue
        display, address = parse_address(value)
        local = address.split("@", 1)[0] if address else ""
        if local and MAILER_LOCAL_PART_RE.match(local):
            return True
        if display and MAILER_DISPLAY_NAME_RE.search(display):
            return True
        if not address and MAILER_DISPLAY_NAME_RE.search(value):
            return True
    return False


def _status_of(block: dict | None, notification: str) -> str | None:
    """The enhanced status of the failure.

    The code in the remote server's own answer (Diagnostic-Code) wins over the Status field, which the reporting
    MTA often fills with a generic or approximate value (Status 5.0.0 for "550 5.1.1 User unknown", 5.1.1 for
    "552 5.2.2 Over quota"); a generic X.0.0 Status is also made precise by a code of the same class in the text.
    """
    if block is None:
        return _text_status(notification)
    precise = _text_status(block.get("diagnostic-code") or "")
    if precise:
        return precise
    status = _block_status(block)
    if status and not status.endswith(".0.0"):
        return status
    from_text = _text_status(notification)
    if status and from_text and from_text[0] == status[0]:
        return from_text
    return status or from_text


def _text_status(text: str) -> str | None:
    """The first 4.x.x/5.x.x enhanced code in the text, preferring one printed right after a basic reply code."""
    text = (text or "")[:MAX_TEXT_CHARS]
    paired = re.search(r"(?<!\d)[45]\d\d[ \-]['\"]?#?([45]\.[0-7]\.\d{1,3})(?!\d|\.\d)", text)
    if paired:
        return paired.group(1)
    for match in ENHANCED_STATUS_RE.finditer(text):
        if match.group(1) in ("4", "5"):
            return ".".join(match.groups())
    return None


def _basic_code(text: str) -> str | None:
    match = BASIC_CODE_RE.search((text or "")[:MAX_TEXT_CHARS])
    return match.group(1) if match else None


def _diagnostic_of(block: dict | None, notification: str, status: str | None) -> str:
    """Short human text: the DSN Diagnostic-Code, else the notification line holding the code or the failure."""
    if block is not None and block.get("diagnostic-code"):
        text = re.sub(r"^\s*(?:smtp|x-\w+|mta|ngx)\s*;\s*", "", block["diagnostic-code"], flags=re.IGNORECASE)
        return _shorten(text)
    lines = [line.strip() for line in notification.splitlines() if line.strip()]
    needles = [needle for needle in (status, _basic_code(notification)) if needle]
    for needle in needles:
        for line in lines:
            if needle in line:
                return _shorten(line)
    for pattern in (REASON_HINT_RE, BOUNCE_EVIDENCE_RE):
        for line in lines:
            if pattern.search(line) and not BOILERPLATE_RE.search(line):
                return _shorten(line)
    return ""


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bounce_kind(block, status, diagnostic, notification, subject) -> str:
    """Soft for delays, 4.x.x, 5.2.2 and full mailboxes; hard for every other failure."""
    if block is not None and _action(block).startswith("delay"):
        return "soft"
    if MAILBOX_FULL_RE.search(diagnostic):
        return "soft"
    # A report with only a generic status (5.0.0) and no server answer: its text is all there is to go on.
    server_answer = block.get("diagnostic-code") if block is not None else None
    generic = status is None or status.endswith(".0.0")
    if generic and not server_answer and MAILBOX_FULL_RE.search(notification):
        return "soft"
    if status:
        return "soft" if status[0] == "4" or status.startswith("5.2.2") else "hard"
    basic = _basic_code(diagnostic) or _basic_code(notification)
    if basic:
        return "soft" if basic[0] == "4" else "hard"
    if block is not None and _action(block).startswith("fail"):
        return "hard"
    if MAILBOX_FULL_RE.search(notification) or SOFT_BOUNCE_RE.search(notification) or SOFT_BOUNCE_RE.search(subject):
        return "soft"
    return "hard"


def _bounce_recipients(failing, headers, anatomy: _Anatomy) -> tuple[str, ...]:
    found = []
    for block in failing:
        for field in ("final-recipient", "original-recipient"):
            address = bare_address(block.get(field) or "")
            if address:
                found.append(address)
                break
    if not found:
        # X-Failed-Recipients names only what the report's own text names too.
        text = anatomy.notification.lower()
        for value in header_values(headers, "x-failed-recipients"):
            found.extend(address for address in map(bare_address, value.split(",")) if address and address in text)
    if not found:
        found = _recipients_in_text(anatomy.notification, headers)
    return tuple(dict.fromkeys(address for address in found if address))[:MAX_RECIPIENTS]


def bare_address(value: str) -> str:
    """ "rfc822; <John@Example.com>" -> "john@example.com"."""
    value = re.sub(r"^\s*[\w-]+\s*;", "", value or "")
    match = EMAIL_RE.search(value)
    return match.group(0).lower().strip(".") if match else ""


def _recipients_in_text(text: str, headers) -> list[str]:
    """Known phrasings first; else any address of the notification that is not the sender's or the mailer's."""
    for pattern in BOUNCE_RECIPIENT_RES:
        found = [bare_address(match.group(1)) for match in pattern.finditer(text)]
        found = [address for address in found if address and not _is_own_address(address, headers)]
        if found:
            return found
    candidates = [address.lower().strip(".") for address in EMAIL_RE.findall(text)]
    return [address for address in candidates if not _is_own_address(address, headers)][:5]


def _is_own_address(address: str, headers) -> bool:
    """The report's own From/To/Return-Path (mailer and original sender) and mailer mailboxes are not recipients."""
    local = address.split("@", 1)[0]
    if MAILER_LOCAL_PART_RE.match(local):
        return True
    for name in ("from", "to", "return-path", "sender", "reply-to"):
        for value in header_values(headers, name):
            if address in value.lower():
                return True
    return False


def _original_ids(headers, anatomy: _Anatomy) -> tuple[str, ...]:
    """Message-Ids of the bounced email: attached copy or headers, then quoted Message-ID lines, then the report's
    own In-Reply-To/References (Gmail and others thread their reports on the bounced message)."""
    ids = list(anatomy.original_ids)
    if not ids:
        ids.extend(ids_in_header_text(anatomy.full_text))
    for name in ("in-reply-to", "references"):
        for value in header_values(headers, name):
            ids.extend(message_ids_in(value))
    own = set(message_ids_in(header_value(headers, "message-id")))
    return tuple(dict.fromkeys(one for one in ids if one not in own))[:MAX_RECIPIENTS]
