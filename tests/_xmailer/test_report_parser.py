"""The report parser: both formats, errors, encodings, DST, malformed lines (with a property test)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mail._xmailer.report_parser import Outcome, ReportParser, classify_status
from airflow_provider_mail.exceptions import (
    XmailerAuthError,
    XmailerBadDate,
    XmailerBadTime,
    XmailerMissingParameters,
    XmailerReportError,
    XmailerReportParseError,
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
).filter(lambda item: item[0].strip() and not item[0].upper().lstrip().startswith("STATUS"))


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
