"""Complaints: a recipient reported the email as spam (abuse). The address must never be mailed again.

Two sources:

* an ARF report (RFC 5965), what mailbox providers' feedback loops send: ``multipart/report;
  report-type=feedback-report`` with a ``message/feedback-report`` part whose ``Feedback-Type`` is ``abuse``,
  ``fraud``, ``virus`` or ``other`` (``not-spam`` and ``auth-failure``, a DMARC/DKIM failure report, are no
  complaint), and the reported email attached (``message/rfc822`` or ``text/rfc822-headers``). The complained
  address is the report's ``Original-Rcpt-To``, else the ``To`` of the attached email (providers often redact it);
* an Amazon SES Complaint notification mailed as JSON (see ``ses``).

The finding names the complained addresses (at most MAX_RECIPIENTS) and the Message-Ids of the reported email,
so the caller can match the complaint to what it sent before acting on it.
"""

from dataclasses import dataclass

from . import ses
from .bounce import attached_message_ids, bare_address, ids_in_header_text, parse_fields
from .mime import header_items, header_values, leaf_parts, part_payload, part_text
from .patterns import DSN_FIELDS_CHARS, MAX_RECIPIENTS

COMPLAINT_FEEDBACK_TYPES = ("abuse", "fraud", "virus", "other")


@dataclass(frozen=True)
class Complaint:
    recipients: tuple[str, ...]  # complained addresses, lower-cased, bare
    original_message_ids: tuple[str, ...]  # Message-Ids of the reported email, with angle brackets
    feedback_type: str  # "abuse", "fraud", "virus", "other"
    source: str  # "arf" or "ses"


def detect(message, received) -> Complaint | None:
    """The classify pipeline's complaint signal (`received` unused)."""
    return parse_complaint(message)


def parse_complaint(message) -> Complaint | None:
    """The complaint in `message` (ARF report or SES notification), or None when it is not one. Never raises."""
    try:
        notification = ses.notification(message)
        if notification is not None:
            fields = ses.complaint_fields(notification)
            return Complaint(**fields) if fields else None
        return _arf_complaint(message)
    except Exception:  # a complaint not recognised is handled as before: never break the gateway
        return None


def _arf_complaint(message) -> Complaint | None:
    report, recipients, ids = None, [], []
    for part, content_type in leaf_parts(message):
        if content_type == "message/feedback-report":
            report = _report_fields(part)
        elif content_type in ("message/rfc822", "message/global"):
            ids.extend(attached_message_ids(part))
            recipients.extend(_attached_recipients(part))
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            text = part_text(part, DSN_FIELDS_CHARS)
            ids.extend(ids_in_header_text(text))
            for block in parse_fields(text)[:1]:
                recipients.extend(bare_address(item) for item in (block.get("to") or "").split(","))
    if report is None or (report.get("feedback-type") or "").strip().lower() not in COMPLAINT_FEEDBACK_TYPES:
        return None
    stated = [bare_address(value) for value in report.get("original-rcpt-to", [])]
    found = [address for address in (stated if any(stated) else recipients) if address]
    return Complaint(
        recipients=tuple(dict.fromkeys(found))[:MAX_RECIPIENTS],
        original_message_ids=tuple(dict.fromkeys(ids))[:MAX_RECIPIENTS],
        feedback_type=(report.get("feedback-type") or "").strip().lower(),
        source="arf",
    )


def _report_fields(part) -> dict:
    """The feedback-report fields: one value per name, every Original-Rcpt-To (a report may name several)."""
    payload = part_payload(part)
    if isinstance(payload, list) and payload:
        pairs = header_items(payload[0])
    else:
        pairs = [
            (name, value) for block in parse_fields(part_text(part, DSN_FIELDS_CHARS)) for name, value in block.items()
        ]
    fields = {"original-rcpt-to": [value for name, value in pairs if name == "original-rcpt-to"]}
    for name, value in pairs:
        if name != "original-rcpt-to":
            fields.setdefault(name, value)
    return fields


def _attached_recipients(part) -> list[str]:
    payload = part_payload(part)
    if not isinstance(payload, list) or not payload:
        return []
    return [bare_address(item) for value in header_values(header_items(payload[0]), "to") for item in value.split(",")]
