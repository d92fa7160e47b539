"""Where a bulk send's rows come from: streamed one by one, never loaded whole.

A source is a list or any iterable of dicts (an XCom, a generator), or a ``.csv`` / ``.jsonl``
(``.ndjson``) file given as a local path, a URL (``s3://…``, ``file://…``) or an ``ObjectStoragePath``.
A line that is not a JSON object becomes an :class:`InvalidRow` in its place, so one bad row
never stops the batch.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_mail.exceptions import MailConfigurationError, MailValidationError

#: File suffixes read as one JSON object per line.
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)


@dataclass(frozen=True)
class InvalidRow:
    """A row that could not be read; the batch goes on and the row is reported as failed.

    :param error: the named error.
    """

    error: MailValidationError


class RowSource:
    """The rows of a bulk send; iterate it (once per call) to get ``(index, row)`` pairs.

    :param source: a list/iterable of mappings, or a path/URL/``ObjectStoragePath`` of a CSV or
        JSONL file.
    """

    def __init__(self, source: Any) -> None:
        if source is None:
            raise MailConfigurationError("rows is required: a list of dicts, or a .csv/.jsonl path or URL")
        self.source = source
        self.kind = _kind(source)

    def count(self) -> int | None:
        """How many rows there are, when that is cheap to know without holding them.

        A list knows its length; a file is counted by one streaming pass; a generator cannot be
        counted without consuming it (``None``).
        """
        if self.kind == "file":
            return sum(1 for _ in self._file_rows())
        if hasattr(self.source, "__len__") and not isinstance(self.source, Mapping):
            return len(self.source)
        return None

    def __iter__(self) -> Iterator[tuple[int, Mapping[str, Any] | InvalidRow]]:
        rows = self._file_rows() if self.kind == "file" else iter(self.source)
        for index, row in enumerate(rows):
            yield index, row if isinstance(row, (Mapping, InvalidRow)) else _not_a_mapping(index, row)

    def describe(self) -> str:
        """The source in words, for the log."""
        if self.kind == "file":
            return str(self.source)
        return f"{type(self.source).__name__} of rows"

    def _file_rows(self) -> Iterator[Mapping[str, Any] | InvalidRow]:
        name = str(self.source).lower()
        with open_text(self.source) as handle:
            if name.endswith(CSV_SUFFIXES):
                yield from _csv_rows(handle)
            else:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield _json_row(line, number)


def _csv_rows(handle: IO[str]) -> Iterator[Mapping[str, Any] | InvalidRow]:
    """The rows of a CSV file as dicts by header; a line the reader refuses (a field over the csv
    module's 128 KiB limit, a bad quote) becomes that row's :class:`InvalidRow`, and reading goes on."""
    reader = csv.reader(handle)
    header: list[str] | None = None
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if header is None:
                raise MailConfigurationError(f"the CSV header line cannot be read: {err}") from None
            yield InvalidRow(
                MailValidationError(f"line {reader.line_num} of the CSV: {err}", code="InvalidRow")
            )
            continue
        if header is None:
            header = values
        elif values:
            # as csv.DictReader: a short line's missing columns are None
            yield {name: values[i] if i < len(values) else None for i, name in enumerate(header)}


def _kind(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)) or type(source).__name__ == "ObjectStoragePath":
        name = str(source).lower()
        if not name.endswith(CSV_SUFFIXES + JSONL_SUFFIXES):
            raise MailConfigurationError(
                f"rows file {source!s} must end in .csv, .jsonl or .ndjson (one JSON object per line)"
            )
        return "file"
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise MailConfigurationError(
            f"rows must be a list of dicts or a .csv/.jsonl path or URL, got {type(source).__name__}"
        )
    return "iterable"


@contextmanager
def open_text(source: Any) -> Iterator[IO[str]]:
    """Open a local path, a URL or an ``ObjectStoragePath`` for reading UTF-8 text, streamed.

    ``utf-8-sig``: a byte-order mark (Excel's "CSV UTF-8") is dropped, not read into the first
    column's name.

    :param source: where the file is.
    """
    if isinstance(source, (str, os.PathLike)) and "://" not in str(source):
        with Path(source).expanduser().open(encoding="utf-8-sig", newline="") as handle:
            yield handle
        return
    from airflow_provider_mail._compat import ObjectStoragePath

    path = source if type(source).__name__ == "ObjectStoragePath" else ObjectStoragePath(str(source))
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
        yield handle


def _json_row(line: str, number: int) -> Mapping[str, Any] | InvalidRow:
    try:
        value = json.loads(line)
    except ValueError as err:
        return InvalidRow(MailValidationError(f"line {number} is not JSON: {err}", code="InvalidRow"))
    if not isinstance(value, Mapping):
        return InvalidRow(
            MailValidationError(
                f"line {number} is a JSON {type(value).__name__}, not an object", code="InvalidRow"
            )
        )
    return value


def _not_a_mapping(index: int, row: Any) -> InvalidRow:
    return InvalidRow(
        MailValidationError(
            f"row {index} is a {type(row).__name__}, not a mapping of column to value", code="InvalidRow"
        )
    )
