"""Pattern tables of the inbound classifier: every word list and regular expression, in the 7 languages.

Data only (compiled once at import); the modules that use them say how (mime, bounce, auto_reply, return_date).
"""

import re
from datetime import timedelta

# Caps: a message may carry a 20 MB attachment or a megabyte of HTML; nothing here needs more than the start.
MAX_TEXT_CHARS = 200_000  # plain text kept per message
MAX_HTML_CHARS = 300_000  # HTML fed to the tag stripper (markup is often more than half of it)
MAX_HEADER_CHARS = 4_000  # one header value
MAX_PARTS = 200  # MIME parts visited
MAX_DEPTH = 20  # MIME nesting followed
DSN_FIELDS_CHARS = 50_000  # text of a delivery-status part that is parsed
MAX_RECIPIENTS = 50  # addresses one bounce or complaint may name (a report naming thousands is an attack)
MAX_JSON_CHARS = 100_000  # an SES notification is a few KB
# Phrase tables are long alternations, costly over 200 KB; what they look for stands at the start of the new text
# or of a delivery notification, so only that much of it is searched.
NOTIFICATION_SCAN_CHARS = 30_000
BODY_SCAN_CHARS = 20_000
RETURN_DATE_HORIZON = timedelta(days=365)  # an absence announced further out is not a return date
LIKELY_ABSENCE = timedelta(days=120)  # to choose between day/month and month/day

# =====================================================================================================================
# Pattern tables
# =====================================================================================================================

# ----- Bounces -------------------------------------------------------------------------------------------------------

# Local parts and display names that mail systems use for delivery reports.
MAILER_LOCAL_PART_RE = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_]?master|mail[-_.]?delivery[-_.\w]*|double-bounce|mdaemon|mail-daemon"
    r"|microsoftexchange[0-9a-f]{32}|nondelivery|ndr)$",
    re.IGNORECASE,
)
MAILER_DISPLAY_NAME_RE = re.compile(
    r"mailer[-_ ]?daemon|post[-_ ]?master|mail delivery (?:system|subsystem|service|agent)|mail administrator"
    r"|system administrator|delivery status notification|mail router|microsoft outlook|microsoft exchange"
    r"|mail-?zustellsystem|syst[eè]me de (?:distribution|remise)|sistema de (?:entrega|correo)"
    r"|mail delivery",
    re.IGNORECASE,
)

# Subjects of delivery reports, per language; matched on the part before any Re:/Fwd:.
BOUNCE_SUBJECT_PATTERNS = {
    "en": r"undeliver(?:ed|able)|mail (?:delivery )?(?:failed|failure|problem|delayed)|returning to sender"
    r"|delivery (?:status notification|failure|notification|has failed|report|problem|delayed|error)"
    r"|failure notice|returned mail|returning message"
    r"|mail system error|non-?deliver(?:y|able)|message (?:not delivered|delayed|delivery failure|blocked)"
    r"|could not (?:be delivered|send message)|delayed mail|warning: (?:could not|message)|delivery status"
    r"|rejected|bounced? mail|mail failure|message you sent blocked|^dsn\b",
    "de": r"unzustellbar|nicht zustellbar|zustellung (?:fehlgeschlagen|verzögert|gescheitert)|fehlgeschlagen"
    r"|benachrichtigung zum (?:übermittlungsstatus|zustellstatus)|unzustellbare nachricht|nicht zugestellt",
    "fr": r"non remis|non distribuable|non délivré|échec de (?:la )?(?:remise|distribution)|notification d'état"
    r"|message non (?:remis|distribué)|retour de courrier|remise différée",
    "es": r"no se puede entregar|no entregado|no se pudo entregar|notificación de estado de (?:la )?entrega"
    r"|error (?:de|en la) entrega|mensaje no entregado|entrega retrasada",
    "it": r"impossibile recapitare|non recapitabile|non recapitato|mancato recapito|notifica sullo stato"
    r"|recapito non riuscito|consegna non riuscita",
    "pt": r"não é possível entregar|não foi possível entregar|não entregue|falha na entrega"
    r"|notificação de status de entrega|mensagem não entregue",
    "nl": r"onbestelbaar|niet bezorgd|kan niet (?:worden )?bezorgd|bezorging mislukt|niet afgeleverd"
    r"|onbezorgbaar",
}

# Failure evidence in the text of a notification (not in a quoted reply: see the rules in the docstring).
BOUNCE_EVIDENCE_PATTERNS = {
    "en": r"could ?n[o']t be delivered|was ?n[o']t delivered|(?:could|can) ?n[o']t deliver|undeliver(?:able|ed)"
    r"|delivery (?:to the following recipients? )?(?:has )?failed|failed permanently|permanent(?: fatal)? error"
    r"|permanent failure|user (?:unknown|not found|doesn't exist|does not exist)|unknown (?:user|recipient)"
    r"|no such (?:user|mailbox|recipient|address|domain)|mailbox (?:unavailable|not found|does not exist"
    r"|is full|full|disabled|inactive)|recipient (?:address )?rejected|address rejected|address not found"
    r"|address couldn't be found|(?:host|domain)(?: or domain name)? not found|unrouteable address"
    r"|unable to deliver|message not delivered|this is the mail system at host|i'm sorry to have to inform you"
    r"|created automatically by mail delivery software|wasn't able to deliver|qmail-send program"
    r"|had permanent fatal errors|delivery (?:has been|is) delayed|delivery attempts will continue"
    r"|has not (?:yet )?been delivered|will (?:retry|keep trying|try again)|over (?:the )?quota|quota exceeded"
    r"|exceeded (?:the )?(?:storage|quota)|retry time(?:out)? (?:not reached|exceeded)|greylist|graylist"
    r"|message delivery has failed|delivery status notification|returned to sender|could not be reached"
    r"|recipient not found|does not exist|rejected (?:your|the) message|message (?:was )?rejected"
    r"|temporary (?:failure|problem|error)|not yet been delivered|delivery incomplete",
    "de": r"konnte nicht zugestellt werden|unzustellbar|nicht zustellbar|zustellung (?:ist )?fehlgeschlagen"
    r"|empfänger unbekannt|(?:adresse|benutzer|empfänger) (?:ist )?unbekannt|existiert nicht|postfach (?:ist )?voll"
    r"|konnte nicht (?:übermittelt|zugestellt)|nicht zugestellt",
    "fr": r"n'a pas pu être (?:remis|distribué|délivré)|non remis|échec de (?:la )?remise|adresse inconnue"
    r"|destinataire inconnu|utilisateur inconnu|boîte aux lettres (?:est )?pleine|impossible de (?:remettre|distribuer)"
    r"|non distribué|n'existe pas",
    "es": r"no se (?:pudo|puede) entregar|no ha podido ser entregado|no entregado|usuario desconocido"
    r"|destinatario desconocido|buzón (?:está )?lleno|error en la entrega|no se ha podido entregar",
    "it": r"non è stato possibile recapitare|impossibile recapitare|non recapitato|recapito non riuscito"
    r"|utente sconosciuto|destinatario sconosciuto|casella (?:di posta )?piena|mancato recapito",
    "pt": r"não foi possível entregar|não é possível entregar|não entregue|falha na entrega|usuário desconhecido"
    r"|utilizador desconhecido|destinatário desconhecido|caixa (?:de correio )?(?:está )?cheia",
    "nl": r"kon niet worden bezorgd|kan niet worden bezorgd|onbestelbaar|niet bezorgd|bezorging mislukt"
    r"|onbekende (?:gebruiker|ontvanger)|bestaat niet|postvak (?:is )?vol",
}

# A diagnostic that says "full mailbox" is soft whatever its code (many servers answer 550/552 for it).
MAILBOX_FULL_RE = re.compile(
    r"mailbox (?:is )?full|mailbox (?:size )?limit|over (?:the )?quota|quota (?:exceeded|full)|exceeded (?:the )?"
    r"(?:storage|quota|mailbox)|insufficient (?:system )?storage|out of storage|mailfolder is (?:full|over)"
    r"|mailbox has exceeded|mailbox exceeds|exceeds allowed size|messages in recipient's mailbox exceeded"
    r"|disk quota|postfach (?:ist )?voll|speicherplatz|boîte (?:aux lettres )?(?:est )?pleine"
    r"|buzón (?:está )?lleno|casella (?:di posta )?piena|caixa (?:de correio )?(?:está )?cheia|postvak (?:is )?vol",
    re.IGNORECASE,
)
# Temporary conditions: greylisting, deferrals, delays.
SOFT_BOUNCE_RE = re.compile(
    r"greylist|graylist|try again later|temporar(?:y|ily)|will (?:retry|keep trying|try again)|deferred"
    r"|delivery (?:has been |is )?delayed|not (?:yet )?been delivered|still (?:trying|being retried)"
    r"|retry time|could not send message for past|delivery attempts will continue|delay"
    r"|verzögert|différée|retrasad|ritardat|atrasad|vertraagd",
    re.IGNORECASE,
)

# Words of a concrete failure reason, to pick the line worth showing as the diagnostic.
REASON_HINT_RE = re.compile(
    r"unknown|no such|not listed|does ?n[o']t exist|not found|quota|mailbox|disabled|timed? ?out|rejected|blocked"
    r"|denied|refused|full|not accepted|invalid|unavailable|unrouteable|greylist|unbekannt|inconnu|desconocido"
    r"|sconosciuto|desconhecido|onbekend|existiert nicht|n'existe pas",
    re.IGNORECASE,
)
# Lines every notification carries; they say nothing about this failure.
BOILERPLATE_RE = re.compile(
    r"created automatically|this is the (?:mail system|qmail|postfix)|i'm (?:sorry|afraid)|one or more"
    r"|following (?:address|recipient)|permanent error|for further assistance|please (?:send mail|contact)"
    r"|delete your own text|attached (?:below|returned)|was not delivered to:?$|unable to deliver your message",
    re.IGNORECASE,
)

# Where the notification ends and the copy of the returned message begins (qmail, Exim, Sendmail, Yahoo...).
RETURNED_COPY_MARKERS_RE = re.compile(
    r"^\s*(?:-{2,}\s*(?:Below this line is (?:a copy of the message|the original)|Enclosed (?:is a copy|are the"
    r" original headers)|This is a copy of the message|Original message follows|Original Message|Forwarded message"
    r"|Returned message|Unsent message below|The header of the original message is following)"
    r"|Original message headers:|Original Message Headers|\*\*\* ?Original message|Return-Path:\s*<[^>]*>\s*$"
    r"|Received: from )",
    re.IGNORECASE | re.MULTILINE,
)

# Enhanced status codes (RFC 3463) X.Y.Z with Y in 0..7; not a piece of an IP address, a version or a date.
ENHANCED_STATUS_RE = re.compile(r"(?<![\w.])([245])\.([0-7])\.(\d{1,3})(?!\d|\.\d)")
# Basic SMTP reply codes as MTAs print them: "550 ", "552-", "554:" at a line start or after "said:", "<<<"...
BASIC_CODE_RE = re.compile(r"(?:^|(?<=[\s:;'\"(<>=#]))(4[2-7]\d|5[0-7]\d)(?=[ \-:,]\s?\S)", re.MULTILINE)
EMAIL_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
MESSAGE_ID_LINE_RE = re.compile(r"^[>\s]*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
MESSAGE_ID_FOLDED_RE = re.compile(r"^[>\s]*Message-ID:\s*\n[ \t]+(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
MSGID_RE = re.compile(r"<[^<>\s]+@[^<>\s]+>|<[^<>\s]{3,}>")

# Where recipients are named in the text of bounces that have no RFC 3464 part.
BOUNCE_RECIPIENT_PATTERNS = (
    r"^\s*<([^<>\s]+@[^<>\s]+)>\s*:",  # qmail, Yahoo, Postfix text: "<x@y>:"
    r"(?:wasn't|was not|could ?n[o']t be) delivered to\s+<?([^\s<>]+@[^\s<>,;]+?)>?[\s.,]",  # Gmail
    r"delivery to the following recipients? (?:failed permanently|has been delayed|failed)[^\n]*:"
    r"\s*<?([^\s<>]+@[^\s<>]+)",
    r"(?:temporary problem delivering your message to|message to|message for)\s+<?([^\s<>]+@[^\s<>,;]+?)>?[\s.,]",
    r"delivery has failed to these recipients or groups:\s*(?:[^\n(]*\()?<?([^\s<>()]+@[^\s<>()]+)",
    r"the following (?:address\(es\)|addresses|recipient\(s\)|recipients) (?:failed|had permanent fatal errors"
    r"|had delivery problems|cannot be reached|was aborted)[^\n]*:?\s*\n\s*[<'\"]?([^\s<>'\"]+@[^\s<>'\"]+)",
    r"(?:nachricht an|message à|mensaje (?:para|a)|messaggio (?:per|a)|mensagem para|bericht aan)\s+<?"
    r"([^\s<>]+@[^\s<>,;]+?)>?[\s.,]",
    r"<([^<>\s]+@[^<>\s]+)>\.\.\. ",  # Sendmail: "<x@y>... User unknown"
    r"RCPT TO:\s*<([^<>\s]+@[^<>\s]+)>",
)

# ----- Auto-replies --------------------------------------------------------------------------------------------------

# Phrases that mark an auto-reply wherever they stand in the subject head (before Re:/Fwd:): out-of-office, vacation
# and automatic-reply wording only. Ticket tokens ("[Ticket#3]"), "Thank you for your email", "Request received"...
# are no evidence of a machine: helpdesks put them on their agents' replies too, and a person may write them.
AUTO_SUBJECT_PATTERNS = {
    "en": r"auto(?:matic|mated)?[- ]?(?:reply|response|answer|respon[cs]e)|autoreply|autoresponder"
    r"|out[- ]of[- ]?(?:the[- ])?office|is out of the office|away from (?:the|my) office|vacation (?:reply|notice)"
    r"|i am (?:away|on (?:leave|holiday|vacation))|on (?:annual|parental|maternity|sick) leave"
    r"|this mailbox is (?:not|no longer) monitored",
    "de": r"abwesenheitsnotiz|automatische antwort|abwesenheitsmeldung|nicht im büro|außer haus|ausser haus"
    r"|abwesenheit|automatische (?:rückantwort|nachricht)|im urlaub",
    "fr": r"r[ée]ponse automatique|absent(?:e)? du bureau|message d'absence|en cong[ée]s?",
    "es": r"respuesta automática|respuesta automatica|fuera de (?:la )?oficina|mensaje de ausencia|de vacaciones",
    "it": r"risposta automatica|fuori (?:ufficio|sede)|messaggio di assenza|in ferie",
    "pt": r"resposta autom[áa]tica|fora do escritório|ausência temporária|mensagem de ausência|de férias",
    "nl": r"automatisch antwoord|niet aanwezig|buiten kantoor|afwezigheidsbericht|met vakantie",
    "other": r"autosvar|automaattinen vastaus|automatyczna odpowied|automatická odpověď|otomatik yanıt"
    r"|автоматический ответ|自動応答|自动回复|자동 응답",
}
# Auto-reply prefixes ("Automatic reply:") are markers even after a "Re:" (responders that answer each other).
AUTO_SUBJECT_PREFIX_PATTERN = (
    r"(?:automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|out of (?:the )?office(?: auto-?reply)?"
    r"|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|respuesta automática|risposta automatica"
    r"|resposta automática|automatisch antwoord)\s*:"
)
# Words that are auto-reply markers only when the subject starts with them ("Absence: ...", "OOO - ...").
AUTO_SUBJECT_START_PATTERNS = (
    r"ooo\b|absen(?:ce|t|te)\b|away\b|vacation\b|holiday\b|on leave\b|auto:|urlaub\b|abwesend\b|congés?\b"
    r"|ausente\b|ausencia\b|assente\b|assenza\b|ausência\b|ausencia\b|afwezig\b|vakantie\b|ferie\b|férias\b"
)

# Body phrases that only machines write: one is enough in the new text, even above quoted history.
AUTO_BODY_CERTAIN_PATTERNS = {
    "en": r"this is an auto(?:matic|mated)?(?:ally generated)?[- ]?(?:reply|response|message|e-?mail|notification)"
    r"|auto(?:matic|mated)?[- ]?(?:reply|response)\b|autoreply|(?:mailbox|e-?mail address|inbox|address) is (?:not"
    r"|no longer) (?:being )?(?:monitored|checked|read|active|in use)|(?:please )?do not reply to this (?:e-?mail"
    r"|message)",
    "de": r"dies ist eine automatisch|automatische (?:antwort|nachricht|benachrichtigung)|abwesenheitsnotiz"
    r"|postfach wird nicht (?:überwacht|gelesen|abgerufen)",
    "fr": r"ceci est (?:un|une) (?:message|réponse) automatique|réponse automatique|message automatique"
    r"|cette (?:adresse|boîte) n'est (?:pas|plus) (?:surveillée|consultée|lue)",
    "es": r"(?:este es|esta es) (?:un|una) (?:mensaje|respuesta) automátic[oa]|respuesta automática|mensaje automático"
    r"|esta (?:dirección|cuenta) no (?:es|está) (?:monitorizada|supervisada)",
    "it": r"(?:questo è|questa è) (?:un|una) (?:messaggio|risposta) automatic[oa]|risposta automatica"
    r"|messaggio automatico|casella non (?:è )?monitorata",
    "pt": r"(?:esta é|este é) (?:uma|um) (?:mensagem|resposta) automática|resposta automática|mensagem automática"
    r"|caixa (?:de correio )?não (?:é )?monitorada",
    "nl": r"dit is een automatisch(?:e)? (?:antwoord|bericht|gegenereerd)|automatisch antwoord"
    r"|mailbox wordt niet (?:gelezen|gecontroleerd)",
}
# Phrases typical of auto-replies that a person could still write: they count without quoted history, or together
# with a statement of absence (an out-of-office text that also quotes the original message).
AUTO_BODY_HINT_PATTERNS = {
    "en": r"i (?:will|shall|'ll) (?:respond|reply|get back to you|answer)[^.\n]{0,60}(?:upon|on|when|after) (?:my|i)"
    r" return|(?:limited|no|restricted|intermittent) access to (?:my )?e-?mails?|for (?:urgent|immediate)"
    r" (?:matters|assistance|requests|inquiries|enquiries|issues)|if (?:your (?:matter|request) is|this is) urgent"
    r"|(?:will|shall) not be (?:read|forwarded)|we(?: have|'ve) received your (?:e-?mail|message|request|inquiry"
    r"|enquiry)|thank you for contacting|your (?:request|ticket) (?:\(|#|number|has been (?:received|created"
    r"|logged))|no longer (?:with|works? (?:at|for)|employed)",
    "de": r"in dringenden fällen|bei dringenden (?:anliegen|angelegenheiten|fragen)|(?:ihre|deine) (?:e-?mail"
    r"|nachricht) wird nicht (?:weitergeleitet|gelesen)|nach meiner rückkehr|eingeschränkt(?:en)? zugriff"
    r"|vielen dank für ihre (?:e-?mail|nachricht|anfrage)[^.\n]{0,80}(?:erhalten|melden|bearbeiten)"
    r"|wir haben ihre (?:e-?mail|nachricht|anfrage) erhalten|nicht mehr (?:für|bei) ",
    "fr": r"en cas d'urgence|pour toute (?:urgence|demande urgente)|dès mon retour|à mon retour|accès limité à"
    r" (?:mes|ma)|nous avons bien reçu|ne sera pas (?:lu|transféré)",
    "es": r"en caso de urgencia|para (?:asuntos|temas) urgentes|a mi regreso|acceso limitado al? correo"
    r"|hemos recibido su|no será (?:leído|reenviado)",
    "it": r"per (?:urgenze|questioni urgenti|comunicazioni urgenti)|al mio rientro|in caso di urgenza"
    r"|accesso limitato alla posta|abbiamo ricevuto la sua|non sarà (?:letto|inoltrato)",
    "pt": r"em caso de urgência|para assuntos urgentes|no meu regresso|quando (?:eu )?(?:retornar|regressar)"
    r"|acesso limitado ao e-?mail|recebemos (?:a sua|sua) (?:mensagem|solicitação)|não será (?:lido|encaminhado)",
    "nl": r"voor dringende (?:zaken|vragen)|bij dringende zaken|na mijn terugkomst"
    r"|beperkt toegang tot (?:mijn )?e-?mail|wij hebben uw (?:e-?mail|bericht|vraag) ontvangen|wordt niet doorgestuurd",
}
# Statements of absence that a person may also write in a real reply: they count only without quoted history.
AUTO_BODY_ABSENCE_PATTERNS = {
    "en": r"out of (?:the )?office|\booo\b|on (?:annual |parental |maternity |paternity |sick |medical )?(?:leave"
    r"|vacation|holidays?|pto)\b|away from (?:the |my )?(?:office|desk|e-?mail)|(?:i am|i'm|i will be|i'll be)"
    r" (?:currently )?(?:away|out (?:until|till|through|from|today|this week|of the country))\b"
    r"|not (?:be )?in the office|back in the office"
    r"|return(?:ing)? to the office",
    "de": r"nicht im büro|außer haus|ausser haus|abwesend|im urlaub|nicht erreichbar|nicht im hause|elternzeit"
    r"|mutterschutz|wieder im büro|wieder erreichbar",
    "fr": r"absent(?:e)?(?: du bureau)?|en cong[ée]s?|en vacances|hors du bureau|de retour le",
    "es": r"fuera de (?:la )?oficina|ausente|de vacaciones|de permiso|de baja|estaré de vuelta|de regreso el",
    "it": r"fuori (?:ufficio|sede)|assente|in ferie|in vacanza|in maternità|di ritorno il|rientrerò",
    "pt": r"fora do escritório|ausente|de férias|de licença|estarei de volta|volto (?:no dia|em|a)",
    "nl": r"afwezig|niet aanwezig|buiten kantoor|met vakantie|op vakantie|met verlof|niet op kantoor"
    r"|weer (?:aanwezig|bereikbaar|op kantoor)|niet bereikbaar",
}

# A person talking to the reader: "let's talk", "call me", "sounds good", a question... (autoresponders inform).
CONVERSATION_RE = re.compile(
    r"\blet'?s\b|\blet us\b|call me|sounds good|how about|talk (?:on|next|after|then|soon|tomorrow)|happy to"
    r"|lass(?:en sie)? uns|rufen sie mich|telefonieren wir|appelez-moi"
    r"|on (?:peut )?(?:se |en )?(?:parler|voir|appeler|rappeler)"
    r"|podemos (?:hablar|vernos|conversar|falar)|hablamos|llámame|possiamo (?:sentirci|parlare)|sentiamoci"
    r"|chiamami|vamos (?:falar|conversar)|falamos|me liga|laten we|bel me|spreken we"
    r"|\w ?\?(?:\s|$)",  # a question to the reader
    re.IGNORECASE,
)

# Header rules: (header name, regex on its value or None for "present", reason).
AUTO_REPLY_HEADER_RULES = (
    ("x-autoreply", r"^(?!\s*(?:no|false|0)\s*$)", "header X-Autoreply"),
    ("x-autorespond", r"^(?!\s*(?:no|false|0)\s*$)", "header X-Autorespond"),
    ("x-autoresponder", r"^(?!\s*(?:no|false|0)\s*$)", "header X-Autoresponder"),
    ("x-autoreply-from", None, "header X-AutoReply-From"),
    ("x-mail-autoreply", None, "header X-Mail-Autoreply"),
    ("x-autogenerated", r"reply", "header X-Autogenerated: Reply"),
    ("x-apple-action", r"vacation", "header X-Apple-Action: VACATION"),
    ("x-post-messageclass", r"autoresponder", "header X-POST-MessageClass: Autoresponder"),
    ("x-fc-machinegenerated", r"true", "header X-FC-MachineGenerated: true"),
    ("delivered-to", r"^\s*autoresponder", "header Delivered-To: Autoresponder"),
    ("x-mailer", r"auto-?respon|auto-?reply|vacation", "header X-Mailer of an autoresponder"),
    ("x-precedence", r"auto[_-]?reply", "header X-Precedence: auto_reply"),
)
PRECEDENCE_AUTO_RE = re.compile(r"^\s*auto[_-]?reply\b", re.IGNORECASE)
# Bulk precedence: set by autoresponders, but also by newsletters and some people's mail setups; it counts only with
# out-of-office wording (subject or new text).
PRECEDENCE_BULK_RE = re.compile(r"^\s*(?:bulk|junk|list)\b", re.IGNORECASE)
EXCHANGE_RULE_HEADERS = ("x-ms-exchange-inbox-rules-loop", "x-ms-exchange-generated-message-source")
MAILING_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "mailing-list", "x-mailing-list", "list-help")
NO_REPLY_SENDER_RE = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|auto[-_.]?reply|autorespon\w*|vacation|notifications?)\b", re.I
)

# ----- Quoted history ------------------------------------------------------------------------------------------------

# Attribution lines ("On ... wrote:") in the 7 languages, possibly wrapped over up to three lines.
ATTRIBUTION_RE = re.compile(
    r"^\s*(?:on|le|am|el|il|em|op|den|dne|w dniu)\b.{0,400}?\b(?:wrote|a écrit|a ecrit|schrieb|escribió|escribio"
    r"|ha scritto|scrisse|escreveu|schreef|geschreven|skrev|napisał|napsal|kirjoitti)\b.{0,300}?:\s*$"
    r"|^.{0,300}\b(?:wrote|a écrit|schrieb|escribió|ha scritto|escreveu|schreef)\s*:\s*$"
    # Any language: a line naming a date or time and an address, ending with a colon ("2026-12-07 10:14 GMT+01:00
    # Sam <sam@x.com>:", "Sam <sam@x.com> schrieb am Mo., 7. Dez. 2026, 10:14:").
    r"|^(?=[^\n]{0,300}(?:\b(?:19|20)\d\d\b|\b\d{1,2}:\d\d\b))(?=[^\n]{0,300}@)[^\n]{10,300}:\s*$",
    re.IGNORECASE | re.DOTALL,
)
ATTRIBUTION_START_RE = re.compile(r"^\s*(?:on|le|am|el|il|em|op|den|dne|w dniu)\s", re.IGNORECASE)
SEPARATOR_RE = re.compile(
    r"^\s*(?:-{2,}|_{2,}|={2,})?\s*(?:original message|original-nachricht|ursprüngliche nachricht|originalnachricht"
    r"|message d'origine|message original|mensaje original|messaggio originale|mensagem original"
    r"|oorspronkelijk bericht|origineel bericht|forwarded message|weitergeleitete nachricht|message transféré"
    r"|mensaje reenviado|messaggio inoltrato|mensagem encaminhada|doorgestuurd bericht)\s*(?:-{2,}|_{2,}|={2,})?\s*$"
    r"|^\s*begin forwarded message:\s*$|^\s*_{20,}\s*$",
    re.IGNORECASE,
)
HEADER_BLOCK_FROM_RE = re.compile(r"^\s*\*?(?:from|von|de|da|van|från|fra|od)\s*:\*?\s*\S", re.IGNORECASE)
HEADER_BLOCK_NEXT_RE = re.compile(
    r"^\s*\*?(?:sent|date|gesendet|datum|envoyé|(?:enviado|enviada)(?: el| em)?|fecha|inviato|data|verzonden"
    r"|verstuurd|to|an|à|para|a|aan|subject|betreff|objet|asunto|oggetto|assunto|onderwerp)\s*:\*?",
    re.IGNORECASE,
)

# ----- Return dates --------------------------------------------------------------------------------------------------

# Month names and abbreviations, January to December, separated by "|" (variants of one month by spaces).
# "ago", "set" and "out" are left out: they are English words too ("a week ago", "out 12-15 Jan").
MONTHS = {
    "en": "january jan | february feb | march mar | april apr | may | june jun | july jul | august aug"
    " | september sept sep | october oct | november nov | december dec",
    "de": "januar jänner jän | februar feber | märz mär maerz | april | mai | juni | juli | august | september"
    " | oktober okt | november | dezember dez",
    "fr": "janvier janv | février fevrier févr fevr fév | mars | avril avr | mai | juin | juillet juil | août aout"
    " | septembre | octobre | novembre | décembre decembre déc",
    "es": "enero ene | febrero | marzo | abril abr | mayo | junio | julio | agosto | septiembre setiembre | octubre"
    " | noviembre | diciembre dic",
    "it": "gennaio genn gen | febbraio febbr | marzo | aprile | maggio mag | giugno giu | luglio lug | agosto"
    " | settembre sett | ottobre ott | novembre | dicembre",
    "pt": "janeiro | fevereiro fev | março marco | abril | maio | junho | julho | agosto | setembro | outubro"
    " | novembro | dezembro",
    "nl": "januari | februari | maart mrt | april | mei | juni | juli | augustus | september | oktober | november"
    " | december",
}
# "until X": X is the last day away, so the person is back the day after.
UNTIL_CUES = {
    "en": r"until|till|'til|through|thru|up to and including|(?:out|away|off|absent) (?:to|till)",
    "de": r"bis (?:einschließlich|einschl\.|inklusive|inkl\.|und mit|zum|zu)|bis",
    "fr": r"jusqu['’](?:au|à|a)(?: et y compris)?",
    "es": r"hasta(?: el)?",
    "it": r"fino al?|fino all['’]|sino al?",
    "pt": r"até(?: ao| o| dia| a)?",
    "nl": r"tot en met|t/m|tot",
    "after": r"after|nach dem|après le|después del|dopo il|após|depois de",
}
# Words that make a range end ("20 Dec to 11 Jan", "du 20 au 4", "del 20 al 11"): only right before the date.
RANGE_END_CUES = r"to|au|al|a|ao|tot|and|und|et|y|e|en|[-–—]"
# "back on X": X is the first day back.
BACK_CUES = {
    "en": r"back|return(?:s|ing)?|resum(?:e|ing)|available|reachable|in the office|(?:won't|will not|not)(?: be)?"
    r" (?:back|in(?: the office)?|available|returning|return)[^.\n]{0,30}until",
    "de": r"zurück|wieder|erreichbar|rückkehr",
    "fr": r"de retour|retour|à nouveau|rentre|reprendrai|disponible",
    "es": r"de vuelta|vuelta|regreso|regresaré|vuelvo|volveré|reincorpor\w*|disponible",
    "it": r"di ritorno|ritorno|rientro|rientrerò|tornerò|torno|di nuovo|disponibile",
    "pt": r"volto|voltarei|retorno|retornarei|regresso|regressarei|de volta|disponível",
    "nl": r"terug|weer|aanwezig",
}
# "from X" is the start of the absence unless a return word follows the date ("ab dem 12.01. wieder erreichbar").
FROM_CUES = r"from|ab(?: dem)?|à partir du|dès le|a partir del?|desde el|dal|a partire dal|vanaf|per|a partir de"
RETURN_WORD_AFTER_RE = re.compile(
    r"^[^.\n]{0,50}?\b(?:wieder|back|again|zurück|de retour|terug|weer|di nuovo|di ritorno|de vuelta|de regreso"
    r"|nuevamente|novamente|de volta|available|erreichbar|disponible|disponibile|disponível|bereikbaar)\b",
    re.IGNORECASE,
)
WEEKDAY_FILLER = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thurs|fri|sat|sun"
    r"|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|vendredi|samedi"
    r"|dimanche|lunes|martes|miércoles|jueves|viernes|sábado|domingo|lunedì|martedì|mercoledì|giovedì|venerdì"
    r"|sabato|segunda(?:-feira)?|terça(?:-feira)?|quarta(?:-feira)?|quinta(?:-feira)?|sexta(?:-feira)?"
    r"|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag)"
)


def _month_table():
    """{name or abbreviation: month number}, every language merged (they never disagree on a number)."""
    table = {}
    for names in MONTHS.values():
        for number, words in enumerate(names.split("|"), start=1):
            for word in words.split():
                table[word] = number
    return table


MONTH_NUMBERS = _month_table()
_MONTH_ALTERNATION = "|".join(sorted((re.escape(name) for name in MONTH_NUMBERS), key=len, reverse=True))
DATE_RE = re.compile(
    # ISO 2027-01-12
    r"(?<!\d)(?P<iso_y>20\d\d)[-/.](?P<iso_m>[01]?\d)[-/.](?P<iso_d>[0-3]?\d)(?!\d)"
    # 12 January 2027, 12th of January, 12. Januar, 1er janvier, 12 de enero de 2027, 12-Jan-2027
    rf"|(?<![\d.])(?P<dm_d>[0-3]?\d)(?:st|nd|rd|th|er|e|º|°|\.)?(?:\s*(?:of|de|del|di))?[\s\-]*"
    rf"(?P<dm_m>{_MONTH_ALTERNATION})\b\.?(?:,?[\s\-]*(?:de\s+|del\s+)?(?P<dm_y>20\d\d)(?!\d))?"
    # January 12th, 2027 / Jan. 12
    rf"|\b(?P<md_m>{_MONTH_ALTERNATION})\b\.?\s+(?:the\s+)?(?P<md_d>[0-3]?\d)(?:st|nd|rd|th)?\b(?!:)"
    r"(?:,?\s*(?P<md_y>20\d\d)(?!\d))?"
    # 12.01. / 12.01.2027 (day first: German, Dutch...)
    r"|(?<![\d./])(?P<dot_d>[0-3]?\d)\.(?P<dot_m>[01]?\d)\.(?:(?P<dot_y>(?:20)?\d\d)(?!\d|\.\d))?"
    # 01/12/2027, 12/01, 12-01-2027 (day or month first)
    r"|(?<![\d./-])(?!(?:24/7|24/24|7/24)(?![\d/]))(?P<num_a>[0-3]?\d)(?P<sep>[/-])(?P<num_b>[0-3]?\d)(?:(?P=sep)(?P<num_y>(?:20)?\d\d))?"
    r"(?![\d/-]|\.\d)",
    re.IGNORECASE,
)


def _cue_re(patterns):
    joined = "|".join(f"(?:{pattern})" for pattern in (patterns.values() if isinstance(patterns, dict) else patterns))
    return re.compile(rf"(?<!\w)(?:{joined})(?!\w)", re.IGNORECASE)


UNTIL_CUE_RE = _cue_re(UNTIL_CUES)
BACK_CUE_RE = _cue_re(BACK_CUES)
FROM_CUE_RE = _cue_re([FROM_CUES])
RANGE_END_CUE_RE = re.compile(rf"(?:^|\s)(?:{RANGE_END_CUES})\s*(?:{WEEKDAY_FILLER}\b[.,]?\s*)?$", re.IGNORECASE)
# Between a cue and its date only a few words stand: "until Monday, the", "bis einschließlich Freitag, den".
CUE_REACH = 40


def _compile_table(patterns):
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns.values()), re.IGNORECASE)


BOUNCE_SUBJECT_RE = _compile_table(BOUNCE_SUBJECT_PATTERNS)
BOUNCE_EVIDENCE_RE = _compile_table(BOUNCE_EVIDENCE_PATTERNS)
AUTO_SUBJECT_RE = _compile_table(AUTO_SUBJECT_PATTERNS)
AUTO_SUBJECT_PREFIX_RE = re.compile(AUTO_SUBJECT_PREFIX_PATTERN, re.IGNORECASE)
AUTO_SUBJECT_START_RE = re.compile(rf"^\W*(?:{AUTO_SUBJECT_START_PATTERNS})", re.IGNORECASE)
AUTO_BODY_CERTAIN_RE = _compile_table(AUTO_BODY_CERTAIN_PATTERNS)
AUTO_BODY_HINT_RE = _compile_table(AUTO_BODY_HINT_PATTERNS)
AUTO_BODY_ABSENCE_RE = _compile_table(AUTO_BODY_ABSENCE_PATTERNS)
BOUNCE_RECIPIENT_RES = tuple(re.compile(pattern, re.IGNORECASE | re.MULTILINE) for pattern in BOUNCE_RECIPIENT_PATTERNS)
# Reply and forward prefixes in the 7 languages (and a few more): what follows them is someone else's subject.
REPLY_PREFIX_RE = re.compile(
    r"(?:^|[\s\[(:])(?:re|aw|antw|antwort|sv|vs|r|rif|ris|res|fw|fwd|wg|tr|rv|enc|doorst|i|odp)\s*(?:\[\d+\])?\s*:",
    re.IGNORECASE,
)
