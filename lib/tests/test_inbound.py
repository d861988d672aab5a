"""Tests of lib/inbound/: bounces, auto-replies and human replies told apart, return dates read.

Run with: cd lib/tests && PYTHONPATH=.. python -m pytest -q -p no:cacheprovider --rootdir=. --confcutdir=. .

The corpus in tests/fixtures/inbound holds raw messages in the formats real systems produce, with $PLACEHOLDERS
that the Odoo tests replace with their own records (string.Template.safe_substitute); expected.json says what each
one is. Reference dates: every fixture is dated 7-18 December 2026; 11 January 2027 is a Monday.
"""

import email
import email.policy
import json
import re
import time
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from string import Template

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbound import (
    AutoReply,
    Bounce,
    Inbound,
    classify,
    classify_auto_reply,
    extract_return_date,
    message_text,
    parse_bounce,
    strip_quoted,
)

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "inbound"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
VALUES = {
    "SENT_MESSAGE_ID": "<123.456@odoo.example.com>",
    "CONTACT_EMAIL": "laura.bennett@prospect-corp.example",
    "OTHER_EMAIL": "laura.b@home-mail.example",
    "SENDER_EMAIL": "sam.carter@odoo.example.com",
    "REPLY_TO": "catchall@odoo.example.com",
    "SUBJECT": "Cut CRM admin time by a third",
}
RECEIVED = date(2026, 12, 20)


def fixture_source(name):
    # Fixtures may hold raw 8-bit bytes (broken charsets on purpose): keep them through the substitution.
    return (FIXTURES / name).read_bytes().decode("utf-8", "surrogateescape")


def load(name, **values):
    raw = Template(fixture_source(name)).safe_substitute({**VALUES, **values})
    return email.message_from_bytes(raw.encode("utf-8", "surrogateescape"), policy=email.policy.SMTP)


def parse(raw):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return email.message_from_bytes(raw, policy=email.policy.SMTP)


def names_of(kind):
    return sorted(name for name, expected in EXPECTED.items() if expected["kind"] == kind)


# =====================================================================================================================
# The fixture corpus
# =====================================================================================================================


def test_corpus_is_complete_and_described():
    on_disk = {path.name for path in FIXTURES.glob("*.eml")}
    assert on_disk == set(EXPECTED), "every .eml has an entry in expected.json and the other way round"
    assert len(on_disk) >= 45
    for name, expected in EXPECTED.items():
        assert expected["kind"] in ("reply", "auto_reply", "bounce", "complaint"), name
        assert expected["from"] in ("contact", "other", "mailer"), name
        assert expected["language"] in ("en", "de", "fr", "es", "it", "pt", "nl"), name
        assert expected["system"] and expected["note"], name
        assert (expected["bounce"] in ("hard", "soft")) == (expected["kind"] == "bounce"), name
        # Replies and auto-replies can be matched to the sequence email: by its id, else by the contact's address.
        assert expected["kind"] in ("bounce", "complaint") or expected["references"] or expected["from"] == "contact", (
            name
        )


def test_corpus_covers_every_kind_and_language():
    assert len(names_of("bounce")) >= 15 and len(names_of("auto_reply")) >= 15 and len(names_of("reply")) >= 15
    for kind in ("auto_reply", "reply"):
        languages = {EXPECTED[name]["language"] for name in names_of(kind)}
        assert languages >= {"en", "de", "fr", "es", "it", "pt", "nl"}, kind
    bounces = [EXPECTED[name] for name in names_of("bounce")]
    assert {"hard", "soft"} <= {bounce["bounce"] for bounce in bounces}
    assert {True, False} <= {bounce["has_original"] for bounce in bounces}
    assert sum(1 for name in names_of("auto_reply") if EXPECTED[name]["return_date"]) >= 10


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_dated_in_december_2026(name):
    message = load(name)
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert date(2026, 12, 7) <= sent.date() <= date(2026, 12, 18)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_kind(name):
    result = classify(load(name))
    assert isinstance(result, Inbound)
    assert result.kind == EXPECTED[name]["kind"], EXPECTED[name]["note"]


@pytest.mark.parametrize("name", names_of("bounce"))
def test_fixture_bounce_details(name):
    expected = EXPECTED[name]
    bounce = classify(load(name)).bounce
    assert isinstance(bounce, Bounce)
    assert bounce.kind == expected["bounce"]
    assert bounce.status == expected["status"]
    assert (VALUES["SENT_MESSAGE_ID"] in bounce.original_message_ids) == expected["has_original"]
    assert VALUES["CONTACT_EMAIL"] in bounce.recipients
    assert VALUES["SENDER_EMAIL"] not in bounce.recipients
    assert bounce.diagnostic and len(bounce.diagnostic) <= 300


@pytest.mark.parametrize("name", names_of("auto_reply"))
def test_fixture_auto_reply_details(name):
    auto_reply = classify(load(name)).auto_reply
    assert isinstance(auto_reply, AutoReply) and auto_reply.reason
    expected = EXPECTED[name]["return_date"]
    assert auto_reply.return_date == (date.fromisoformat(expected) if expected else None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_references_name_the_sent_message(name):
    threaded = re.search(r"^(?:In-Reply-To|References):.*\$SENT_MESSAGE_ID", fixture_source(name), re.M | re.I)
    assert EXPECTED[name]["references"] == bool(threaded)
    references = classify(load(name)).references
    assert (VALUES["SENT_MESSAGE_ID"] in references) == EXPECTED[name]["references"]
    assert len(references) == len(set(references))
    assert all(reference.startswith("<") and reference.endswith(">") for reference in references)


def test_references_keep_header_order_without_duplicates():
    result = classify(load("reply_with_pdf_attachment.eml"))
    assert result.references == (VALUES["SENT_MESSAGE_ID"], "<older-thread-1@prospect-corp.example>")


def test_other_placeholder_values_flow_through():
    message = load("bounce_postfix_user_unknown.eml", CONTACT_EMAIL="Jane.Doe@Example.ORG", SENT_MESSAGE_ID="<x@y>")
    bounce = parse_bounce(message)
    assert bounce.recipients == ("jane.doe@example.org",)
    assert bounce.original_message_ids == ("<x@y>",)


def test_broken_charsets_are_read_as_latin_1():
    assert "la présentation" in message_text(load("reply_unknown_charset.eml"))  # charset="x-unknown"
    assert "grüße aus Köln" in message_text(load("reply_invalid_utf8_bytes.eml"))  # Latin-1 labelled UTF-8


def test_encoded_bodies_are_decoded():
    assert "danke für Ihre Nachricht" in message_text(load("reply_base64_de.eml"))
    assert "pour un échange" in message_text(load("reply_quoted_printable_fr.eml"))
    assert "Estaré de vuelta el 7 de enero" in message_text(load("auto_gmail_vacation_es.eml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_text_is_readable(name):
    text = message_text(load(name))
    assert isinstance(text, str) and text.strip()


# =====================================================================================================================
# Bounces
# =====================================================================================================================

POSTFIX_REPORT = """\
From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
To: sender@odoo.example.com
Subject: {subject}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mail.example.com.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.com

Final-Recipient: rfc822; <Who@Example.com>
Action: {action}
Status: {status}
{diagnostic}
--B--
"""


def report(action, status, subject="Undelivered Mail Returned to Sender", diagnostic=""):
    return parse(POSTFIX_REPORT.format(action=action, status=status, subject=subject, diagnostic=diagnostic))


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_success_dsn_is_not_a_bounce(action):
    message = report(action, "2.0.0", subject="Successful Mail Delivery Report")
    assert parse_bounce(message) is None
    result = classify(message)
    assert result.kind == "auto_reply" and "multipart/report" in result.auto_reply.reason


@pytest.mark.parametrize(
    ("action", "status", "kind"),
    [
        ("failed", "5.1.1", "hard"),
        ("failed", "4.4.7", "soft"),  # gave up after temporary failures: 4.x.x is soft
        ("delayed", "4.4.1", "soft"),
        ("failed", "5.2.2", "soft"),  # mailbox full, documented exception
        ("failed", "5.7.1", "hard"),
        ("failed", "not-a-status", "hard"),  # Action: failed without a status
    ],
)
def test_dsn_action_and_status_decide_hard_or_soft(action, status, kind):
    bounce = parse_bounce(report(action, status))
    assert bounce.kind == kind
    assert bounce.recipients == ("who@example.com",)
    assert bounce.original_message_ids == ()


def test_generic_status_is_made_precise_by_the_diagnostic():
    bounce = parse_bounce(report("failed", "5.0.0", diagnostic="Diagnostic-Code: smtp; 550 5.1.1 User unknown\n"))
    assert (bounce.status, bounce.kind, bounce.diagnostic) == ("5.1.1", "hard", "550 5.1.1 User unknown")


def test_mailbox_full_diagnostic_is_soft_whatever_its_code():
    diagnostic = "Diagnostic-Code: smtp; 550 5.7.1 Mailbox is full / over quota\n"
    assert parse_bounce(report("failed", "5.7.1", diagnostic=diagnostic)).kind == "soft"


def test_delivery_status_part_without_blocks_falls_back_to_text():
    message = parse(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>\nSubject: Returned mail: User unknown\n"
        "Content-Type: text/plain\n\n----- Transcript of session follows -----\n"
        "... while talking to mx.example.net.:\n>>> RCPT To:<gone@example.net>\n<<< 550 5.1.1 <gone@example.net>..."
        " User unknown\n"
    )
    bounce = parse_bounce(message)
    assert (bounce.kind, bounce.status, bounce.recipients) == ("hard", "5.1.1", ("gone@example.net",))


@pytest.mark.parametrize(
    ("line", "kind", "status"),
    [
        ("550 Requested action not taken: mailbox unavailable", "hard", None),
        ("452 4.2.2 Mailbox full", "soft", "4.2.2"),
        ("421 Too many connections, try again later", "soft", None),
        ("552-5.2.2 The email account that you tried to reach is over quota", "soft", "5.2.2"),
        ("Sorry, I couldn't find any host named example.invalid. (#5.1.2)", "hard", "5.1.2"),
        ("user is over quota", "soft", None),
        ("Greylisted, please try again later", "soft", None),
        ("Sorry, no mailbox here by that name.", "hard", None),
    ],
)
def test_text_bounce_codes_and_phrases(line, kind, status):
    message = parse(
        "From: MAILER-DAEMON@mail.example.net\nTo: sender@odoo.example.com\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        f"<someone@example.net>:\n{line}\n\n--- Below this line is a copy of the message.\n\n"
        "Message-ID: <orig@odoo.example.com>\nSubject: hi\n\nbody\n"
    )
    bounce = parse_bounce(message)
    assert (bounce.kind, bounce.status) == (kind, status)
    assert bounce.recipients == ("someone@example.net",)
    assert bounce.original_message_ids == ("<orig@odoo.example.com>",)


def test_x_failed_recipients_supports_an_evidenced_bounce():
    # The header alone is no bounce any more (issue 17, test_inbound_evidence.py); with a mailer's failure text it
    # names the recipients the text also names.
    message = parse(
        "From: Mail Delivery System <mailer-daemon@mx.example.com>\nX-Failed-Recipients: A@Example.com, b@example.com"
        "\nSubject: Mail delivery failed\n\nA message could not be delivered: A@example.com, b@example.com\n"
    )
    bounce = parse_bounce(message)
    assert bounce.recipients == ("a@example.com", "b@example.com")
    assert bounce.kind == "hard"


def test_human_reply_quoting_undeliverable_is_a_reply():
    message = parse(
        "From: Laura <laura@example.com>\nTo: sam@odoo.example.com\nSubject: Re: Undeliverable: our offer\n"
        "In-Reply-To: <a@b>\n\nFunny, I got 'Undeliverable: Delivery has failed to these recipients' and\n"
        "'550 5.1.1 User unknown' when forwarding it. Mail delivery failed, returning message to sender.\n\n"
        "> Delivery Status Notification (Failure)\n"
    )
    assert parse_bounce(message) is None
    assert classify(message).kind == "reply"


def test_report_fields_pasted_by_a_person_are_not_a_bounce():
    message = parse(
        "From: Laura <laura@example.com>\nSubject: Re: Our offer\n\nOur IT says this came back:\n\n"
        "Final-Recipient: rfc822; cto@example.com\nAction: failed\nStatus: 5.1.1\n\nCan you resend to me?\n"
    )
    assert parse_bounce(message) is None
    assert classify(message).kind == "reply"


def test_auto_reply_with_null_sender_mentioning_delivery_is_not_a_bounce():
    message = parse(
        "Return-Path: <>\nFrom: Laura <laura@example.com>\nAuto-Submitted: auto-replied\n"
        "Subject: Undeliverable mail? No: I am on leave\n\nYour message could not be delivered to me personally, "
        "I am on leave until 11 January.\n"
    )
    assert parse_bounce(message) is None
    result = classify(message, received=RECEIVED)
    assert result.kind == "auto_reply" and result.auto_reply.return_date == date(2027, 1, 12)


def test_original_id_from_quoted_headers_and_from_thread_headers():
    quoted = parse(
        "From: postmaster@example.com\nSubject: Undeliverable: hi\n\nDelivery has failed to these recipients or "
        "groups:\n\nx@example.com\n\nOriginal message headers:\n\nMessage-ID:\n <folded@odoo.example.com>\n"
    )
    assert parse_bounce(quoted).original_message_ids == ("<folded@odoo.example.com>",)
    threaded = parse(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nSubject: Delivery Status Notification "
        "(Failure)\nIn-Reply-To: <sent@odoo.example.com>\nMessage-ID: <own@google.com>\n\n** Address not found **\n"
        "Your message wasn't delivered to x@example.com because the address couldn't be found.\n"
    )
    bounce = parse_bounce(threaded)
    assert bounce.original_message_ids == ("<sent@odoo.example.com>",)
    assert bounce.recipients == ("x@example.com",)


# =====================================================================================================================
# Auto-replies: headers, subjects, bodies
# =====================================================================================================================


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"auto-submitted": "auto-generated"},
        {"AUTO-SUBMITTED": "auto-replied (vacation)"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "info@example.com"},
        {"X-Autoresponder": "true"},
        {"X-AutoReply-From": "info@example.com"},
        {"X-Mail-Autoreply": "yes"},
        {"X-Autogenerated": "Reply"},
        {"Precedence": "auto_reply"},
        {"X-Precedence": "auto_reply"},
        {"X-Auto-Response-Suppress": "All", "X-MS-Exchange-Inbox-Rules-Loop": "a@example.com"},
        {"X-Auto-Response-Suppress": "All", "X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent"},
        {"X-Apple-Action": "VACATION"},
        {"X-POST-MessageClass": "9; Autoresponder"},
        {"X-FC-MachineGenerated": "true"},
        {"Delivered-To": "Autoresponder"},
        {"X-Mailer": "Unity Autoresponder 2.1"},
    ],
)
def test_auto_reply_headers_alone_are_enough(headers):
    result = classify_auto_reply(headers, "Re: Our offer", "Sounds good, talk soon.")
    assert result is not None and result.reason.startswith("header")


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "no"},
        {"X-Autoreply": "no"},
        {"X-Auto-Response-Suppress": "All"},  # Outlook sets it on plenty of human mail
        {"X-MS-Exchange-Inbox-Rules-Loop": "a@example.com"},
        {"Precedence": "list", "List-Id": "<team.lists.example.com>"},  # mailing-list traffic
        {"Precedence": "bulk", "List-Unsubscribe": "<mailto:leave@example.com>"},
        {"Precedence": "bulk"},  # without out-of-office wording (issue 17: only positive evidence)
        {"Precedence": "junk"},
        {"X-Precedence": "bulk"},
        {"X-Autogenerated": "Forward"},
        {"X-Mailer": "Microsoft Outlook 16.0"},
    ],
)
def test_headers_that_are_not_auto_replies(headers):
    assert classify_auto_reply(headers, "Re: Our offer", "Sounds good, talk soon.") is None


def test_headers_as_pairs_or_message_items():
    pairs = [("Subject", "x"), ("AUTO-SUBMITTED", "auto-replied")]
    assert classify_auto_reply(pairs, "Re: x", "") is not None
    message = parse("Subject: x\nAuto-Submitted: auto-replied\n\nbody\n")
    assert classify_auto_reply(message.items(), message["Subject"], "body") is not None
    assert classify_auto_reply(message, message["Subject"], "body") is not None
    assert classify_auto_reply(None, "Re: x", "") is None


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Our offer",
        "Auto-Reply: Our offer",
        "AutoReply: Re: Our offer",
        "Out of Office: Re: Our offer",
        "Out of office",
        "OOO until Jan 4",
        "Laura Bennett is out of the office.",
        "Abwesenheitsnotiz: Unser Angebot",
        "Automatische Antwort: AW: Unser Angebot",
        "Réponse automatique : Notre offre",
        "Absence du bureau",
        "Respuesta automática: Nuestra oferta",
        "Fuera de la oficina",
        "Risposta automatica: La nostra offerta",
        "Fuori ufficio",
        "Resposta automática: Nossa oferta",
        "Ausência temporária",
        "Automatisch antwoord: Ons aanbod",
        "Afwezig",
        "Niet aanwezig: Ons aanbod",
        "[EXTERNAL] Automatic reply: Our offer",
        "Re: Automatic reply: Our offer",
    ],
)
def test_auto_reply_subjects(subject):
    assert classify_auto_reply({}, subject, "") is not None


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Our offer",
        "Re: Reduce absence in your workforce",  # the sequence's own subject may hold any word
        "Re: Absence management demo",
        "AW: Urlaubsplanung leicht gemacht",
        "RE: Vacation rental software",
        "Re: Plan your holiday campaigns",
        "Fwd: Out of office coverage tips",
        "",
    ],
)
def test_reply_subjects_are_not_auto_replies(subject):
    assert classify_auto_reply({}, subject, "Let's talk on Thursday.") is None


QUOTED_HISTORY = "\n\nOn Mon, Dec 7, 2026 at 10:14 AM Sam <sam@odoo.example.com> wrote:\n> Would a call make sense?\n"


@pytest.mark.parametrize(
    "text",
    [
        "This is an automatic reply. I am away.",
        "This mailbox is not monitored. Please do not reply to this email.",
        "Dies ist eine automatische Antwort.",
        "Ceci est une réponse automatique.",
        "Este es un mensaje automático.",
        "Questa è una risposta automatica.",
        "Esta é uma mensagem automática.",
        "Dit is een automatisch antwoord.",
    ],
)
def test_machine_only_body_phrases_count_even_above_quoted_history(text):
    assert classify_auto_reply({}, "Re: Our offer", text + QUOTED_HISTORY) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, I'm out of the office tomorrow but let's talk Thursday.",
        "Ich bin nächste Woche nicht im Büro, aber rufen Sie gerne an.",
        "Je suis absente demain, appelez-moi jeudi.",
        "Mañana estoy fuera de la oficina, hablamos el jueves.",
        "Domani sono fuori ufficio, sentiamoci giovedì.",
        "Amanhã estou fora do escritório, falamos na quinta.",
        "Ik ben morgen afwezig, bel me donderdag.",
        "Thank you for contacting me, I'd like a demo. For urgent matters call my mobile.",
    ],
)
def test_human_absence_above_quoted_history_is_a_reply(text):
    assert classify_auto_reply({}, "Re: Our offer", text + QUOTED_HISTORY) is None


@pytest.mark.parametrize(
    "text",
    [
        "I am out of the office until 4 January.",
        "Ich bin bis 8. Januar nicht im Büro.",
        "Je suis en congés jusqu'au 4 janvier.",
        "Estoy de vacaciones hasta el 10 de enero.",
        "Sono in ferie fino al 6 gennaio.",
        "Estou de férias até 15 de janeiro.",
        "Ik ben met vakantie tot 8 januari.",
    ],
)
def test_absence_without_quoted_history_is_an_auto_reply(text):
    result = classify_auto_reply({}, "Re: Our offer", text, received=RECEIVED)
    assert result is not None and result.return_date is not None


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, I'm out of the office tomorrow but let's talk Thursday.",
        "Ich bin nächste Woche im Urlaub, lassen Sie uns danach telefonieren.",
        "Je suis absente demain, on peut se parler jeudi ?",
        "Estoy de vacaciones, hablamos en enero.",
        "Sono in ferie, sentiamoci a gennaio.",
        "Estou de férias, falamos em janeiro.",
        "Ik ben met vakantie, bel me in januari.",
    ],
)
def test_human_absence_without_quoted_history_but_talking_to_the_reader_is_a_reply(text):
    assert classify_auto_reply({}, "Re: Our offer", text) is None


def test_out_of_office_text_that_quotes_the_original_is_still_an_auto_reply():
    text = "I am out of the office until 4 January with limited access to email." + QUOTED_HISTORY
    assert classify_auto_reply({}, "Re: Our offer", text, received=RECEIVED).return_date == date(2027, 1, 5)


def test_absence_from_a_no_reply_sender_counts_despite_quotes():
    headers = {"From": "No Reply <noreply@example.com>"}
    assert classify_auto_reply(headers, "Re: x", "I am on leave." + QUOTED_HISTORY) is not None


# =====================================================================================================================
# Quoted history
# =====================================================================================================================


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Dec 7, 2026 at 10:14 AM Sam Carter <sam@odoo.example.com> wrote:",
        "On Mon, Dec 7, 2026 at 10:14 AM Sam Carter <\nsam@odoo.example.com> wrote:",
        "On 7 Dec 2026, at 10:14, Sam Carter <sam@odoo.example.com> wrote:",
        "Le lun. 7 déc. 2026 à 10:14, Sam Carter <sam@odoo.example.com> a écrit :",
        "Am Mo., 7. Dez. 2026 um 10:14 Uhr schrieb Sam Carter <sam@odoo.example.com>:",
        "Am 07.12.2026 um 10:14 schrieb Sam Carter:",
        "El lun, 7 dic 2026 a las 10:14, Sam Carter (<sam@odoo.example.com>)\nescribió:",
        "Il giorno lun 7 dic 2026 alle ore 10:14 Sam Carter <sam@odoo.example.com> ha scritto:",
        "Em seg., 7 de dez. de 2026 às 10:14, Sam Carter <sam@odoo.example.com>\nescreveu:",
        "Op ma 7 dec. 2026 om 10:14 schreef Sam Carter <sam@odoo.example.com>:",
        "Op 7 december 2026 10:14 heeft Sam Carter het volgende geschreven:",
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-------- Message d'origine --------",
        "---------- Forwarded message ---------",
        "From: Sam Carter <sam@odoo.example.com>\nSent: Monday, December 7, 2026 10:14 AM",
        "Von: Sam Carter <sam@odoo.example.com>\nGesendet: Montag, 7. Dezember 2026 10:14",
        "De : Sam Carter <sam@odoo.example.com>\nEnvoyé : lundi 7 décembre 2026 10:14",
        "De: Sam Carter\nEnviado el: lunes, 7 de diciembre de 2026 10:14",
        "Da: Sam Carter\nInviato: lunedì 7 dicembre 2026 10:14",
        "Van: Sam Carter\nVerzonden: maandag 7 december 2026 10:14",
    ],
)
def test_strip_quoted_cuts_at_history(attribution):
    text = f"Hello Sam,\n\nYes, let's talk.\n\n{attribution}\n\nI'm out of office until January 5.\n> quoted"
    assert strip_quoted(text) == "Hello Sam,\n\nYes, let's talk."


def test_strip_quoted_drops_inline_quotes_but_keeps_answers():
    text = "> Would Tuesday work?\nYes, Tuesday.\n> And 10am?\n>> older\nBetter 11am."
    assert strip_quoted(text) == "Yes, Tuesday.\nBetter 11am."


def test_html_blockquotes_are_quoted_text():
    message = parse(
        "From: a@example.com\nSubject: Re: x\nContent-Type: text/html; charset=utf-8\n\n"
        "<p>Great &amp; thanks</p><div class=gmail_quote><blockquote>I am out of the office</blockquote></div>"
        "<script>var x = 'out of office';</script>"
    )
    text = message_text(message)
    assert "Great & thanks" in text and "> I am out of the office" in text and "var x" not in text
    assert strip_quoted(text) == "Great & thanks"
    assert classify(message).kind == "reply"


# =====================================================================================================================
# Return dates
# =====================================================================================================================


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English
        ("I will be back on 12 January.", date(2027, 1, 12)),
        ("Returning Monday, January 11th.", date(2027, 1, 11)),
        ("I am out of the office until 11 January.", date(2027, 1, 12)),
        ("Out of the office until Jan 12.", date(2027, 1, 13)),
        ("I'm away till Jan. 3rd, 2027.", date(2027, 1, 4)),
        ("I will be back on 2027-01-12.", date(2027, 1, 12)),
        ("Away from 21 December to 8 January.", date(2027, 1, 9)),
        ("Out Dec 21 - Jan 8.", date(2027, 1, 9)),
        ("I will not return until 01/05/2027.", date(2027, 1, 5)),
        ("I won't be back in the office until the 4th of January.", date(2027, 1, 4)),
        ("I'm out until January 4 and back on January 6.", date(2027, 1, 6)),  # "back" wins
        ("Back in the office from 12 January.", date(2027, 1, 12)),
        # German
        ("Ich bin am 12.01. zurück.", date(2027, 1, 12)),
        ("Zurück am 12.01.", date(2027, 1, 12)),
        ("Ab dem 12.01.2027 bin ich wieder erreichbar.", date(2027, 1, 12)),
        ("Ich bin ab dem 21.12. im Urlaub und ab dem 12.01. wieder erreichbar.", date(2027, 1, 12)),
        ("Ich bin bis einschließlich 11. Januar nicht im Büro.", date(2027, 1, 12)),
        ("Abwesend vom 21.12.2026 bis 08.01.2027.", date(2027, 1, 9)),
        ("Ich bin bis zum 8. Jänner nicht erreichbar.", date(2027, 1, 9)),
        # French
        ("Je serai de retour le 12/01.", date(2027, 1, 12)),
        ("De retour le lundi 11 janvier.", date(2027, 1, 11)),
        ("Absente jusqu'au 11 janvier inclus.", date(2027, 1, 12)),
        ("En congés du 21 décembre au 3 janvier.", date(2027, 1, 4)),
        ("Je suis absent jusqu’au 1er février.", date(2027, 2, 2)),
        # Spanish
        ("Estaré de vuelta el 12 de enero.", date(2027, 1, 12)),
        ("Fuera de la oficina hasta el 11 de enero de 2027.", date(2027, 1, 12)),
        ("Estaré ausente del 21 de diciembre al 6 de enero.", date(2027, 1, 7)),
        # Italian
        ("Sarò di ritorno il 12 gennaio.", date(2027, 1, 12)),
        ("Fuori ufficio fino al 11 gennaio.", date(2027, 1, 12)),
        ("Rientrerò in ufficio il 7 genn. 2027.", date(2027, 1, 7)),
        # Portuguese
        ("Volto no dia 12 de janeiro.", date(2027, 1, 12)),
        ("Estou de férias até 11 de janeiro.", date(2027, 1, 12)),
        ("Estarei de volta em 4 de fevereiro de 2027.", date(2027, 2, 4)),
        # Dutch
        ("Ik ben terug op 12 januari.", date(2027, 1, 12)),
        ("Afwezig tot en met 11 januari.", date(2027, 1, 12)),
        ("Ik ben t/m 8 jan. afwezig.", date(2027, 1, 9)),
        ("Vanaf 12-01-2027 ben ik weer aanwezig.", date(2027, 1, 12)),
        ("Op 4 maart ben ik weer op kantoor.", date(2027, 3, 4)),
    ],
)
def test_return_dates_in_seven_languages(text, expected):
    assert extract_return_date(text, RECEIVED) == expected


def test_until_means_the_next_day_across_month_and_year_ends():
    assert extract_return_date("Away until December 31.", RECEIVED) == date(2027, 1, 1)
    assert extract_return_date("Abwesend bis 28. Februar.", RECEIVED) == date(2027, 3, 1)


def test_year_rollover_for_dates_without_a_year():
    assert extract_return_date("back on 12 January", date(2026, 12, 20)) == date(2027, 1, 12)
    assert extract_return_date("back on 12 January", date(2027, 1, 5)) == date(2027, 1, 12)
    assert extract_return_date("zurück am 12.01.", date(2026, 12, 20)) == date(2027, 1, 12)
    assert extract_return_date("zurück am 28.12.", date(2026, 12, 20)) == date(2026, 12, 28)


@pytest.mark.parametrize(
    ("text", "received", "expected"),
    [
        ("I will be back on 01/12/2027.", date(2026, 12, 20), date(2027, 1, 12)),  # m/d within 120 days
        ("I will be back on 12/01/2027.", date(2026, 12, 20), date(2027, 1, 12)),  # d/m within 120 days
        ("I will be back on 01/12/2027.", date(2027, 11, 20), date(2027, 12, 1)),  # d/m is the one ahead
        ("Back on 13/01/2027.", date(2026, 12, 20), date(2027, 1, 13)),  # 13 > 12: only day/month
        ("Back on 01/13/2027.", date(2026, 12, 20), date(2027, 1, 13)),  # 13 > 12: only month/day
        ("Out from 12/21 until 01/04.", date(2026, 12, 18), date(2027, 1, 5)),  # 12/21 proves month/day
        ("Out from 21/12 until 04/01.", date(2026, 12, 18), date(2027, 1, 5)),  # 21/12 proves day/month
        ("Back on 01/02.", date(2026, 12, 20), date(2027, 1, 2)),  # both readings likely: the nearest
    ],
)
def test_ambiguous_numeric_dates(text, received, expected):
    assert extract_return_date(text, received) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I was out until 2026-12-01.",  # past
        "Back on 12 December 2026.",  # past
        "Back on 12 January 2029.",  # beyond a year
        "I am out of the office.",  # no date
        "I'm at a conference on 15 January.",  # a date, but not a return
        "Away from 21 December.",  # start of the absence only
        "Support is available 24/7.",
        "Call me at 10.30 or on +49 30 1234-5678.",
    ],
)
def test_no_return_date(text):
    assert extract_return_date(text, RECEIVED) is None


def test_return_date_ignores_quoted_history():
    text = "I am away, back soon.\n\nOn Mon, Dec 7, 2026 at 10:14 AM Sam wrote:\n> Back on 12 January?"
    assert extract_return_date(text, RECEIVED) is None


def test_return_date_is_read_from_the_subject_too():
    result = classify_auto_reply({"Auto-Submitted": "auto-replied"}, "Away until January 5", "", received=RECEIVED)
    assert result.return_date == date(2027, 1, 6)


def test_received_date_comes_from_the_date_header():
    message = parse(
        "From: a@example.com\nDate: Tue, 20 Jul 2027 10:00:00 +0000\nSubject: Out of office\n\n"
        "I am back on 12 January.\n"
    )
    assert classify(message).auto_reply.return_date == date(2028, 1, 12)


# =====================================================================================================================
# Robustness
# =====================================================================================================================

HEADER_NAMES = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Return-Path",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Auto-Submitted",
    "Precedence",
    "X-Failed-Recipients",
    "X-Autoreply",
    "X-Auto-Response-Suppress",
    "X-MS-Exchange-Inbox-Rules-Loop",
    "MIME-Version",
    "Content-Disposition",
]
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "<>",
            "multipart/report; report-type=delivery-status; boundary=B",
            'multipart/mixed; boundary="',
            "text/plain; charset=x-unknown",
            "text/html; charset=utf-7",
            "base64",
            "quoted-printable",
            "=?utf-8?B?////?=",
            "=?x-bad?Q?=FF=FE?=",
            "MAILER-DAEMON@example.com",
            "auto-replied",
            "bulk",
            "<a@b> <c@d>",
            "Mon, 99 Foo 2026 99:99:99",
            '"unbalanced <quote@example.com>',
            "message/rfc822",
        ]
    ),
)
BODIES = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"--B\nContent-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n--B--\n",
            b"--B\nContent-Type: message/rfc822\n\n\n--B\n",
            b"Final-Recipient: rfc822;\nAction:\nStatus: 9.9.9.9\n\n<<< 550",
            b"On Mon wrote:\n" * 50,
            b"<html><blockquote><blockquote><p>x" * 50,
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw):
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    result = classify(message)
    assert isinstance(result, Inbound) and result.kind in ("bounce", "auto_reply", "reply")
    assert isinstance(message_text(message), str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=15), BODIES)
def test_header_soup_never_raises(headers, body):
    lines = [f"{name}: {value}".replace("\r", " ").replace("\n", " ") for name, value in headers]
    raw = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n\n" + body
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    result = classify(message)
    assert result.kind in ("bounce", "auto_reply", "reply")
    if result.bounce is not None:
        assert result.bounce.kind in ("hard", "soft")
        assert all(address == address.lower() and "<" not in address for address in result.bounce.recipients)
    parse_bounce(message)
    classify_auto_reply(message.items() if _items_readable(message) else [], "", message_text(message))


def _items_readable(message):
    try:
        message.items()
    except Exception:  # noqa: BLE001 - the stdlib may refuse some header soups; raw_items is what we rely on
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_return_dates_are_always_ahead_and_within_a_year(text, received):
    found = extract_return_date(text, received)
    assert found is None or received < found <= date.fromordinal(received.toordinal() + 366)


def test_classify_never_raises_on_odd_inputs():
    for odd in (b"", b"\x00\xff", "plain text", EmailMessage(), parse("Content-Type: multipart/mixed\n\nno boundary")):
        assert classify(odd).kind == "reply"
    assert classify(None).kind == "reply"
    assert message_text(None) == ""
    assert parse_bounce(None) is None
    assert extract_return_date(None, RECEIVED) is None


def test_deep_nesting_is_bounded():
    raw = "From: a@example.com\nSubject: Re: x\n"
    for depth in range(60):
        raw += f'Content-Type: multipart/mixed; boundary="b{depth}"\n\n--b{depth}\n'
    raw += "Content-Type: text/plain\n\nhello\n"
    assert classify(parse(raw)).kind == "reply"


def big_message(size, subtype="octet-stream"):
    message = EmailMessage()
    message["From"] = "Laura <laura@example.com>"
    message["To"] = "sam@odoo.example.com"
    message["Subject"] = "Re: Our offer"
    message["In-Reply-To"] = "<123.456@odoo.example.com>"
    message.set_content("Here is the file you asked for.\n")
    message.add_attachment(b"\x00\x01binary" * (size // 8), maintype="application", subtype=subtype, filename="big.bin")
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.SMTP)


def test_twenty_megabyte_attachment_is_classified_quickly():
    message = big_message(20 * 1024 * 1024)
    started = time.perf_counter()
    result = classify(message)
    assert time.perf_counter() - started < 2
    assert result.kind == "reply" and result.references == ("<123.456@odoo.example.com>",)


def test_huge_text_bodies_are_capped():
    body = ("Line of a very long report, nothing to see. " * 10 + "\n") * 50_000  # about 23 MB
    message = parse(f"From: a@example.com\nSubject: Re: x\nContent-Type: text/plain\n\n{body}")
    started = time.perf_counter()
    text = message_text(message)
    assert classify(message).kind == "reply"
    assert time.perf_counter() - started < 3
    assert 0 < len(text) <= 200_000
