"""Tests of lib/inbound/ (issue 17): an auto-reply only on positive evidence, bounces read wherever Odoo cannot,
SES and Office 365 notifications, complaints, and bounce results that carry only what the report proves.

Run with: cd lib/tests && PYTHONPATH=.. python -m pytest -q -p no:cacheprovider --rootdir=. --confcutdir=. .

tests/fixtures/inbound_next holds messages the Odoo gateway does not route yet (DSNs Odoo's own bounce
parser cannot read): they are classified here; base64 parts hold the VALUES below literally.
"""

import email
import email.policy
import json
from datetime import date
from pathlib import Path
from string import Template

import pytest
from inbound import PIPELINE, Complaint, classify, classify_auto_reply, parse_bounce

NEXT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "inbound_next"
CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "inbound"
VALUES = {
    "SENT_MESSAGE_ID": "<123.456@odoo.example.com>",
    "CONTACT_EMAIL": "laura.bennett@prospect-corp.example",
    "OTHER_EMAIL": "laura.b@home-mail.example",
    "SENDER_EMAIL": "sam.carter@odoo.example.com",
    "REPLY_TO": "catchall@odoo.example.com",
    "SUBJECT": "Cut CRM admin time by a third",
}
RECEIVED = date(2026, 12, 20)
QUOTE = "\n\nOn Mon, Dec 7, 2026 at 10:14 AM Sam <sam@odoo.example.com> wrote:\n> Would a call make sense?\n"


def raw_next(name):
    folder = NEXT if (NEXT / name).exists() else CORPUS
    return Template((folder / name).read_text(encoding="utf-8")).safe_substitute(VALUES).encode("utf-8")


def parse(text):
    return email.message_from_bytes(text.encode("utf-8"), policy=email.policy.SMTP)


# =====================================================================================================================
# Item 1: auto-reply only on positive evidence
# =====================================================================================================================


@pytest.mark.parametrize(
    "subject",
    [
        "[Ticket#3] Re: Our offer",
        "[Ticket#3] Our offer",
        "Antwort: Our offer [Ticket#111079]",
        "Ticket #4711: Our offer",
        "Thank you for your email",
        "Thanks for contacting me, Sam",
        "We have received your pricing",
        "Request received: next steps",
        "[EXTERNAL] Our offer",
    ],
)
def test_subject_tokens_alone_are_no_evidence_of_a_machine(subject):
    text = "Yes, send me the pricing for 40 users." + QUOTE
    assert classify_auto_reply({}, subject, text) is None
    message = parse(f"From: Laura <laura@example.com>\nSubject: {subject}\nIn-Reply-To: <a@b>\n\n{text}")
    assert classify(message).kind == "reply"


@pytest.mark.parametrize(
    "subject",
    [
        "[Ticket#3] Automatic reply: Our offer",
        "Abwesenheitsnotiz: Unser Angebot [Ticket#111079]",
        "Out of Office: Re: Our offer",
        "Réponse automatique : Notre offre",
    ],
)
def test_vacation_subjects_still_count_with_a_ticket_token(subject):
    assert classify_auto_reply({}, subject, "Back on Monday.") is not None


@pytest.mark.parametrize("precedence", ["bulk", "junk", "list"])
def test_precedence_bulk_alone_is_a_reply(precedence):
    headers = [("Precedence", precedence)]
    assert classify_auto_reply(headers, "Re: Our offer", "Sounds good, call me on Thursday." + QUOTE) is None


@pytest.mark.parametrize("precedence", ["bulk", "junk", "list"])
def test_precedence_bulk_with_out_of_office_wording_is_an_auto_reply(precedence):
    headers = [("Precedence", precedence)]
    text = "I am out of the office until 11 January." + QUOTE
    found = classify_auto_reply(headers, "Re: Our offer", text, RECEIVED)
    assert found is not None and found.reason.startswith("header Precedence")
    assert found.return_date == date(2027, 1, 12)
    assert classify_auto_reply([("X-Precedence", precedence)], "Out of office", "") is not None


def test_precedence_auto_reply_alone_is_enough():
    assert classify_auto_reply([("Precedence", "auto_reply")], "Re: Our offer", "Thanks" + QUOTE) is not None


@pytest.mark.parametrize(
    "text",
    [
        "I'm out of the office this week. For urgent matters call Bob. Could we talk on the 12th?",
        "Out of office until Friday, but yes: let's do the call next week.",
    ],
)
def test_absence_and_hint_in_a_person_talking_to_the_reader_is_a_reply(text):
    assert classify_auto_reply({}, "Re: Our offer", text + QUOTE) is None


def test_auto_submitted_no_is_no_evidence():
    assert classify_auto_reply([("Auto-Submitted", "no")], "Re: Our offer", "Call me." + QUOTE) is None


# =====================================================================================================================
# Item 3: bounces Odoo cannot read, SES, Office 365, complaints
# =====================================================================================================================


def test_base64_delivery_status_is_read_from_raw_bytes():
    raw = raw_next("bounce_base64_delivery_status.eml")
    # Odoo reads the DSN fields of the part's first block; base64 hides them from it (no Final-Recipient).
    part = next(
        p
        for p in email.message_from_bytes(raw, policy=email.policy.SMTP).walk()
        if p.get_content_type() == "message/delivery-status"
    )
    assert all(block.get("Final-Recipient") is None for block in part.get_payload())
    result = classify(raw)
    assert result.kind == "bounce"
    assert result.bounce.kind == "hard" and result.bounce.status == "5.1.1"
    assert result.bounce.recipients == (VALUES["CONTACT_EMAIL"],)
    assert result.bounce.original_message_ids == (VALUES["SENT_MESSAGE_ID"],)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00garbage",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\nContent-Type: message/"
        b"delivery-status\n\n\n\n--x",
        b"Content-Type: message/delivery-status\n\nAction: failed\n",
        "From: a@b\nSubject: \udcff\n\nx".encode("utf-8", "surrogateescape"),
    ],
)
def test_classify_never_raises_on_raw_bytes(raw):
    assert classify(raw).kind in ("reply", "bounce", "auto_reply", "complaint")


def _ses(notification, envelope=True):
    inner = json.dumps(notification)
    body = json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:x", "Message": inner}) if envelope else inner
    return parse(
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\nSubject: AWS Notification Message\n"
        f"Message-ID: <own@sns>\n\n{body}\n--\nIf you wish to stop receiving notifications from this topic...\n"
    )


SES_MAIL = {
    "messageId": "0102018c-0000",
    "headers": [{"name": "Message-ID", "value": "<sent@odoo.example.com>"}, {"name": "To", "value": "x"}],
    "commonHeaders": {"messageId": "<sent@odoo.example.com>"},
}


@pytest.mark.parametrize(
    "bounce_type, status, kind",
    [("Permanent", "5.1.1", "hard"), ("Transient", "4.2.2", "soft"), ("Undetermined", None, "soft")],
)
@pytest.mark.parametrize("envelope", [True, False])
def test_ses_bounce_notifications(bounce_type, status, kind, envelope):
    recipient = {"emailAddress": "Laura@Example.com", "action": "failed"}
    if status:
        recipient.update(status=status, diagnosticCode=f"smtp; 5xx {status} no")
    notification = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bouncedRecipients": [recipient]},
        "mail": SES_MAIL,
    }
    result = classify(_ses(notification, envelope))
    assert result.kind == "bounce"
    assert result.bounce.kind == kind and result.bounce.status == status
    assert result.bounce.recipients == ("laura@example.com",)
    assert result.bounce.original_message_ids == ("<sent@odoo.example.com>",)


def test_ses_event_publishing_format_and_the_ses_message_id():
    notification = {
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "a@example.com"}]},
        "mail": {"messageId": "0102018c-0000", "headers": []},
    }
    bounce = classify(_ses(notification)).bounce
    assert bounce.kind == "hard" and bounce.recipients == ("a@example.com",)
    assert bounce.original_message_ids == ("<0102018c-0000@email.amazonses.com>",)


def test_ses_complaint_notification():
    result = classify(raw_next("complaint_ses_sns_json.eml"))
    assert result.kind == "complaint"
    assert isinstance(result.complaint, Complaint)
    assert result.complaint.recipients == (VALUES["CONTACT_EMAIL"],)
    assert result.complaint.feedback_type == "abuse"
    assert VALUES["SENT_MESSAGE_ID"] in result.complaint.original_message_ids
    assert result.bounce is None and result.auto_reply is None


def test_ses_not_spam_feedback_is_no_complaint():
    notification = {
        "notificationType": "Complaint",
        "complaint": {"complaintFeedbackType": "not-spam", "complainedRecipients": [{"emailAddress": "a@x.com"}]},
        "mail": SES_MAIL,
    }
    assert classify(_ses(notification)).kind != "complaint"


def test_json_a_person_pasted_is_a_reply():
    message = parse(
        'From: Laura <laura@example.com>\nSubject: Re: offer\n\nOur dev saw this: {"notificationType": "Bounce", '
        '"bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "cto@example.com"}]}}\n'
    )
    assert classify(message).kind == "reply"


def test_arf_abuse_report_is_a_complaint():
    result = classify(raw_next("complaint_arf_abuse.eml"))
    assert result.kind == "complaint"
    assert result.complaint.recipients == (VALUES["CONTACT_EMAIL"],)
    assert result.complaint.original_message_ids == (VALUES["SENT_MESSAGE_ID"],)
    assert result.complaint.feedback_type == "abuse"


def test_arf_with_a_redacted_recipient_takes_it_from_the_returned_copy():
    raw = raw_next("complaint_arf_abuse.eml").replace(b"Original-Rcpt-To: <laura.bennett@prospect-corp.example>\n", b"")
    assert classify(raw).complaint.recipients == (VALUES["CONTACT_EMAIL"],)


def test_arf_not_spam_and_auth_failure_reports_are_no_complaints():
    for feedback_type in (b"not-spam", b"auth-failure"):
        raw = raw_next("complaint_arf_abuse.eml").replace(b"Feedback-Type: abuse", b"Feedback-Type: " + feedback_type)
        assert classify(raw).kind != "complaint"


@pytest.mark.parametrize(
    "line, status",
    [
        (
            "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
            "lookup'",
            "5.1.10",
        ),
        ("Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipientNotFound; not found'", "5.1.1"),
        ("Remote Server returned '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)'", "5.4.1"),
    ],
)
def test_exchange_online_ndr_text(line, status):
    message = parse(
        "From: Microsoft Outlook <postmaster@tenant.onmicrosoft.com>\nSubject: Undeliverable: Our offer\n\n"
        "Delivery has failed to these recipients or groups:\n\nlaura@prospect.example (laura@prospect.example)\n"
        "The email address you entered couldn't be found.\n\nDiagnostic information for administrators:\n\n"
        f"Generating server: DB9PR01MB8123.eurprd01.prod.exchangelabs.com\n\nlaura@prospect.example\n{line}\n"
    )
    bounce = parse_bounce(message)
    assert bounce.kind == "hard" and bounce.status == status
    assert bounce.recipients == ("laura@prospect.example",)


# =====================================================================================================================
# Security: a bounce carries what the report proves
# =====================================================================================================================


def test_x_failed_recipients_header_alone_is_not_a_bounce():
    message = parse("From: someone@example.com\nX-Failed-Recipients: a@example.com\nSubject: hi\n\nLet's talk.\n")
    assert parse_bounce(message) is None
    assert classify(message).kind == "reply"


def test_x_failed_recipients_names_no_recipient_the_report_does_not():
    message = parse(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.com>\nX-Failed-Recipients: victim@example.com\n"
        "Subject: Mail delivery failed: returning message to sender\n\nThis message was created automatically by "
        "mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n  laura@prospect.example\n"
        "    SMTP error from remote mail server after RCPT TO:<laura@prospect.example>:\n    550 5.1.1 User unknown\n"
    )
    bounce = parse_bounce(message)
    assert bounce.kind == "hard"
    assert bounce.recipients == ("laura@prospect.example",)


def test_recipients_are_bounded():
    blocks = "".join(
        f"Final-Recipient: rfc822; user{index}@example.com\nAction: failed\nStatus: 5.1.1\n\n" for index in range(500)
    )
    message = parse(
        "From: MAILER-DAEMON@mx.example.com\nSubject: Undelivered Mail Returned to Sender\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
        "Could not be delivered.\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        f"{blocks}--b--\n"
    )
    bounce = parse_bounce(message)
    assert bounce is not None and len(bounce.recipients) == 50


def test_pipeline_lists_the_signals_in_order():
    assert [kind for kind, _detect in PIPELINE] == ["complaint", "bounce", "auto_reply"]
