"""Row sources: lists, generators, CSV and JSONL files (local and object storage), streamed."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mail._bulk.rows import InvalidRow, RowSource
from airflow_provider_mail.exceptions import MailConfigurationError


def test_a_list_is_read_in_order_with_its_length():
    source = RowSource([{"to": "a@example.org"}, {"to": "b@example.org"}])
    assert source.count() == 2
    assert list(source) == [(0, {"to": "a@example.org"}), (1, {"to": "b@example.org"})]


def test_a_generator_is_consumed_lazily_and_has_no_count():
    pulled = []

    def rows():
        for n in range(10**9):  # never materialised
            pulled.append(n)
            yield {"to": f"c{n}@example.org"}

    source = RowSource(rows())
    assert source.count() is None
    iterator = iter(source)
    assert next(iterator) == (0, {"to": "c0@example.org"}) and pulled == [0]


def test_csv_rows_are_dicts_by_header(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('to,name\nana@example.org,"Souza, Ana"\nbia@example.org,Bia\n', encoding="utf-8")
    source = RowSource(str(path))
    assert source.count() == 2
    assert [row for _, row in source] == [
        {"to": "ana@example.org", "name": "Souza, Ana"},
        {"to": "bia@example.org", "name": "Bia"},
    ]


def test_a_bad_jsonl_line_becomes_a_named_invalid_row_in_its_place(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"to": "a@example.org"}\nnot json\n[1, 2]\n\n{"to": "b@example.org"}\n')
    rows = list(RowSource(path))
    assert [index for index, _ in rows] == [0, 1, 2, 3]
    assert isinstance(rows[1][1], InvalidRow) and rows[1][1].error.code == "InvalidRow"
    assert "line 2" in str(rows[1][1].error) and "line 3" in str(rows[2][1].error)
    assert rows[3][1] == {"to": "b@example.org"}


def test_a_non_mapping_row_of_a_list_is_invalid_not_fatal():
    rows = list(RowSource([{"to": "a@example.org"}, "b@example.org"]))
    assert isinstance(rows[1][1], InvalidRow)


def test_a_large_file_is_streamed_not_loaded_whole(tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("w") as handle:
        for n in range(200_000):
            handle.write(json.dumps({"to": f"c{n}@example.org", "pad": "x" * 50}) + "\n")
    import tracemalloc

    tracemalloc.start()
    source = RowSource(str(path))
    assert source.count() == 200_000
    for index, _row in source:
        if index == 199_999:
            break
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < path.stat().st_size / 10  # the file is ~16 MB; a streamed read holds a few lines


def test_an_object_storage_url_is_read_through_object_storage_path(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"to": "a@example.org"}\n')
    assert [row for _, row in RowSource(path.as_uri())] == [{"to": "a@example.org"}]


@pytest.mark.parametrize("bad", [{"to": "a@example.org"}, 42, "rows.xlsx"])
def test_a_source_that_is_not_rows_is_a_configuration_error(bad):
    with pytest.raises(MailConfigurationError):
        RowSource(bad)
