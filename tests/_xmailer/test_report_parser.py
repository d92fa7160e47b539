"""The report parser: both formats, errors, encodings, DST, malformed lines (with a property test)."""

from __future__ import annotations

import html
import json
import re
import tracemalloc
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mail._compat import AirflowFailException
from airflow_provider_mail._xmailer.report_parser import (
    MAX_ROW_SIZE,
    Outcome,
    ParseStats,
    ReportParser,
    classify_status,
)
from airflow_provider_mail.exceptions import (
    MailProviderError,
    XmailerAuthError,
    XmailerBadDate,
    XmailerBadTime,
    XmailerMissingParameters,
    XmailerReportError,
    XmailerReportParseError,
    XmailerUnexpectedResponse,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
TEXT = (
    "1grzDQ-000866-0o;cobranca@envio.example.com.br;comercial@example.com.br;08/02/2019;04:01:45;Entregue com sucesso\n"
    "1grzDc-00086s-9P;cobranca@envio.example.com.br;x@example.com.br;08/02/2019;04:01:21;550 5.1.1 <x@example.com.br>: User unknown; bye\n"
    "1grzDi-00087c-PO;cobranca@envio.example.com.br;y@example.com.br;08/02/2019;04:01:06;451 4.7.1 Greylisted\n"
)


def parse(body: bytes, chunk: int = 10_000, **kwargs):
    parser = ReportParser(SAO_PAULO, **kwargs)
    rows = list(parser.parse(body[i : i + chunk] for i in range(0, len(body), chunk)))
    return rows, parser


def as_json(text: str) -> bytes:
    rows = {}
    for index, line in enumerate(text.strip().splitlines()):
        queue_id, sender, recipient, day, clock, status = line.split(";", 5)
        rows[str(index)] = {
            "msgid": queue_id,
            "email_de": sender,
            "email_para": recipient,
            "data": day,
            "hora": clock,
            "status": status,
        }
    return json.dumps(rows, ensure_ascii=False).encode()


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
def test_text_and_json_parse_to_the_same_rows_whatever_the_chunking(chunk):
    text_rows, text_parser = parse(TEXT.encode(), chunk)
    json_rows, json_parser = parse(as_json(TEXT), chunk)
    assert text_rows == json_rows
    assert (text_parser.detected_format, json_parser.detected_format) == ("text", "json")
    assert [r.outcome for r in text_rows] == [Outcome.DELIVERED, Outcome.FAILED, Outcome.DEFERRED]
    assert text_rows[1].status_text == "550 5.1.1 <x@example.com.br>: User unknown; bye"
    assert (text_rows[1].smtp_code, text_rows[1].enhanced_code) == (550, "5.1.1")
    assert text_rows[0].delivered_at == datetime(2019, 2, 8, 6, 1, 45, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        (b"STATUS: ERRO - FALTAM PARAMETROS", XmailerMissingParameters, "208"),
        (b"STATUS: ERRO - FALHA DE AUTENTICACAO\n", XmailerAuthError, "207"),
        (b"STATUS: ERRO - DATA COM FORMATO INCORRETO - formato deve ser YYYY-MM-DD", XmailerBadDate, "210"),
        (b"STATUS: ERRO - HORA COM FORMATO INCORRETO - formato deve ser HH:MM", XmailerBadTime, "211"),
        (b'{"0": {"status": "ERRO: FALHA DE AUTENTICACAO", "codigo": "207"}}', XmailerAuthError, "207"),
        (b'{"0": {"status": "ERRO: FALTAM PARAMETROS", "codigo": "208"}}', XmailerMissingParameters, "208"),
        (b'{"0": {"status": "ERRO: DATA COM FORMATO INCORRETO", "codigo": "210"}}', XmailerBadDate, "210"),
        (b'{"0": {"status": "ERRO: HORA COM FORMATO INCORRETO", "codigo": "211"}}', XmailerBadTime, "211"),
        (b'{"0": {"status": "ERRO: LIMITE", "codigo": "299"}}', XmailerReportError, "299"),
    ],
)
def test_every_error_answer_raises_its_named_exception(body, error, code):
    with pytest.raises(error) as info:
        parse(body)
    assert info.value.code == code
    assert type(info.value) is error


@pytest.mark.parametrize("body", [b"", b"\n\n", b"{}", b" { } "])
def test_an_empty_window_is_an_empty_report(body):
    rows, parser = parse(body)
    assert rows == [] and parser.stats.malformed == 0


def test_latin1_bodies_are_decoded():
    line = "1grzDQ-000866-0o;cobrança@example.com.br;joão@example.com.br;08/02/2019;04:01:45;Não entregue: caixa cheia\n"
    (row,), _ = parse(line.encode("latin-1"))
    assert row.sender == "cobrança@example.com.br" and row.outcome is Outcome.FAILED
    (json_row,), _ = parse(as_json(line).decode().encode("latin-1"))
    assert json_row == row


def test_a_repeated_hour_at_the_end_of_summer_time_is_resolved_by_the_queue_id():
    # 2019-02-16 23:30 happened twice in São Paulo; an id received at 02:29 UTC means the second one.
    from airflow_provider_mail._xmailer.exim import BASE62

    epoch = int(datetime(2019, 2, 17, 2, 29, tzinfo=timezone.utc).timestamp())
    digits = ""
    while epoch:
        epoch, rest = divmod(epoch, 62)
        digits = BASE62[rest] + digits
    line = f"{digits}-000001-00;a@example.com;b@example.com;16/02/2019;23:30:00;Entregue com sucesso\n"
    (row,), _ = parse(line.encode())
    assert row.delivered_at.astimezone(timezone.utc) == datetime(2019, 2, 17, 2, 30, tzinfo=timezone.utc)


def test_a_truncated_json_body_raises_a_parse_error():
    with pytest.raises(XmailerReportParseError, match="truncated"):
        parse(as_json(TEXT)[:-20])


def test_strict_mode_raises_on_the_first_malformed_line():
    with pytest.raises(XmailerReportParseError) as info:
        parse((TEXT + "garbage line\n").encode(), strict=True)
    assert info.value.line_number == 4


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("Entregue com sucesso", Outcome.DELIVERED),
        ("250 2.0.0 OK", Outcome.DELIVERED),
        ("552 5.2.2 Mailbox full", Outcome.FAILED),
        ("421 4.4.2 timeout", Outcome.DEFERRED),
        ("Mensagem adiada", Outcome.DEFERRED),
        ("Falha na entrega", Outcome.FAILED),
        ("???", Outcome.UNKNOWN),
    ],
)
def test_classify_status(text, outcome):
    assert classify_status(text)[0] is outcome


# -- property: any mix of valid and malformed lines -------------------------------------------------
_field = st.text(
    alphabet=st.characters(blacklist_characters=";\n\r", blacklist_categories=("Cs",)), max_size=12
)
_valid = st.builds(
    lambda qid, user, day, second, status: (
        f"{qid};s@example.com;{user}@example.org;{day:02d}/03/2024;10:00:{second:02d};{status}",
        True,
    ),
    st.from_regex(r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    st.integers(1, 28),
    st.integers(0, 59),
    st.sampled_from(["Entregue com sucesso", "550 5.1.1 no; such user", "451 4.7.1 later", "??"]),
)
_malformed = st.one_of(
    st.lists(_field, min_size=1, max_size=5).map(lambda parts: (";".join(parts), False)),
    st.builds(lambda a, b: (f"{a};s@x.com;r@x.com;99/99/2024;10:00:00;{b}", False), _field, _field),
).filter(
    # Error answers are not lines: "STATUS: ERRO", markup ("<", an HTML page), a PHP error text.
    lambda item: (
        item[0].strip()
        and not item[0].upper().lstrip().startswith(("STATUS", "<"))
        and not re.match(r"(?i)\s*(php )?(catchable )?(fatal|parse) error", item[0])
    )
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_valid, _malformed), max_size=40), st.integers(1, 50))
def test_parser_never_loses_a_valid_row_and_counts_every_malformed_one(lines, chunk):
    body = "\n".join(text for text, _ in lines).encode()
    rows, parser = parse(body, chunk)
    valid = [text for text, is_valid in lines if is_valid]
    assert [f"{r.queue_id};{r.sender};{r.recipient}" for r in rows] == [
        ";".join(t.split(";")[:3]) for t in valid
    ]
    assert parser.stats.malformed == len(lines) - len(valid)
    assert parser.stats.rows == len(valid)


# -- issue 10/8: Exim's failure texts carry the SMTP code --------------------------------------------
EXIM_FAILURES = [
    (
        "SMTP error from remote mail server after RCPT TO:<ana@x.org>: "
        "550 5.1.1 <ana@x.org>: Recipient address rejected",
        550,
        "5.1.1",
        Outcome.FAILED,
    ),
    (
        "SMTP error from remote mail server after MAIL FROM:<s@example.com> SIZE=2048: 552 5.3.4 Too big",
        552,
        "5.3.4",
        Outcome.FAILED,
    ),
    ("SMTP error from remote mail server after end of data: 550-5.7.1 Spam", 550, "5.7.1", Outcome.FAILED),
    (
        "SMTP error from remote mail server after initial connection: 421 4.3.2 Busy",
        421,
        "4.3.2",
        Outcome.DEFERRED,
    ),
    (
        "SMTP error from remote mail server after pipelined RCPT TO:<ana@x.org>: 450 4.2.1 Slow down",
        450,
        "4.2.1",
        Outcome.DEFERRED,
    ),
    ("host mx.x.org [192.0.2.7]: 451 4.7.1 Greylisted, please try again", 451, "4.7.1", Outcome.DEFERRED),
]


@pytest.mark.parametrize(("status", "code", "enhanced", "outcome"), EXIM_FAILURES)
def test_rows_with_exim_failure_texts_carry_the_smtp_and_enhanced_codes(status, code, enhanced, outcome):
    line = f"1grzDc-00086s-9P;s@example.com;ana@x.org;08/02/2019;04:01:21;{status}\n"
    (row,), _ = parse(line.encode())
    (json_row,), _ = parse(as_json(line))
    assert (row.smtp_code, row.enhanced_code, row.outcome) == (code, enhanced, outcome)
    assert row.status_text == status and json_row == row
    assert row.as_dict()["enhanced_code"] == enhanced


# -- issue 10: how the bytes arrive never changes the rows ------------------------------------------
def outcome_of(body: bytes, chunks: list[bytes] | None = None, **kwargs):
    """Rows and stats (or the error) of a body fed as the given chunks."""
    parser = ReportParser(SAO_PAULO, **kwargs)
    try:
        rows = [row.as_dict() for row in parser.parse(chunks if chunks is not None else [body])]
    except Exception as err:  # the same error must come whatever the chunking
        return type(err), str(err)
    return rows, parser.stats


def every_split(body: bytes) -> list[list[bytes]]:
    return [[body[:i], body[i:]] for i in range(1, len(body))]


def fixed_chunks(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


UNICODE_TEXT = (
    "1grzDQ-000866-0o;cobrança@envio.example.com.br;joão@example.com.br;08/02/2019;04:01:45;Entregue com sucesso\n"
    '1grzDc-00086s-9P;s@example.com;x@example.com.br;08/02/2019;04:01:21;552 5.2.2 caixa cheia € 😀 "aspas" \\ barra\n'
)
# Literals, numbers (with exponent and sign), escapes and multi-byte characters in every position.
ODD_JSON = (
    '{"0": {"msgid": "1grzDQ-000866-0o", "email_de": "cobran\\u00e7a@example.com", "email_para": "jo\\u00e3o@example.com.br",'
    ' "data": "08/02/2019", "hora": "04:01:45", "status": "Entregue \\"com\\" sucesso \\ud83d\\ude00 \\\\"},'
    ' "1": true, "2": false, "3": null, "4": 1234, "5": -12.5e+3, "6": [1, {"a": "}]"}],'
    ' "7": {"msgid": "1grzDc-00086s-9P", "email_de": "s@example.com", "email_para": "x@example.com.br",'
    ' "data": "08/02/2019", "hora": "04:01:21", "status": "550 5.1.1 caixa inexistente € 😀", "extra": 1e5}}'
)


@pytest.mark.parametrize(
    "body",
    [
        UNICODE_TEXT.encode(),
        ODD_JSON.encode(),
        as_json(UNICODE_TEXT),
        json.dumps(json.loads(ODD_JSON), indent=2).encode(),
    ],
    ids=["text", "json-odd", "json-rows", "json-indented"],
)
def test_a_split_anywhere_parses_as_the_whole_body(body):
    # Cuts inside "true", "1234", "-12.5e+3", a \u escape, a \\ escape and a 4-byte UTF-8 character.
    expected = outcome_of(body)
    assert isinstance(expected[0], list) and expected[0], expected
    for chunks in every_split(body):
        assert outcome_of(body, chunks) == expected, chunks
    for size in (1, 2, 3):
        assert outcome_of(body, fixed_chunks(body, size)) == expected


def test_the_odd_json_body_yields_its_two_rows_and_counts_six_malformed_values():
    rows, stats = outcome_of(ODD_JSON.encode())
    assert [row["recipient"] for row in rows] == ["joão@example.com.br", "x@example.com.br"]
    assert rows[0]["status_text"] == 'Entregue "com" sucesso 😀 \\'
    assert stats.malformed == 6 and [text for _, text in stats.samples][:2] == ["1: true", "2: false"]


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="bom"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b.replace(b"\n", b"\r"), id="cr-only"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n"), id="bom-crlf"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r"), id="bom-cr-only"),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        TEXT.encode(),
        (TEXT + "garbage line\n\n").encode(),  # a blank line and a malformed one keep their numbers
        UNICODE_TEXT.encode(),
        UNICODE_TEXT.encode("utf-8").replace("ç".encode(), "ç".encode("latin-1")),  # a Latin-1 line
        as_json(TEXT),
        json.dumps(json.loads(as_json(TEXT)), indent=1).encode(),
    ],
    ids=["text", "text-garbage", "text-unicode", "text-latin1", "json", "json-lines"],
)
def test_bom_and_line_ends_parse_as_the_plain_body(variant, body):
    expected = outcome_of(body)
    assert isinstance(expected[0], list) and expected[0]
    varied = variant(body)
    assert outcome_of(varied) == expected
    for chunks in [fixed_chunks(varied, 1), fixed_chunks(varied, 2), *every_split(varied)[:8]]:
        assert outcome_of(varied, chunks) == expected


def test_crlf_and_cr_only_keep_line_numbers_in_strict_mode():
    body = (TEXT + "garbage line\n").encode()
    for varied in (body.replace(b"\n", b"\r\n"), body.replace(b"\n", b"\r")):
        with pytest.raises(XmailerReportParseError) as info:
            parse(varied, chunk=1, strict=True)
        assert info.value.line_number == 4 and info.value.line == "garbage line"


@pytest.mark.parametrize(
    "body", [b"\xef\xbb\xbf", b"\xef\xbb\xbf \r\n", b"\xef\xbb\xbf{}", b"\xef\xbb\xbf\r\n{ }\r\n"]
)
def test_a_bom_before_an_empty_report_is_still_an_empty_report(body):
    for chunks in [[body], fixed_chunks(body, 1)]:
        assert outcome_of(body, chunks) == ([], ParseStats())


# -- issue 10: linear cost, whatever the body's shape -----------------------------------------------
CHUNK = 65_536
VALID_LINE = TEXT.splitlines()[0]
ROW_AFTER = json.dumps(json.loads(as_json(VALID_LINE))["0"]).encode()


def huge_line(size: int) -> bytes:
    return b"x" * size + b"\n" + VALID_LINE.encode() + b"\n"


def huge_json_value(size: int) -> bytes:
    return b'{"0": {"status": "' + b"y" * size + b'"}, "1": ' + ROW_AFTER + b"}"


def huge_json_number(size: int) -> bytes:
    return b'{"0": ' + b"1" * size + b', "1": ' + ROW_AFTER + b"}"


def work_of(body: bytes) -> tuple[int, int, ParseStats, list]:
    """Total work, the largest work of one feed, the stats and the rows of a body fed in 64 KiB."""
    parser = ReportParser(SAO_PAULO)
    rows, largest = [], 0
    for chunk in fixed_chunks(body, CHUNK):
        before = parser.work
        rows.extend(parser.feed(chunk))
        largest = max(largest, parser.work - before)
    rows.extend(parser.close())
    return parser.work, largest, parser.stats, rows


@pytest.mark.parametrize(
    "shape", [huge_line, huge_json_value, huge_json_number], ids=["line", "json-string", "json-number"]
)
def test_parsing_work_is_linear_and_each_feed_is_bounded_by_its_chunk(shape):
    small, large = shape(2_000_000), shape(8_000_000)
    work_small, feed_small, stats_small, rows_small = work_of(small)
    work_large, feed_large, stats_large, rows_large = work_of(large)
    # Four times the body, about four times the work (a quadratic parser would do ~16 times).
    assert work_large <= 4.2 * work_small and work_large <= 5 * len(large)
    # One feed never works on the accumulated buffer: the largest feed does not grow with the body.
    assert feed_large <= feed_small <= 8 * CHUNK
    # The huge value is not a row: counted malformed (a sample kept); the row after it survives.
    for stats, rows in ((stats_small, rows_small), (stats_large, rows_large)):
        assert (stats.rows, stats.malformed) == (1, 1) and rows[0].queue_id == "1grzDQ-000866-0o"
        assert "longer than a report row" in stats.samples[0][1]


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [(b"", b"\n" + VALID_LINE.encode() + b"\n"), (b'{"0": {"status": "', b'"}, "1": ' + ROW_AFTER + b"}")],
    ids=["line", "json-string"],
)
def test_a_huge_row_is_skipped_as_it_streams_not_buffered(prefix, suffix):
    parser = ReportParser(SAO_PAULO)
    filler = b"z" * CHUNK
    tracemalloc.start()
    try:
        rows = list(parser.feed(prefix))
        for _ in range(8_000_000 // CHUNK):
            rows.extend(parser.feed(filler))
        rows.extend(parser.feed(suffix))
        rows.extend(parser.close())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [row.queue_id for row in rows] == ["1grzDQ-000866-0o"] and parser.stats.malformed == 1
    assert peak < MAX_ROW_SIZE + 16 * CHUNK  # never the 8 MB row


# -- issue 11: an HTML page is not a report ---------------------------------------------------------
PROXY_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
    "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n"
)
PHP_FATAL = (
    "<br />\n<b>Fatal error</b>:  Uncaught mysqli_sql_exception: Too many connections in "
    "/var/www/http/report.php:14\nStack trace:\n#0 {main}\n  thrown in <b>/var/www/http/report.php</b> "
    "on line <b>14</b><br />\n"
)


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        (PROXY_PAGE, "502 Bad Gateway 502 Bad Gateway nginx"),
        ("<html><body>Service Unavailable</body></html>", "Service Unavailable"),
        ("\ufeff\r\n  <HTML><BODY>Erro interno</BODY></HTML>", "Erro interno"),
        (PHP_FATAL, "Fatal error : Uncaught mysqli_sql_exception: Too many connections in"),
        (
            "PHP Fatal error:  Uncaught Error: Call to undefined function x() in /var/www/report.php:3\n",
            "PHP Fatal error",
        ),
        (
            "\nParse error: syntax error, unexpected end of file in /var/www/report.php on line 9\n",
            "Parse error",
        ),
    ],
    ids=["proxy-page", "html", "bom-upper-html", "php-fatal-html", "php-fatal-text", "php-parse-text"],
)
@pytest.mark.parametrize("chunk", [1, 100_000])
def test_an_html_answer_raises_unexpected_response_not_an_empty_report(body, excerpt, chunk):
    with pytest.raises(XmailerUnexpectedResponse) as info:
        parse(body.encode(), chunk)
    assert info.value.body_excerpt.startswith(excerpt)
    assert "<" not in info.value.body_excerpt and len(info.value.body_excerpt) <= 200
    assert isinstance(info.value, MailProviderError) and not isinstance(info.value, AirflowFailException)


def test_a_long_html_page_raises_while_streaming_without_reading_it_all():
    parser = ReportParser(SAO_PAULO)
    chunks = fixed_chunks((PROXY_PAGE + "<p>" + "padding " * 200_000 + "</p>").encode(), 1024)
    fed = []

    def feed_all():
        for chunk in chunks:
            fed.append(chunk)
            list(parser.feed(chunk))

    with pytest.raises(XmailerUnexpectedResponse, match="502 Bad Gateway"):
        feed_all()
    assert len(fed) <= 5 < len(chunks) and parser.stats.malformed == 0


def test_the_excerpt_of_an_html_page_never_holds_the_password():
    secret = "s3cré t&<x>"
    page = (
        f"<html><body><h1>403 Forbidden</h1><p>POST usuario_smtp=rel&senha_smtp={quote_plus(secret)}</p>"
        f"<p>{html.escape(secret)} / {quote(secret, safe='')} / {secret}</p>"
        "<p>token_auth=abc123XYZ password: hunter2</p></body></html>"
    ).encode()
    for chunk in (7, 100_000):
        with pytest.raises(XmailerUnexpectedResponse) as info:
            parse(page, chunk, secrets=[secret])
        shown = f"{info.value} {info.value!r} {info.value.body_excerpt}"
        assert "403 Forbidden" in shown
        for leaked in (secret, quote_plus(secret), quote(secret, safe=""), "s3cr", "abc123XYZ", "hunter2"):
            assert leaked not in shown
