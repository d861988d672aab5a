"""Read the CSV file of the "enroll contacts from a CSV file" wizard into contacts and per-line problems.

Plain Python (standard library only, no Odoo import) so it can be unit-tested on raw bytes. The wizard passes the
uploaded file's bytes to :func:`parse_contacts_csv` and gets back a :class:`CsvParse`: the contacts it can match or
create and enroll (:class:`CsvRow`) and, for every record it cannot, a :class:`CsvProblem` with the line number, a
reason naming the column and the fix, and the record's text. A bad record never stops the parse and never raises;
only a file that is unusable as a whole raises :class:`CsvImportError` (a ``ValueError``) whose message says why and
how to fix it.

Rules
-----
File
    Refused when larger than ``max_bytes`` (:data:`MAX_BYTES`, 50 MB, by default), when empty (or only white space
    and delimiters, as Excel saves an empty sheet), and when it is binary:
    NUL bytes in its first 8 KB, or the signature of a PDF, ZIP (an Excel .xlsx), OLE2 (an old Excel .xls), PNG,
    JPEG or GZIP file; the message then says to save an Excel workbook as CSV.
Encoding
    The first that decodes the whole file: UTF-16 with a BOM (``"utf-16"``), UTF-8 with a BOM (``"utf-8-sig"``),
    UTF-8 (``"utf-8"``), Windows-1252 (``"cp1252"``), Latin-1 (``"latin-1"``, which decodes anything).
Delimiter
    The character of an Excel ``sep=;`` first line (that line is then skipped); otherwise whichever of ``,``, ``;``
    and tab the header line holds most often outside quotes (``,`` on a tie or when it holds none).
Records
    Read by the csv module: quoted fields may hold delimiters, doubled quotes and line breaks; spaces after a
    delimiter are ignored. ``line`` is the physical line where a record starts (``\\r\\n``, ``\\n`` and ``\\r`` each
    end a line), so the header of a file that starts with it is line 1, and a record after a quoted field that spans
    three lines is numbered three lines further on.
Header
    The first record with a non-blank field. Names are compared ignoring case, accents, punctuation and BOM
    remnants, in English, French, German and Spanish (``_EMAIL_HEADERS``, ``_NAME_HEADERS``, ``_FIRST_NAME_HEADERS``,
    ``_LAST_NAME_HEADERS``, ``_COMPANY_HEADERS``); the first column that matches wins. The email column may also be
    any column whose name contains "email" ("Work email"). No email column: :class:`CsvImportError` listing the
    columns found. The name is first name + last name when the file has both columns ("Prénom"/"Nom",
    "Nombre"/"Apellidos"), else the full-name column, else the one name part present.
Each record
    * fully blank records, and repeats of the header line, are skipped silently;
    * fields beyond the header are ignored, missing trailing fields are empty;
    * the email may be written ``Name <address>`` (or ``mailto:address``): the address is taken, and the display
      name is the contact's name when the name columns are empty. It is stripped and lower-cased, and must look
      like ``local@domain.tld`` (one ``@``, no spaces, a domain with a dot, a top-level domain of 2+ letters);
    * problems: ``Email: the email is empty.``, ``Email: '<value>' is not a valid email address.``,
      ``Email: <email> already appears on line N.`` (the first occurrence is kept);
    * a quote that opens a value and is never closed makes the csv module read the following lines into that
      value. When the swallowed text holds a line break in the email, or a following line that is a contact of its
      own, or exceeds 100 lines or 100,000 characters, the line with the quote is reported and the lines after it
      are read again, so one stray quote costs one contact instead of the rest of the file.
Names and companies are stripped, with runs of white space (line breaks included) turned into one space.
"""

import codecs
import csv
import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple

MAX_BYTES = 50 * 1024 * 1024  # larger files are refused with a clear error

# A record this long is not a contact but an unclosed quote (or not a contacts file); both limits are below the
# csv module's own field limit (131,072 characters) so that our clearer message comes first.
MAX_RECORD_LINES = 100
MAX_RECORD_CHARS = 100_000

_SNIFF_BYTES = 8 * 1024  # how much of the file the NUL-byte test looks at
_RAW_CHARS = 200  # CsvProblem.raw is cut to this length
_VALUE_CHARS = 80  # a reason quotes at most this much of a bad value
_DELIMITERS = (",", ";", "\t")  # in order of preference on a tie

_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook or another Office document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a GZIP archive"),
)

_EMAIL_HEADERS = (
    "email",
    "e-mail",
    "email address",
    "e-mail address",
    "mail",
    "courriel",
    "adresse email",
    "adresse e-mail",
    "adresse électronique",
    "e-mail-adresse",
    "emailadresse",
    "correo",
    "correo electrónico",
    "correo-e",
    "email_from",
)
_NAME_HEADERS = (
    "name",
    "full name",
    "display name",
    "contact",
    "contact name",
    "nom",
    "nom complet",
    "kontakt",
    "ansprechpartner",
    "vollständiger name",
    "nombre",
    "nombre completo",
)
_FIRST_NAME_HEADERS = ("first name", "firstname", "given name", "forename", "prénom", "vorname", "nombre de pila")
_LAST_NAME_HEADERS = (
    "last name",
    "lastname",
    "surname",
    "family name",
    "nom de famille",
    "nachname",
    "familienname",
    "apellido",
    "apellidos",
)
_COMPANY_HEADERS = (
    "company",
    "company name",
    "account",
    "account name",
    "organisation",
    "organization",
    "organisation name",
    "organization name",
    "société",
    "entreprise",
    "firma",
    "firmenname",
    "unternehmen",
    "empresa",
    "compañía",
)
# Full names on their own, but next to a first-name column "Nom" is the family name (French), and next to a
# last-name column "Nombre" is the given name (Spanish).
_NOM, _NOMBRE = "nom", "nombre"

_BLANK_TEXT = re.compile(r'[\s,;"]*')
_LINE_END = re.compile(r"\r\n?|\n")
_SEP_HINT = re.compile(r" *sep=(.) *", re.IGNORECASE)
_EMAIL_WORD = re.compile(r"\b(?:e ?mail|courriel|correo)\b")
_ANGLE_ADDRESS = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>")
_EMAIL = re.compile(
    r"(?!\.)(?!.*\.\.)[^\s@\"(),:;<>\[\\\]]{1,64}(?<!\.)"  # local part: no dot at either end, none doubled
    r"@(?:[^\W_](?:[^\W_]|-)*(?<!-)\.)+"  # domain labels: letters, digits, inner hyphens (IDN letters too)
    r"(?:[^\W\d_]{2,}|xn--(?:[^\W_]|-)+)"  # top-level domain: 2+ letters, or punycode
)
# Excel and web forms leave zero-width characters and BOMs around values; they are never part of one.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_BOM_REMNANTS = ("\ufeff", "ï»¿")  # a UTF-8 BOM, as text or as read in Windows-1252


class CsvImportError(ValueError):
    """The whole file is unusable (too large, binary, not text, no email column): message says why and how to fix."""


@dataclass(frozen=True, slots=True)  # slots: a 50 MB file makes a million of them
class CsvRow:
    line: int  # 1-based physical line number in the file where the record starts (header is line 1)
    email: str  # normalized: stripped, lower-cased; the bare address even if given as "Name <a@b.c>"
    name: str  # stripped, may be ""
    company: str  # stripped, may be ""


@dataclass(frozen=True, slots=True)
class CsvProblem:
    line: int
    reason: str  # short English sentence naming the column and the fix
    raw: str  # the offending record as text (truncated to 200 chars)


@dataclass(frozen=True)
class CsvParse:
    rows: tuple[CsvRow, ...]
    problems: tuple[CsvProblem, ...]
    encoding: str  # "utf-16", "utf-8-sig", "utf-8", "cp1252" or "latin-1"
    delimiter: str  # "," ";" or "\t"
    columns: dict  # {"email": header name used, "name": ..., "company": ...} (missing optional columns absent)


def parse_contacts_csv(data: bytes, max_bytes: int = MAX_BYTES) -> CsvParse:
    """Parse the bytes of an uploaded CSV file; raise CsvImportError only when the file as a whole is unusable."""
    data = _as_bytes(data)
    _check_size(data, max_bytes)
    _check_signature(data)
    text, encoding = _decode(data)
    if _BLANK_TEXT.fullmatch(text):  # nothing but white space and delimiters, as Excel saves an empty sheet
        raise CsvImportError("The file is empty: it holds no header line and no contacts.")
    delimiter, skip = _sniff_layout(text)
    lines = _Lines(text, skip)
    records = _records(lines, delimiter)
    columns = _map_columns(_read_header(records).fields)
    rows, problems = _collect(records, lines, columns, delimiter)
    return CsvParse(tuple(rows), tuple(problems), encoding, delimiter, columns.names)


# --- The file as a whole --------------------------------------------------------------------------------------------


def _as_bytes(data):
    if isinstance(data, str):
        # A programming error, not a user's file: the wizard must base64-decode its Binary field first.
        raise TypeError("parse_contacts_csv() takes the file's bytes, not text.")
    return bytes(data)


def _check_size(data, max_bytes):
    if len(data) > max_bytes:
        raise CsvImportError(
            f"The file is too large: {_size(len(data))}, and the limit is {_size(max_bytes)}. "
            "Split it into smaller CSV files and import them one after the other."
        )
    if not data:
        raise CsvImportError("The file is empty: it holds no header line and no contacts.")


def _size(count):
    if count < 1024 * 1024:
        return f"{count:,} bytes"
    return f"{count / (1024 * 1024):.1f} MB ({count:,} bytes)"  # the bytes tell 50.0 MB from 50.0 MB + 1 apart


def _check_signature(data):
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            raise _not_text(f"it is {what}")


def _not_text(why):
    return CsvImportError(
        f"The file is not a CSV text file: {why}. An Excel workbook must first be saved as CSV "
        "(File > Save As > CSV UTF-8), and that CSV file imported."
    )


def _decode(data):
    """The file's text and the name of the encoding that decoded it (see the module docstring for the order)."""
    text = _decode_utf16(data)
    if text is not None:
        return text, "utf-16"
    # Checked here and not with the signatures, because UTF-16 text is full of NUL bytes.
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise _not_text("it contains NUL bytes, which text never does")
    first = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    for encoding in (first, "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue  # a BOM on a file that is not UTF-8 after all ends here too; its header remnant is ignored
    return data.decode("latin-1"), "latin-1"


def _decode_utf16(data):
    if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    try:
        text = data.decode("utf-16")
    except UnicodeDecodeError:
        return None
    # UTF-32 LE starts with the UTF-16 LE BOM; read as UTF-16 it is full of NULs, and is refused as binary.
    return None if "\x00" in text[: _SNIFF_BYTES // 2] else text


def _sniff_layout(text):
    """(delimiter, number of physical lines to skip before the header): an Excel "sep=" line names the delimiter."""
    skip = 0
    for number, line in enumerate(_physical_lines(text), start=1):
        content = line.rstrip("\r\n")
        if not content.strip():
            continue
        hint = None if skip else _SEP_HINT.fullmatch(content)
        if hint is None:
            return _count_delimiter(content), skip
        skip = number
        if hint.group(1) in _DELIMITERS:
            return hint.group(1), skip
    return ",", skip


def _count_delimiter(line):
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted  # a doubled quote toggles twice, which is right
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=counts.__getitem__)  # max() keeps the first of equal counts: "," wins ties
    return best if counts[best] else ","


def _physical_lines(text):
    """The lines of text with their line ends, split as csv and the line numbers count them: \\r\\n, \\n, \\r."""
    start = 0
    for match in _LINE_END.finditer(text):
        yield text[start : match.end()]
        start = match.end()
    if start < len(text):
        yield text[start:]


# --- Records -------------------------------------------------------------------------------------------------------


class _RecordTooLong(Exception):
    """Raised by _Lines from inside csv.reader to cut off a record that cannot be a contact."""


class _Lines:
    """The physical lines fed to csv.reader, counted, with the lines of the record being read.

    Counting here (not with reader.line_num) lets the lines of a record swallowed by an unclosed quote be given
    back and read again. Iterating the decoded text line by line also avoids io.StringIO, which would copy a 50 MB
    file into a buffer four times its size.
    """

    def __init__(self, text, skip):
        self._source = _physical_lines(text)
        self._replay = deque()
        # Lines are read again at most once over in total, so even a file of stray quotes costs two parses at most.
        self._replay_budget = len(text)
        self.line_no = len(list(islice(self._source, skip)))  # the number of the last line handed out
        self.record = []
        self._chars = 0

    def __iter__(self):
        return self

    def __next__(self):
        line = self._replay.popleft() if self._replay else next(self._source)
        self.line_no += 1
        self.record.append(line)
        self._chars += len(line)
        if len(self.record) > MAX_RECORD_LINES or self._chars > MAX_RECORD_CHARS:
            raise _RecordTooLong
        return line

    def start_record(self):
        """Start a new record and return its line number (csv.reader never reads beyond the record it returns)."""
        self.record = []
        self._chars = 0
        return self.line_no + 1

    def give_back(self, record):
        """Read again all lines of `record` (just read) but its first, unless the replay budget is spent."""
        rest = record.lines[1:]
        size = sum(map(len, rest))
        if not rest or size > self._replay_budget:
            return
        self._replay_budget -= size
        self._replay.extendleft(reversed(rest))
        self.line_no = record.line


class _Record(NamedTuple):
    line: int
    fields: list | None  # None when csv could not read the record
    lines: list  # its physical lines, line ends included


def _records(lines, delimiter):
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', skipinitialspace=True, strict=False)
    while True:
        start = lines.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except (_RecordTooLong, csv.Error):
            fields = None  # csv.reader starts afresh on the next call, so reading goes on
        yield _Record(start, fields, lines.record)


def _read_header(records):
    for record in records:
        if record.fields is None:
            raise CsvImportError(
                f'The header line (line {record.line}) cannot be read: a quote (") in it is never closed or it is '
                "far too long. Fix the first line of the file: it must hold the column names, e.g. Email, Name."
            )
        if not _is_blank(record.fields):
            return record
    raise CsvImportError("The file is empty: it holds no header line and no contacts.")


def _is_blank(fields):
    return not any(field.strip() for field in fields)


# --- Header --------------------------------------------------------------------------------------------------------


def _header_key(name):
    """A header name reduced for comparison: "E-Mail-Adresse " -> "e mail adresse", "Société" -> "societe"."""
    for remnant in _BOM_REMNANTS:
        name = name.replace(remnant, "")
    name = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(re.findall(r"[^\W_]+", name.casefold()))


def _keys(names):
    return frozenset(map(_header_key, names))


_EMAIL_KEYS = _keys(_EMAIL_HEADERS)
_NAME_KEYS = _keys(_NAME_HEADERS)
_FIRST_NAME_KEYS = _keys(_FIRST_NAME_HEADERS)
_LAST_NAME_KEYS = _keys(_LAST_NAME_HEADERS)
_COMPANY_KEYS = _keys(_COMPANY_HEADERS)


@dataclass(frozen=True)
class _Columns:
    headers: tuple  # the header names as written, cleaned
    email: int
    name_sources: tuple  # tuples of column indexes; the first that gives a non-empty name is used
    company: int | None
    names: dict  # CsvParse.columns


def _map_columns(cells):
    headers = tuple(_clean(_strip_bom(cell)) for cell in cells)
    keys = [_header_key(header) for header in headers]
    email = _find(keys, _EMAIL_KEYS)
    if email is None:  # "Work email", "E-mail (privé)"...: a column that says it holds emails
        email = next((index for index, key in enumerate(keys) if _EMAIL_WORD.search(key)), None)
    if email is None:
        raise _no_email_column(headers)
    full, first, last = _find(keys, _NAME_KEYS), _find(keys, _FIRST_NAME_KEYS), _find(keys, _LAST_NAME_KEYS)
    if full is not None and first is not None and last is None and keys[full] == _NOM:
        full, last = None, full
    if full is not None and last is not None and first is None and keys[full] == _NOMBRE:
        full, first = None, full
    company = _find(keys, _COMPANY_KEYS)
    sources, name_header = _name_sources(headers, full, first, last)
    names = {"email": headers[email], "name": name_header, "company": _header_at(headers, company)}
    return _Columns(headers, email, sources, company, {role: name for role, name in names.items() if name})


def _name_sources(headers, full, first, last):
    """The ways to build a name, best first, and the header to report: first + last, else full, else either part."""
    parts = tuple(index for index in (first, last) if index is not None)
    sources = []
    if len(parts) == 2:
        sources.append(parts)
    if full is not None:
        sources.append((full,))
    if len(parts) == 1:
        sources.append(parts)
    if not sources:
        return (), None
    return tuple(sources), " + ".join(headers[index] for index in sources[0])


def _find(keys, wanted):
    return next((index for index, key in enumerate(keys) if key in wanted), None)


def _header_at(headers, index):
    return None if index is None else headers[index]


def _strip_bom(cell):
    for remnant in _BOM_REMNANTS:
        cell = cell.replace(remnant, "")
    return cell


def _no_email_column(headers):
    found = ", ".join(f"'{_shorten(header, 40)}'" for header in headers[:20] if header)
    if any("@" in header for header in headers):
        return CsvImportError(
            f"The first line of the file holds data ({found}), not column names. Add a first line with the column "
            "names, e.g. Email, Name, Company, and import the file again."
        )
    return CsvImportError(
        f"The file has no email column; its columns are: {found}. Name the column that holds the email addresses "
        "'Email' and import the file again."
    )


# --- Each record ---------------------------------------------------------------------------------------------------


def _collect(records, lines, columns, delimiter):
    rows, problems, first_lines = [], [], {}
    for record in records:
        reason = _runaway_reason(record, columns, delimiter)
        if reason:
            problems.append(_problem(record.line, reason, record.lines[:1]))
            lines.give_back(record)  # the lines it swallowed are records of their own
            continue
        outcome = _to_row(record, columns)
        if outcome is None:
            continue
        if isinstance(outcome, str):
            problems.append(_problem(record.line, outcome, record.lines))
            continue
        first_line = first_lines.setdefault(outcome.email, outcome.line)
        if first_line == outcome.line:
            rows.append(outcome)
        else:
            reason = f"Email: {outcome.email} already appears on line {first_line}."
            problems.append(_problem(record.line, reason, record.lines))
    return rows, problems


def _runaway_reason(record, columns, delimiter):
    """Why the record is an unclosed quote that swallowed the lines after it, or None when it is not one."""
    if record.fields is None:
        if len(record.lines) == 1:
            return f"The line is longer than {MAX_RECORD_CHARS:,} characters, far too long for a contact; remove it."
        return (
            'A quote (") on this line opens a value that is never closed, so the lines after it were read into it; '
            "close the quote or remove it."
        )
    if len(record.lines) < 2:
        return None
    broken = next((index for index, field in enumerate(record.fields) if "\n" in field or "\r" in field), None)
    if broken is None:
        return None
    if broken != columns.email and not any(_looks_like_contact(line, columns, delimiter) for line in record.lines[1:]):
        return None  # a genuine multi-line value (an address, a note)
    column = columns.headers[broken] if broken < len(columns.headers) else f"Column {broken + 1}"
    return (
        f'{column}: the quote (") that opens the value on this line is never closed, so the lines after it were '
        "read into it; close the quote or remove it."
    )


def _looks_like_contact(line, columns, delimiter):
    """Whether a line swallowed by a quoted value would be a contact on its own (a cheap split, quotes ignored)."""
    cells = line.rstrip("\r\n").split(delimiter)
    if columns.email >= len(cells):
        return False
    return _is_email(_split_address(_clean(cells[columns.email]).strip('"'))[1])


def _to_row(record, columns):
    """A CsvRow, a problem reason, or None for a record to skip silently (blank, or the header again)."""
    fields = record.fields
    if _is_blank(fields):
        return None
    cell = _clean(_cell(fields, columns.email))
    display_name, address = _split_address(cell)
    if not address:
        return "Email: the email is empty."
    if not _is_email(address):
        if _header_key(cell) in _EMAIL_KEYS:
            return None  # the header repeated, as in files pasted together
        return f"Email: '{_shorten(cell, _VALUE_CHARS)}' is not a valid email address."
    name = _person_name(fields, columns) or display_name
    return CsvRow(record.line, address.lower(), name, _clean(_cell(fields, columns.company)))


def _cell(fields, index):
    return fields[index] if index is not None and index < len(fields) else ""


def _clean(value):
    if not value.isascii():  # translate() is slow, and the characters it removes are never ASCII
        value = value.translate(_INVISIBLE)
    return " ".join(value.split())


def _person_name(fields, columns):
    for source in columns.name_sources:
        name = " ".join(filter(None, (_clean(_cell(fields, index)) for index in source)))
        if name:
            return name
    return ""


def _split_address(cell):
    """(display name, address) of "Name <address>", "<address>", "mailto:address" or "address"."""
    match = _ANGLE_ADDRESS.fullmatch(cell) if "<" in cell else None
    if match:
        name, address = match.group("name").strip().strip("\"'").strip(), match.group("address").strip()
    else:
        name, address = "", cell
    if address[:7].lower() == "mailto:":
        address = address[7:].strip()
    return name, address


def _is_email(address):
    return len(address) <= 254 and _EMAIL.fullmatch(address) is not None


def _problem(line, reason, lines):
    return CsvProblem(line, reason, _shorten("".join(lines).rstrip("\r\n"), _RAW_CHARS))


def _shorten(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"
