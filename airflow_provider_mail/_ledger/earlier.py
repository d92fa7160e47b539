"""What earlier tries of this generation recorded, found by a row's key (what it is) or its position.

Read once when a try starts, chunk by chunk. Memory stays small at any batch size: the chunks stay
compressed (a few tens of bytes a row) and two sorted arrays of 8-byte entries index them by key and
by position; a chunk is unpacked only when a row points into it (rows keep their order, so that is
about once per chunk).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import zlib
from array import array
from collections.abc import Iterable
from typing import Any

from airflow_provider_mail._ledger.record import LedgerRow, RowState

_ORDINAL_BITS = 24
_ORDINAL_MASK = (1 << _ORDINAL_BITS) - 1
_CACHED = 2


def _prefix(key: str) -> int:
    try:
        return int(key[:10], 16)
    except ValueError:  # "message": not a hash
        return int(hashlib.sha256(key.encode()).hexdigest()[:10], 16)


class EarlierRows:
    """The rows of earlier tries; add their chunks, then look rows up."""

    def __init__(self) -> None:
        self._packed: list[bytes] = []
        self._tries: list[int] = []
        self._base: list[int] = []
        self._by_key: Any = array("Q")
        self._by_index: Any = array("Q")
        self._used = bytearray()
        self._cache: dict[int, tuple[list[LedgerRow], dict[str, list[int]], dict[int, list[int]]]] = {}

    def __len__(self) -> int:
        return len(self._used)

    def add_chunk(self, rows: Iterable[LedgerRow], try_number: int) -> None:
        """Add an earlier chunk's rows (before any lookup).

        :param rows: the chunk's rows.
        :param try_number: the try that wrote it.
        """
        listed = list(rows)
        ordinal = len(self._packed)
        self._packed.append(zlib.compress(json.dumps([r.as_list() for r in listed]).encode(), 1))
        self._tries.append(try_number)
        self._base.append(len(self._used))
        self._used.extend(bytes(len(listed)))
        self._by_key.extend((_prefix(r.key) << _ORDINAL_BITS) | ordinal for r in listed)
        self._by_index.extend((r.index << _ORDINAL_BITS) | ordinal for r in listed)

    def seal(self) -> None:
        """Sort the indexes (after the last :meth:`add_chunk`)."""
        self._by_key = array("Q", sorted(set(self._by_key)))
        self._by_index = array("Q", sorted(set(self._by_index)))

    def find(self, key: str, index: int) -> LedgerRow | None:
        """The earlier row of ``key`` not yet taken by another row of this try; take it.

        Several earlier rows may have the key (the same message twice in the input, or a row left
        ``sending`` by one try and accepted by the next): an accepted one first, then the one that
        stood at ``index``, then the newest.

        :param key: the row's key.
        :param index: the row's position now.
        """
        best: tuple[tuple[bool, bool, int], int, int] | None = None
        for ordinal in self._ordinals(self._by_key, _prefix(key)):
            rows, keys, _ = self._chunk(ordinal)
            for offset in keys.get(key, ()):
                if self._used[self._base[ordinal] + offset]:
                    continue
                row = rows[offset]
                rank = (row.state == RowState.ACCEPTED.value, row.index == index, row.try_number)
                if best is None or rank > best[0]:
                    best = (rank, ordinal, offset)
        if best is None:
            return None
        _, ordinal, offset = best
        self._used[self._base[ordinal] + offset] = 1
        return self._chunk(ordinal)[0][offset]

    def changed_at(self, index: int, recipients_key: str) -> LedgerRow | None:
        """An earlier row at ``index`` to the same recipients, not taken by any row so far.

        A row whose key is not in the ledger but stands where one to the same recipients was sent is
        a changed row (edited, or rendered differently), not a new one.

        :param index: the row's position.
        :param recipients_key: the row's recipients key.
        """
        for ordinal in self._ordinals(self._by_index, index):
            rows, _, positions = self._chunk(ordinal)
            for offset in positions.get(index, ()):
                row = rows[offset]
                if row.recipients_key == recipients_key and not self._used[self._base[ordinal] + offset]:
                    return row
        return None

    def _ordinals(self, entries: Any, value: int) -> list[int]:
        low = bisect.bisect_left(entries, value << _ORDINAL_BITS)
        high = bisect.bisect_left(entries, (value + 1) << _ORDINAL_BITS)
        return [entries[i] & _ORDINAL_MASK for i in range(low, high)]

    def _chunk(self, ordinal: int) -> tuple[list[LedgerRow], dict[str, list[int]], dict[int, list[int]]]:
        cached = self._cache.get(ordinal)
        if cached is None:
            try_number = self._tries[ordinal]
            rows = [
                LedgerRow(k, i, r, s, try_number, res, info)
                for k, i, r, s, res, info in json.loads(zlib.decompress(self._packed[ordinal]))
            ]
            keys: dict[str, list[int]] = {}
            positions: dict[int, list[int]] = {}
            for offset, row in enumerate(rows):
                keys.setdefault(row.key, []).append(offset)
                positions.setdefault(row.index, []).append(offset)
            if len(self._cache) >= _CACHED:
                self._cache.pop(next(iter(self._cache)))
            cached = self._cache[ordinal] = (rows, keys, positions)
        return cached
