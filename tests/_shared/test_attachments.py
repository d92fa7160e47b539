"""Loading attachments: size checked before reading, bounded reads, regular files only.

Memory is measured with ``tracemalloc``: reading a file whole shows up as a peak of its size, a
bounded read does not. A FIFO would block a reader forever, so that test has a timeout as a guard.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from airflow_provider_mail._shared import attachments as attachments_module
from airflow_provider_mail._shared.attachment import Attachment
from airflow_provider_mail._shared.attachments import encoded_size, load_attachments
from airflow_provider_mail.exceptions import MailValidationError

LIMIT = 64 * 1024
BIG = 64 * 1024 * 1024


def peak_while(function):
    """Run ``function``; return (its exception or result, the peak of traced memory in bytes)."""
    tracemalloc.start()
    try:
        try:
            outcome = function()
        except MailValidationError as err:
            outcome = err
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def sparse(tmp_path):
    """A 64 MiB file that takes no disk space (a hole), which reading whole would load in memory."""
    path = tmp_path / "huge.bin"
    with path.open("wb") as handle:
        handle.truncate(BIG)
    return path


@pytest.mark.parametrize("form", ["path", "str", "file-url"])
def test_an_oversized_file_is_refused_from_its_size_without_reading_it(sparse, form):
    item = {"path": sparse, "str": str(sparse), "file-url": f"file://{sparse}"}[form]
    outcome, peak = peak_while(lambda: load_attachments([item], max_total_bytes=LIMIT))
    assert isinstance(outcome, MailValidationError) and outcome.code == "AttachmentTooLarge"
    assert peak < 4 * 1024 * 1024


def test_a_file_that_grows_past_the_limit_while_read_is_refused_after_a_bounded_read(sparse, monkeypatch):
    real_fstat = os.fstat

    def fstat_before_growth(fd):  # the size seen before the file grew
        result = real_fstat(fd)
        if result.st_size == BIG:
            return os.stat_result((*result[:6], 10, *result[7:]))
        return result

    monkeypatch.setattr(attachments_module.os, "fstat", fstat_before_growth)
    outcome, peak = peak_while(lambda: load_attachments([sparse], max_total_bytes=LIMIT))
    assert isinstance(outcome, MailValidationError) and outcome.code == "AttachmentTooLarge"
    assert "grew while being read" in str(outcome)
    assert peak < 4 * 1024 * 1024


def test_the_limit_is_on_the_base64_total_of_every_file(tmp_path):
    raw_budget = (LIMIT // 4) * 3
    (tmp_path / "a.bin").write_bytes(b"a" * (raw_budget // 2))
    (tmp_path / "b.bin").write_bytes(b"b" * (raw_budget - raw_budget // 2))
    loaded = load_attachments([tmp_path / "a.bin", tmp_path / "b.bin"], max_total_bytes=LIMIT)
    assert sum(encoded_size(len(a.data)) for a in loaded) <= LIMIT
    (tmp_path / "c.bin").write_bytes(b"c")
    with pytest.raises(MailValidationError) as info:
        load_attachments([tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"], max_total_bytes=LIMIT)
    assert info.value.code == "AttachmentTooLarge" and "c.bin" in str(info.value)


def test_exactly_the_limit_is_accepted(tmp_path):
    path = tmp_path / "exact.bin"
    path.write_bytes(b"x" * ((LIMIT // 4) * 3))
    (attachment,) = load_attachments([path], max_total_bytes=LIMIT)
    assert encoded_size(len(attachment.data)) == LIMIT


@pytest.mark.timeout(30)
@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_fifo_is_refused_without_blocking(tmp_path, form):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    item = fifo if form == "path" else f"file://{fifo}"
    with pytest.raises(MailValidationError) as info:
        load_attachments([item])
    assert info.value.code == "AttachmentNotAFile"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/dev/null", id="device"),
        pytest.param("/proc/self/status", id="proc"),
        pytest.param("/proc/self/environ", id="proc-environ"),
        pytest.param("/sys/kernel/mm/transparent_hugepage/enabled", id="sys"),
    ],
)
def test_devices_and_kernel_pseudo_files_are_refused(path):
    if not Path(path).exists():
        pytest.skip(f"{path} does not exist on this system")
    with pytest.raises(MailValidationError) as info:
        load_attachments([path])
    assert info.value.code == "AttachmentNotAFile"


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_directory_is_refused(tmp_path, form):
    item = tmp_path if form == "path" else f"file://{tmp_path}"
    with pytest.raises(MailValidationError) as info:
        load_attachments([item])
    assert info.value.code == "AttachmentNotAFile"


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(MailValidationError) as info:
        load_attachments([tmp_path / "missing.csv"])
    assert info.value.code == "AttachmentNotFound"


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "real.csv").write_bytes(b"a;b")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    assert load_attachments([tmp_path / "link.csv"]) == [Attachment("link.csv", b"a;b")]


def test_a_file_url_is_read(tmp_path):
    (tmp_path / "nota.csv").write_bytes(b"a;b")
    (attachment,) = load_attachments(f"file://{tmp_path / 'nota.csv'}")
    assert (attachment.name, attachment.data) == ("nota.csv", b"a;b")


def test_no_limit_still_reads_regular_files_only(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"x" * 1000)
    assert load_attachments([tmp_path / "a.txt"], max_total_bytes=None)[0].data == b"x" * 1000
    with pytest.raises(MailValidationError):
        load_attachments([tmp_path], max_total_bytes=None)


@pytest.mark.parametrize("limit", ["10MB", -1, 1.5, True])
def test_a_bad_limit_is_a_named_error(tmp_path, limit):
    (tmp_path / "a.txt").write_bytes(b"x")
    with pytest.raises(MailValidationError) as info:
        load_attachments([tmp_path / "a.txt"], max_total_bytes=limit)
    assert info.value.code == "InvalidArgument" and "max_attachment_size" in str(info.value)
