"""Amazon SES notifications mailed as JSON (an SNS topic with an email or email-json subscription).

SES reports bounces and complaints to an SNS topic; an email subscription mails either the SNS envelope
(``{"Type": "Notification", "Message": "<the notification as a JSON string>", ...}``) or the notification itself,
followed by SNS's unsubscribe footer. The notification (``notificationType``, or ``eventType`` for event
publishing) holds ``bounce.bouncedRecipients`` or ``complaint.complainedRecipients`` and ``mail`` (the email
that bounced: SES's ``messageId`` and its original ``headers``).

Only a body that *starts* with such JSON and carries a ``mail`` object counts: a person pasting a notification
into a reply writes words before it.
"""

import json

from .mime import message_ids_in, message_text
from .patterns import EMAIL_RE, ENHANCED_STATUS_RE, MAX_JSON_CHARS, MAX_RECIPIENTS

KINDS = ("Bounce", "Complaint")


def notification(message) -> dict | None:
    """The SES notification a message carries, else None."""
    text = message_text(message)[:MAX_JSON_CHARS].lstrip()
    if not text.startswith("{"):
        return None
    try:
        found, _end = json.JSONDecoder().raw_decode(text)
        if isinstance(found, dict) and found.get("Type") == "Notification" and isinstance(found.get("Message"), str):
            found = json.loads(found["Message"])
    except ValueError:
        return None
    if not isinstance(found, dict) or kind_of(found) not in KINDS or not isinstance(found.get("mail"), dict):
        return None
    return found


def kind_of(notification: dict) -> str:
    return str(notification.get("notificationType") or notification.get("eventType") or "")


def bounce_fields(notification: dict) -> dict | None:
    """Bounce(...) keyword arguments of a Bounce notification: Permanent is hard, Transient and Undetermined soft."""
    if kind_of(notification) != "Bounce":
        return None
    bounce = _dict(notification.get("bounce"))
    recipients = _list_of_dicts(bounce.get("bouncedRecipients"))
    first = recipients[0] if recipients else {}
    diagnostic = " ".join(str(first.get("diagnosticCode") or "").split())
    if diagnostic.lower().startswith("smtp;"):
        diagnostic = diagnostic[5:].strip()
    status = _status(first.get("status")) or _status(diagnostic)
    kind = "hard" if str(bounce.get("bounceType") or "") == "Permanent" else "soft"
    reason = " / ".join(str(bounce.get(key)) for key in ("bounceType", "bounceSubType") if bounce.get(key))
    return {
        "kind": kind,
        "status": status,
        "recipients": addresses(recipients),
        "original_message_ids": original_ids(notification),
        "diagnostic": (diagnostic or reason)[:300],
    }


def complaint_fields(notification: dict) -> dict | None:
    """Complaint(...) keyword arguments of a Complaint notification; None for "not-spam" feedback."""
    if kind_of(notification) != "Complaint":
        return None
    complaint = _dict(notification.get("complaint"))
    feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()
    if feedback_type == "not-spam":
        return None
    return {
        "recipients": addresses(_list_of_dicts(complaint.get("complainedRecipients"))),
        "original_message_ids": original_ids(notification),
        "feedback_type": feedback_type[:40],
        "source": "ses",
    }


def addresses(recipients: list[dict]) -> tuple[str, ...]:
    found = []
    for recipient in recipients[:MAX_RECIPIENTS]:
        match = EMAIL_RE.search(str(recipient.get("emailAddress") or ""))
        if match:
            found.append(match.group(0).lower())
    return tuple(dict.fromkeys(found))


def original_ids(notification: dict) -> tuple[str, ...]:
    """The Message-ID the email was sent with (its headers as SES received them), else SES's own id."""
    mail = _dict(notification.get("mail"))
    ids = []
    for header in _list_of_dicts(mail.get("headers")):
        if str(header.get("name") or "").lower() == "message-id":
            ids.extend(message_ids_in(str(header.get("value") or "")))
    ids.extend(message_ids_in(str(_dict(mail.get("commonHeaders")).get("messageId") or "")))
    if not ids and mail.get("messageId"):
        ids.append(f"<{str(mail['messageId']).strip('<>')}@email.amazonses.com>")
    return tuple(dict.fromkeys(ids))[:MAX_RECIPIENTS]


def _status(value) -> str | None:
    match = ENHANCED_STATUS_RE.search(str(value or ""))
    return ".".join(match.groups()) if match and match.group(1) in ("4", "5") else None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list_of_dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
