"""Tests of lib/csv_import.py: the CSV file of the "enroll contacts from a CSV file" wizard.

Run with: cd lib/tests && PYTHONPATH=.. python -m pytest -q -p no:cacheprovider -p no:odoo --rootdir=. --confcutdir=.
test_csv_import.py

Every file is built in memory; ``csv_bytes`` joins lines with a chosen line end and encodes them.
"""

import codecs
import dataclasses
import re
import time

import pytest
from csv_import import (
    MAX_BYTES,
    MAX_RECORD_LINES,
    CsvImportError,
    CsvParse,
    CsvProblem,
    CsvRow,
    parse_contacts_csv,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def csv_bytes(*lines, encoding="utf-8", newline="\n"):
    return newline.join(lines).encode(encoding) + newline.encode(encoding)


def emails(result):
    return [row.email for row in result.rows]


def reasons(result):
    return [(problem.line, problem.reason) for problem in result.problems]


# --- Encodings ------------------------------------------------------------------------------------------------------


def test_utf8_without_bom():
    result = parse_contacts_csv(csv_bytes("Email,Name,Company", "zoe@example.com,Zoé Müller,Café Straße"))
    assert result.encoding == "utf-8"
    assert result.rows == (CsvRow(2, "zoe@example.com", "Zoé Müller", "Café Straße"),)
    assert result.problems == ()


def test_utf8_with_bom_is_read_and_the_bom_is_not_part_of_the_header():
    result = parse_contacts_csv(codecs.BOM_UTF8 + csv_bytes("Email,Name", "zoe@example.com,Zoé"))
    assert result.encoding == "utf-8-sig"
    assert result.columns == {"email": "Email", "name": "Name"}
    assert result.rows == (CsvRow(2, "zoe@example.com", "Zoé", ""),)


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("Zoé Groß", "latin-1"),  # a Latin-1 file that Windows-1252 reads the same
        ("Zoé Groß – 5 €", "cp1252"),  # the en dash and the euro sign exist only in Windows-1252
    ],
)
def test_latin_1_and_windows_1252_names(name, encoding):
    result = parse_contacts_csv(csv_bytes("Email;Name", f"zoe@example.com;{name}", encoding=encoding))
    assert result.encoding == "cp1252"
    assert result.rows[0].name == name


def test_bytes_that_windows_1252_lacks_are_read_as_latin_1():
    data = csv_bytes("Email,Name", "zoe@example.com,Zoé", encoding="latin-1").replace(b"Zo", b"\x81Zo")
    result = parse_contacts_csv(data)
    assert result.encoding == "latin-1"
    assert result.rows[0].name == "\x81Zoé"


def test_utf16_with_bom():
    data = "Email\tName\r\nzoe@example.com\tZoé\r\n".encode("utf-16")
    result = parse_contacts_csv(data)
    assert (result.encoding, result.delimiter) == ("utf-16", "\t")
    assert result.rows == (CsvRow(2, "zoe@example.com", "Zoé", ""),)


def test_a_utf8_bom_on_a_windows_1252_file_leaves_no_remnant_in_the_header():
    data = codecs.BOM_UTF8 + csv_bytes("Email,Name", "zoe@example.com,Zoé", encoding="cp1252")
    result = parse_contacts_csv(data)
    assert result.encoding == "cp1252"
    assert result.columns["email"] == "Email"
    assert result.rows[0].name == "Zoé"


# --- Delimiters and quoting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters(delimiter):
    data = csv_bytes(delimiter.join(["Name", "Email", "Company"]), delimiter.join(["Ann", "ann@example.com", "Acme"]))
    result = parse_contacts_csv(data)
    assert result.delimiter == delimiter
    assert result.rows == (CsvRow(2, "ann@example.com", "Ann", "Acme"),)


def test_semicolon_file_with_commas_in_unquoted_values():
    result = parse_contacts_csv(csv_bytes("Name;Email;Company", "Doe, John;john@example.com;Acme, Inc."))
    assert result.delimiter == ";"
    assert result.rows == (CsvRow(2, "john@example.com", "Doe, John", "Acme, Inc."),)


def test_delimiters_inside_quotes_in_the_header_are_not_counted():
    result = parse_contacts_csv(csv_bytes('Name;"E-mail, work"', '"Doe, John";john@example.com'))
    assert result.delimiter == ";"
    assert result.columns == {"email": "E-mail, work", "name": "Name"}
    assert result.rows[0].name == "Doe, John"


def test_excel_sep_line_names_the_delimiter_and_is_skipped():
    # Without the sep line, the header's two commas would make "," the delimiter.
    result = parse_contacts_csv(csv_bytes("sep=;", "Email;Notes, remarks, comments", "ann@example.com;a, b, c"))
    assert result.delimiter == ";"
    assert result.rows == (CsvRow(3, "ann@example.com", "", ""),)


def test_quoted_fields_with_delimiters_and_doubled_quotes():
    data = csv_bytes("Email,Name,Company", 'ann@example.com, "Ann ""Nan"" Lee", "Acme, Inc."')
    result = parse_contacts_csv(data)
    assert result.rows == (CsvRow(2, "ann@example.com", 'Ann "Nan" Lee', "Acme, Inc."),)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_breaks_inside_quotes_keep_line_numbers_right(newline):
    data = csv_bytes(
        "Email,Name,Company,Address",
        'ann@example.com,Ann,Acme,"1 Main Street',  # line 2: the address runs over lines 2-4
        "Springfield",
        'USA"',
        'bob@example.com,"Bob',  # line 5: a name over two lines
        'Smith",Beta',
        "bad-email,Carl,Gamma",  # line 7
        "dan@example.com,Dan,Delta",
        newline=newline,
    )
    result = parse_contacts_csv(data)
    assert [(row.line, row.email, row.name) for row in result.rows] == [
        (2, "ann@example.com", "Ann"),
        (5, "bob@example.com", "Bob Smith"),
        (8, "dan@example.com", "Dan"),
    ]
    assert reasons(result) == [(7, "Email: 'bad-email' is not a valid email address.")]
    assert result.problems[0].raw == "bad-email,Carl,Gamma"


def test_line_numbers_count_blank_lines_and_a_header_that_is_not_on_line_1():
    result = parse_contacts_csv(csv_bytes("", "  ", "Email", "", "ann@example.com", ",,", "bob@example.com"))
    assert [(row.line, row.email) for row in result.rows] == [(5, "ann@example.com"), (7, "bob@example.com")]
    assert result.problems == ()


# --- Headers --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "columns", "expected"),
    [
        (
            "Courriel;Prénom;Nom;Société",
            "zoe@example.fr;Zoé;Durand;Société Générale",
            {"email": "Courriel", "name": "Prénom + Nom", "company": "Société"},
            ("zoe@example.fr", "Zoé Durand", "Société Générale"),
        ),
        (
            "Courriel,Nom,Entreprise",
            "zoe@example.fr,Zoé Durand,Dupont SA",
            {"email": "Courriel", "name": "Nom", "company": "Entreprise"},
            ("zoe@example.fr", "Zoé Durand", "Dupont SA"),
        ),
        (
            "E-Mail-Adresse;Vorname;Nachname;Firma",
            "jens@example.de;Jens;Groß;Müller GmbH",
            {"email": "E-Mail-Adresse", "name": "Vorname + Nachname", "company": "Firma"},
            ("jens@example.de", "Jens Groß", "Müller GmbH"),
        ),
        (
            "Correo electrónico,Nombre,Apellidos,Empresa",
            "ana@example.es,Ana,García López,Compañía SL",
            {"email": "Correo electrónico", "name": "Nombre + Apellidos", "company": "Empresa"},
            ("ana@example.es", "Ana García López", "Compañía SL"),
        ),
        (
            "CORREO , NOMBRE , EMPRESA",
            "ana@example.es,Ana García,Compañía SL",
            {"email": "CORREO", "name": "NOMBRE", "company": "EMPRESA"},
            ("ana@example.es", "Ana García", "Compañía SL"),
        ),
        (
            "e_mail,Full Name,Organisation",
            "ann@example.com,Ann Lee,Acme",
            {"email": "e_mail", "name": "Full Name", "company": "Organisation"},
            ("ann@example.com", "Ann Lee", "Acme"),
        ),
        (
            "Mail,Contact Name,Account",
            "ann@example.com,Ann Lee,Acme",
            {"email": "Mail", "name": "Contact Name", "company": "Account"},
            ("ann@example.com", "Ann Lee", "Acme"),
        ),
        (
            "Phone,Work Email",
            "555,ann@example.com",
            {"email": "Work Email"},
            ("ann@example.com", "", ""),
        ),
    ],
)
def test_header_synonyms(header, row, columns, expected):
    result = parse_contacts_csv(csv_bytes(header, row))
    assert result.columns == columns
    assert [(r.email, r.name, r.company) for r in result.rows] == [expected]


def test_first_and_last_name_are_combined_and_either_alone_is_used():
    data = csv_bytes(
        "firstname,lastname,email",
        "Ada,Lovelace,ada@example.com",
        "Ada,,ada2@example.com",
        ",Lovelace,ada3@example.com",
        ",,ada4@example.com",
    )
    result = parse_contacts_csv(data)
    assert result.columns == {"email": "email", "name": "firstname + lastname"}
    assert [row.name for row in result.rows] == ["Ada Lovelace", "Ada", "Lovelace", ""]


def test_first_and_last_name_fall_back_to_a_full_name_column():
    data = csv_bytes("First Name,Last Name,Name,Email", "Ada,Lovelace,X,a@example.com", ",,Ada L.,b@example.com")
    assert [row.name for row in parse_contacts_csv(data).rows] == ["Ada Lovelace", "Ada L."]


def test_only_a_first_name_column():
    result = parse_contacts_csv(csv_bytes("Email,Prénom", "zoe@example.fr,Zoé"))
    assert result.columns == {"email": "Email", "name": "Prénom"}
    assert result.rows[0].name == "Zoé"


def test_no_email_column_lists_the_columns_found():
    with pytest.raises(CsvImportError, match="no email column") as info:
        parse_contacts_csv(csv_bytes("Name,Phone,Company", "Ann,555,Acme"))
    assert "'Name', 'Phone', 'Company'" in str(info.value)


def test_a_file_without_header_line_is_told_to_add_one():
    with pytest.raises(CsvImportError, match="not column names"):
        parse_contacts_csv(csv_bytes("ann@example.com,Ann", "bob@example.com,Bob"))


def test_a_repeated_header_line_is_skipped():
    result = parse_contacts_csv(csv_bytes("Email,Name", "ann@example.com,Ann", "E-mail,Name", "bob@example.com,Bob"))
    assert emails(result) == ["ann@example.com", "bob@example.com"]
    assert result.problems == ()


# --- Records --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "email", "name"),
    [
        ("Ann Lee <Ann.Lee@Example.COM>", "ann.lee@example.com", "Ann Lee"),
        ('"Lee, Ann" <ann@example.com>', "ann@example.com", "Lee, Ann"),
        ("<ann@example.com>", "ann@example.com", ""),
        ("  mailto:ANN@example.com ", "ann@example.com", ""),
        ("\u200bann@example.com\xa0", "ann@example.com", ""),
    ],
)
def test_email_written_with_a_display_name(cell, email, name):
    quoted = '"' + cell.replace('"', '""') + '"'
    result = parse_contacts_csv(csv_bytes("Email,Name", f"{quoted},"))
    assert (result.rows[0].email, result.rows[0].name) == (email, name)


def test_the_name_column_wins_over_the_display_name():
    result = parse_contacts_csv(csv_bytes("Email,Name", "Nan <ann@example.com>,Ann Lee"))
    assert result.rows[0].name == "Ann Lee"


@pytest.mark.parametrize(
    "email",
    ["a@b.co", "first.last+tag@sub.example.org", "o'neil@example.ie", "x@münchen.de", "x@example.xn--p1ai"],
)
def test_valid_emails(email):
    assert emails(parse_contacts_csv(csv_bytes("Email", email))) == [email]


@pytest.mark.parametrize(
    "email",
    [
        "bob@",
        "@example.com",
        "bob",
        "bob@example",
        "bob@example.c",
        "bob@@example.com",
        "bob@ex@ample.com",
        "bob smith@example.com",
        "bob@exa mple.com",
        ".bob@example.com",
        "bob.@example.com",
        "bo..b@example.com",
        "bob@example..com",
        "bob@-example.com",
        "bob@example.com1",
        "bob@exam_ple.com",
        "a@x.com; b@y.com",
        "x" * 65 + "@example.com",
    ],
)
def test_invalid_emails_are_problems(email):
    result = parse_contacts_csv(csv_bytes("Email,Name", f'"{email}",Bob'))
    assert result.rows == ()
    assert reasons(result) == [(2, f"Email: '{email}' is not a valid email address.")]


def test_invalid_empty_and_duplicate_emails_are_reported_and_reading_goes_on():
    data = csv_bytes(
        "Email,Name,Company",
        "ann@example.com,Ann,Acme",  # 2
        "bob@,Bob,Beta",  # 3
        ",Carl,Gamma",  # 4
        "ANN@example.com ,Ann again,Acme",  # 5
        "Dan <>,Dan,Delta",  # 6
        "eve@example.com,Eve,Epsilon",  # 7
    )
    result = parse_contacts_csv(data)
    assert emails(result) == ["ann@example.com", "eve@example.com"]
    assert reasons(result) == [
        (3, "Email: 'bob@' is not a valid email address."),
        (4, "Email: the email is empty."),
        (5, "Email: ann@example.com already appears on line 2."),
        (6, "Email: the email is empty."),
    ]
    assert [problem.raw for problem in result.problems] == [
        "bob@,Bob,Beta",
        ",Carl,Gamma",
        "ANN@example.com ,Ann again,Acme",
        "Dan <>,Dan,Delta",
    ]


def test_more_fields_than_the_header_are_ignored_and_missing_ones_are_empty():
    result = parse_contacts_csv(csv_bytes("Name,Email,Company", "Ann,ann@example.com,Acme,extra,more", "Bob,bob@x.io"))
    assert result.rows == (CsvRow(2, "ann@example.com", "Ann", "Acme"), CsvRow(3, "bob@x.io", "Bob", ""))
    assert reasons(parse_contacts_csv(csv_bytes("Name,Company,Email", "Ann,Acme"))) == [
        (2, "Email: the email is empty.")
    ]


def test_names_and_companies_are_stripped_and_their_white_space_collapsed():
    result = parse_contacts_csv(csv_bytes("Email,Name,Company", ' ann@example.com ,"  Ann \n Lee ",\t Acme  Inc '))
    assert result.rows == (CsvRow(2, "ann@example.com", "Ann Lee", "Acme Inc"),)


def test_raw_is_cut_to_200_characters():
    result = parse_contacts_csv(csv_bytes("Email,Name", "bad," + "x" * 500))
    assert len(result.problems[0].raw) == 200
    assert result.problems[0].raw.startswith("bad,xxx")


def test_an_unclosed_quote_costs_its_own_line_only():
    data = csv_bytes(
        "Email,Name,Company",
        '"ann@example.com,Ann,Acme',  # 2: the quote is never closed
        "bob@example.com,Bob,Beta",
        "carl@example.com,Carl,Gamma",
    )
    result = parse_contacts_csv(data)
    assert [(row.line, row.email) for row in result.rows] == [(3, "bob@example.com"), (4, "carl@example.com")]
    assert [(problem.line, problem.raw) for problem in result.problems] == [(2, '"ann@example.com,Ann,Acme')]
    assert result.problems[0].reason.startswith('Email: the quote (") that opens the value on this line')


def test_an_unclosed_quote_in_another_column_is_caught_by_the_contacts_it_swallows():
    data = csv_bytes(
        "Email,Name,Notes",
        'ann@example.com,Ann,"met at the fair',  # 2
        "bob@example.com,Bob,",
        'carl@example.com,Carl,"a real note',  # 4: a genuine multi-line note that mentions an address
        'write to help@example.com"',
        "dan@example.com,Dan,",  # 6
    )
    result = parse_contacts_csv(data)
    assert [(row.line, row.email) for row in result.rows] == [
        (3, "bob@example.com"),
        (4, "carl@example.com"),
        (6, "dan@example.com"),
    ]
    assert [(problem.line, problem.reason[:6]) for problem in result.problems] == [(2, "Notes:")]


def test_an_unclosed_quote_that_runs_too_long_is_cut_off():
    lines = ["Email,Name,Notes", 'ann@example.com,Ann,"never closed'] + ["more text"] * (MAX_RECORD_LINES + 10)
    result = parse_contacts_csv(csv_bytes(*lines, "bob@example.com,Bob"))
    assert result.problems[0].line == 2
    assert "never closed" in result.problems[0].reason
    assert emails(result) == ["bob@example.com"]
    assert all(problem.reason.startswith("Email: 'more text'") for problem in result.problems[1:])
    assert result.rows[0].line == len(lines) + 1


def test_an_overlong_line_is_a_problem():
    result = parse_contacts_csv(csv_bytes("Email,Notes", "ann@example.com," + "x" * 200_000, "bob@example.com,"))
    assert reasons(result)[0][0] == 2
    assert "too long" in reasons(result)[0][1]
    assert [(row.line, row.email) for row in result.rows] == [(3, "bob@example.com")]


def test_a_header_with_an_unclosed_quote_is_refused():
    with pytest.raises(CsvImportError, match="header line"):
        parse_contacts_csv(csv_bytes('Email,"Name', *["x"] * (MAX_RECORD_LINES + 1)))


def test_results_are_frozen_dataclasses():
    result = parse_contacts_csv(csv_bytes("Email", "ann@example.com", "bad"))
    assert isinstance(result, CsvParse)
    assert isinstance(result.problems[0], CsvProblem)
    for value, field in ((result, "rows"), (result.rows[0], "email"), (result.problems[0], "line")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


# --- Volume ---------------------------------------------------------------------------------------------------------


def test_1000_lines_with_50_bad_ones():
    lines, bad_lines = ["Email;Name;Company"], []
    for index in range(1000):
        line_no = index + 2
        if index % 20 == 7:
            lines.append(f"person{index}@;Person {index};Company {index}")
            bad_lines.append(line_no)
        else:
            lines.append(f"person{index}@example.com;Person {index};Company {index}")
    result = parse_contacts_csv(csv_bytes(*lines))
    assert (len(result.rows), len(result.problems)) == (950, 50)
    assert [problem.line for problem in result.problems] == bad_lines
    assert result.rows[-1] == CsvRow(1001, "person999@example.com", "Person 999", "Company 999")


def test_10000_lines_parse_quickly():
    lines = ["Email,First Name,Last Name,Company,Notes"]
    lines += [f'p{i}@example.com,First{i},Last{i},"Company {i}, Inc.","note, ""quoted"""' for i in range(10_000)]
    data = csv_bytes(*lines)
    started = time.perf_counter()
    result = parse_contacts_csv(data)
    elapsed = time.perf_counter() - started
    assert len(result.rows) == 10_000
    assert elapsed < 10  # a sanity bound for slow CI machines; it takes well under a second


# --- Unusable files -------------------------------------------------------------------------------------------------


def test_oversize_file_is_refused_with_its_size_and_the_limit():
    data = csv_bytes("Email", "ann@example.com")  # 22 bytes
    with pytest.raises(CsvImportError, match="22 bytes.*limit is 21 bytes"):
        parse_contacts_csv(data, max_bytes=21)
    assert emails(parse_contacts_csv(data, max_bytes=22)) == ["ann@example.com"]
    assert MAX_BYTES == 50 * 1024 * 1024


@pytest.mark.parametrize(
    "data",
    [
        b"Email,Name\nann@example.com,Ann\x00\n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"\xff\xd8\xff\xe0\x00\x10JFIF",
        b"\x1f\x8b\x08\x00",
        "Email\nann@example.com\n".encode("utf-16-le"),  # UTF-16 without a BOM cannot be told from binary
        codecs.BOM_UTF32_LE + "Email\n".encode("utf-32-le"),
    ],
)
def test_binary_files_are_refused(data):
    with pytest.raises(CsvImportError, match="not a CSV text file.*Excel.*CSV"):
        parse_contacts_csv(data)


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b" \r\n\t\n", b",,\n ; \n", b"sep=;\n"])
def test_empty_files_are_refused(data):
    with pytest.raises(CsvImportError, match="empty"):
        parse_contacts_csv(data)


def test_header_only_file_gives_nothing():
    result = parse_contacts_csv(b"Email,Name")
    assert (result.rows, result.problems, result.columns) == ((), (), {"email": "Email", "name": "Name"})


def test_text_is_a_programming_error():
    with pytest.raises(TypeError):
        parse_contacts_csv("Email\nann@example.com\n")


# --- Anything at all ------------------------------------------------------------------------------------------------


def check_invariants(result, data):
    """What holds for any file that parses: unique normalized emails, line numbers inside the file, short raws."""
    seen = set()
    for row in result.rows:
        assert row.email == row.email.strip().lower() and "@" in row.email
        assert row.email not in seen
        seen.add(row.email)
    line_count = len(re.split(r"\r\n|\r|\n", data.decode(result.encoding)))
    for item in result.rows + result.problems:
        assert 1 <= item.line <= line_count
    for problem in result.problems:
        assert problem.reason and len(problem.raw) <= 200
    assert [row.line for row in result.rows] == sorted(row.line for row in result.rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_raise_nothing_but_csv_import_error(data):
    try:
        result = parse_contacts_csv(data)
    except CsvImportError:
        return
    check_invariants(result, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*'ab@.,;\t"\r\n <>é', "x.com", "Email", "Name"]), max_size=150).map("".join),
    st.sampled_from(["utf-8", "cp1252", "utf-16"]),
)
def test_random_csv_like_text_raises_nothing_but_csv_import_error(text, encoding):
    data = ("Email,Name\n" + text).encode(encoding)
    try:
        result = parse_contacts_csv(data)
    except CsvImportError:
        return
    check_invariants(result, data)
    expected = {"utf-8": "utf-8", "utf-16": "utf-16", "cp1252": "cp1252" if "é" in text else "utf-8"}
    assert result.encoding == expected[encoding]
