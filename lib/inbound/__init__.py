"""Classify inbound email for the sales-sequence engine: complaint, bounce (DSN), auto-reply, or human reply.

What each kind is, and the cost that decides the doubtful cases:

* a **reply** is anything a person may have written. A wrongly paused enrollment is one click to resume; a
  follow-up sent after a reply costs the deal. So a message is a reply unless there is positive evidence of a
  machine;
* an **auto-reply** is a message with positive evidence of a machine: RFC 3834 ``Auto-Submitted`` (other than
  ``no``), ``X-Autoreply``/``X-Autorespond`` and the other responder headers below, ``Precedence: auto_reply``,
  ``Precedence: bulk/junk/list`` *with* out-of-office wording, an out-of-office / vacation / automatic-reply subject
  in the 7 languages, or machine-only body text. A subject token such as ``[Ticket#3]`` or ``Antwort: ...
  [Ticket#111079]``, "Thank you for your email", "Request received" are no such evidence (helpdesks put them on
  their agents' replies);
* a **bounce** is a delivery failure report (RFC 3464 DSN, an MTA's non-standard notice, an Office 365 NDR, an
  Amazon SES bounce notification mailed as JSON), hard or soft;
* a **complaint** is an abuse report about an email we sent (ARF ``Feedback-Type: abuse``, an SES complaint):
  the address must never be mailed again.

What a report proves, and nothing more (reports come from anyone: a forged "bounce" must not stop enrollments
it names). A :class:`Bounce` or :class:`Complaint` carries the Message-Ids of the email it answers
(``original_message_ids``: the returned copy or headers, quoted Message-ID lines, the report's In-Reply-To,
the SES ``mail.headers``) so the caller can match it to what it sent, and the recipients as the report itself
states them (DSN per-recipient fields, the report text, the SES recipients list, ARF ``Original-Rcpt-To``),
at most ``MAX_RECIPIENTS`` (50). An ``X-Failed-Recipients`` header alone is no bounce; it only supports a report
that is otherwise evidenced, and names only addresses the report's text names too.

Plain Python (standard library only, no Odoo import) so it can be unit-tested on raw messages. The Odoo mail
gateway parses every inbound message with ``email.message_from_bytes(raw, policy=email.policy.SMTP)`` and calls
:func:`classify`, which never raises: whatever goes wrong inside, the answer falls back to ``"reply"`` (a person
then looks at the message, which is the safe side for a sales conversation).

Decision rules
--------------
``classify`` tries, in this order:

0. **Complaint** (:func:`parse_complaint`, module ``complaint``): an ARF report or an SES complaint.

1. **Bounce** (:func:`parse_bounce`), when one of these holds:

   * an RFC 3464 report: a ``message/delivery-status`` part (usually inside ``multipart/report;
     report-type=delivery-status``) with a recipient whose ``Action`` is ``failed`` or ``delayed`` (or, without
     an ``Action``, whose ``Status`` is 4.x.x/5.x.x). A report whose recipients are all ``delivered``, ``relayed``
     or ``expanded`` is a success notice, not a bounce (it is then classified as an auto-reply: machine mail);
   * an ``X-Failed-Recipients`` header (Exim) or an ``X-MS-Exchange-Message-Is-Ndr`` header (Exchange Online),
     together with a bounce subject or failure evidence;
   * an Amazon SES Bounce notification mailed by SNS (``ses``): Permanent is hard, Transient/Undetermined soft;
   * a mailer sender (``MAILER-DAEMON``, ``postmaster``, "Mail Delivery System/Subsystem", Exchange's
     ``MicrosoftExchange<hex>``...) together with a bounce subject or failure evidence in the body;
   * an empty envelope sender (``Return-Path: <>``) together with a bounce subject *and* failure evidence, unless
     the message carries auto-reply headers (vacation responders also send with ``<>``);
   * a bounce subject (before any ``Re:``/``Fwd:``) plus failure evidence plus the returned original attached.

   Words alone never make a bounce: a person who quotes "Undeliverable" in a reply has none of the structure,
   sender or headers above. Failure evidence is an SMTP reply code (``550``, ``552-5.2.2``, ``#5.1.1``...) or a
   well-known failure phrase (English, German, French, Spanish, Italian, Portuguese, Dutch) in the notification
   text, i.e. before the copy of the returned message.

   *Hard or soft*: ``Action: delayed`` or a 4.x.x status is soft; 5.x.x is hard, except ``5.2.2`` (mailbox
   full), which many providers send for a full mailbox that will accept mail again, so it is soft like most
   ESPs treat it; a "mailbox full / over quota" diagnostic is soft whatever its code. Without any status: basic
   SMTP codes 4xx are soft and 5xx hard; then soft phrases (over quota, greylisted, try again later, delayed,
   will retry) make it soft; anything else that failed is hard (user unknown, domain not found, policy 5.7.x).
   The status is the enhanced code of the remote server's own answer (``Diagnostic-Code``) when it has one, else
   the ``Status`` field (a generic ``5.0.0`` made precise by a same-class code of the notification text), else the
   first 4.x.x/5.x.x code of the notification; ``None`` when there is none (a basic ``550`` alone stays ``None``).

2. **Auto-reply** (:func:`classify_auto_reply`), when one of these holds:

   * headers: RFC 3834 ``Auto-Submitted`` other than ``no``; ``X-Autoreply``, ``X-Autorespond``,
     ``X-Autoresponder``, ``X-AutoReply-From``, ``X-Mail-Autoreply``; ``X-Autogenerated: Reply``;
     ``Precedence``/``X-Precedence`` ``auto_reply``; ``bulk``, ``junk`` or ``list`` only with out-of-office wording in
     the new text (and not for mailing-list traffic,
     recognised by its ``List-*`` headers); Exchange's ``X-Auto-Response-Suppress`` together with
     ``X-MS-Exchange-Inbox-Rules-Loop`` or ``X-MS-Exchange-Generated-Message-Source``; ``X-Apple-Action: VACATION``;
     ``X-POST-MessageClass: 9; Autoresponder``; ``X-FC-MachineGenerated: true``; ``Delivered-To: Autoresponder``;
     an ``X-Mailer`` naming an autoresponder; a ``multipart/report`` (delivery or read receipt) that was not a bounce;
   * subject: an auto-reply marker ("Automatic reply:", "Out of Office", "Abwesenheitsnotiz", "Réponse
     automatique", "Respuesta automática", "Risposta automatica", "Resposta automática", "Automatisch antwoord"...)
     in the part of the subject *before* any ``Re:``/``AW:``/``Fwd:`` (what follows is the original subject, which
     may contain any word); ambiguous words (Absence, Vacation, Afwezig...) only at its very start; a marker with
     its colon ("Automatic reply:") anywhere, since responders answering each other stack prefixes;
   * body, read only in the new text (quoted lines starting with ``>`` are dropped, and everything from an
     attribution line such as "On ... wrote:", "Le ... a écrit :", "Am ... schrieb", "El ... escribió:",
     "Il ... ha scritto:", "Em ... escreveu:", "Op ... schreef", or from "-----Original Message-----" or an
     Outlook "From: ... Sent: ..." block onward), in three tiers:

     - a machine-only phrase ("this is an automatic reply", "this mailbox is not monitored", "do not reply to
       this email", "Dies ist eine automatische Antwort", "Ceci est un message automatique"...) is enough;
     - an auto-reply hint ("I will respond to your message when I return", "limited access to email", "for
       urgent matters please contact", "we have received your request", "no longer with the company",
       "En cas d'urgence", "In dringenden Fällen"...) or a statement of absence ("I'm out of the office",
       "ich bin nicht im Büro", "je suis absent", "estoy fuera de la oficina"...) counts when the message quotes
       no history, when it comes from a null or no-reply sender, or when hint and absence stand together, and
       never (except from a null or no-reply sender) in a text that talks to the reader ("let's", "call me", a
       question): a person writes to the reader, an autoresponder informs;
     - so "Thanks, I'm out of the office tomorrow, let's talk Thursday" above a quoted thread stays a reply.

3. Anything else is a **reply**.

Return dates (:func:`extract_return_date`) are read from the new text (then the subject): a date after an
"until"-like word (until, till, through, bis, jusqu'au, hasta, fino al, até, tot en met, "to" in a range...)
ends an inclusive absence, so the person is back the next day; a date after a "back"-like word (back on,
returning, zurück, wieder, de retour, de vuelta, di ritorno, volto, terug...) is the day itself; "back" wins over
"until" when both are stated. Dates without a year get the next such day after the received date; only dates
after it and within a year count. Numeric dates with ``/`` or ``-`` that could be day/month or month/day use
the order proven by another date of the same text, else the interpretation within about 120 days (the nearest
one when both are).

The package
-----------
One module per part: ``patterns`` (the word lists and regular expressions), ``mime`` (parsing and reading a
message defensively, quoted history), ``ses`` (Amazon SES JSON notifications), and one module per *signal*:
``complaint``, ``bounce``, ``auto_reply`` (with ``return_date``). Each signal module has ``detect(message,
received)`` returning its finding or ``None``; :data:`PIPELINE` lists them in the order they are tried, and the
first finding names the kind. A new inbound
signal is one new module with a ``detect`` and one line in :data:`PIPELINE`, e.g.::

    PIPELINE = (
        ("complaint", complaint.detect),
        ("bounce", bounce.detect),
        ("auto_reply", auto_reply.detect),
        ("read_receipt", read_receipt.detect),  # new: lib/inbound/read_receipt.py
    )

and ``Inbound.detail`` carries its finding (``Inbound.read_receipt`` needs no code: see ``__getattr__``).
"""

from dataclasses import dataclass
from datetime import date

from . import auto_reply, bounce, complaint
from .auto_reply import AutoReply, classify_auto_reply
from .bounce import Bounce, parse_bounce
from .complaint import Complaint, parse_complaint
from .mime import as_message, message_text, received_date_of, reference_ids, strip_quoted
from .return_date import extract_return_date

__all__ = [
    "PIPELINE",
    "AutoReply",
    "Bounce",
    "Complaint",
    "Inbound",
    "classify",
    "classify_auto_reply",
    "extract_return_date",
    "message_text",
    "parse_bounce",
    "parse_complaint",
    "strip_quoted",
]

# The signals, in the order they are tried: (kind, detect(message, received) -> finding or None).
PIPELINE = (
    ("complaint", complaint.detect),
    ("bounce", bounce.detect),
    ("auto_reply", auto_reply.detect),
)


@dataclass(frozen=True)
class Inbound:
    """What a message is: its kind (a PIPELINE kind, or "reply"), the signal's finding and the ids it answers.

    ``inbound.bounce``, ``inbound.auto_reply`` (any kind's name) is the finding when the message is of that kind,
    else ``None``."""

    kind: str  # "complaint", "bounce", "auto_reply" or "reply"
    detail: object = None  # the finding of the signal that named the kind: Bounce, AutoReply...
    references: tuple[str, ...] = ()  # Message-Ids from In-Reply-To and References, in order, no duplicates

    def __getattr__(self, name):
        # Only reached for names that are not fields: a kind's name gives its finding or None.
        if name.startswith("_") or name not in KINDS:
            raise AttributeError(name)
        return self.detail if self.kind == name else None


KINDS = frozenset(kind for kind, _detect in PIPELINE)


def classify(message, received: date | None = None) -> Inbound:
    """The first signal of PIPELINE that recognises the message, else a reply.

    `message`: an ``email.message.Message`` or the raw bytes (or text) of one. Never raises: on any error the
    answer is a plain reply, which a person then reads."""
    references = ()
    try:
        message = as_message(message)
        references = reference_ids(message)
        if received is None:
            received = received_date_of(message)
        for kind, detect in PIPELINE:
            finding = detect(message, received)
            if finding is not None:
                return Inbound(kind, detail=finding, references=references)
    except Exception:  # a mail gateway must keep going; a person will read the message
        return Inbound("reply", references=references)
    return Inbound("reply", references=references)
