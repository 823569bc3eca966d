"""A staging disk that fills up: the error each writer raises (Python and pyarrow with errno 28,
Polars with the system's words only, a worker's carried by a WorkerError) becomes one sentence
naming OCTO_STAGING_DIR's folder, the room left and the fix; a write refused for want of space
while the staging disk has room is another disk's, and is left as it is. A real full disk, through
`python -m octo_assets.run`: integration/test_full_disk.py (a disk cannot be filled here without
mounting one)."""

import errno
import os
from pathlib import Path

import pytest

from octo_assets.readings.workers import WorkerError
from octo_assets.staging import (
    StagingFull,
    full_disk_problem,
    out_of_space,
    size,
    staging_area,
    staging_full_sentence,
)

NO_SPACE = os.strerror(errno.ENOSPC)


def from_a_worker(error: OSError) -> WorkerError:
    """As readings.workers.Pool raises a worker's error: the worker's exception as the cause."""
    try:
        raise WorkerError(f"a readings worker failed on batch 3: OSError: {error}") from error
    except WorkerError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, NO_SPACE),  # Python's own writes (open, pickle)
        OSError(errno.ENOSPC, f"Error writing bytes to file. Detail: [errno 28] {NO_SPACE}"),  # pyarrow
        OSError(f"{NO_SPACE} (os error 28)"),  # Polars: no errno
        OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)),  # a quota: as full for this user
        from_a_worker(OSError(errno.ENOSPC, NO_SPACE)),
    ],
)
def test_every_writers_out_of_space_error_is_recognised(error):
    assert out_of_space(error)


@pytest.mark.parametrize(
    "error",
    [OSError(errno.EACCES, os.strerror(errno.EACCES)), ValueError(NO_SPACE), from_a_worker(OSError(errno.EIO, "I/O"))],
)
def test_other_errors_are_not_taken_for_a_full_disk(error, tmp_path):
    assert not out_of_space(error)
    assert full_disk_problem(error, tmp_path) is None


@pytest.mark.parametrize(
    "free, total, says",
    [
        (0, 128 * 1024, "(0 bytes free of 128 KB)"),
        (512, 40 * 2**30, "(512 bytes free of 40 GB)"),
        (3 * 2**20 + 2**19, 2 * 2**40, "(3.5 MB free of 2.0 TB)"),
    ],
)
def test_the_sentence_names_the_folder_the_room_left_and_the_fix(free, total, says):
    sentence = staging_full_sentence(Path("/var/tmp/octo-staging"), free, total)
    assert "\n" not in sentence and sentence.endswith(".")
    assert sentence.startswith(f"OCTO_STAGING_DIR: the disk of /var/tmp/octo-staging is full {says}")
    assert "point OCTO_STAGING_DIR at a folder on a disk with more room" in sentence


@pytest.mark.parametrize(
    "count, shown", [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 KB"), (12 * 2**20, "12 MB"), (2**50, "1,024 TB")]
)
def test_sizes_read_as_a_person_reads_them(count, shown):
    assert size(count) == shown


def test_a_full_disk_that_is_not_the_staging_disk_is_left_as_it_was(tmp_path, monkeypatch):
    """Out of space while the staging disk has room (this test's disk does): the lake's disk, say.
    The error goes on as it was, and the run's folder is removed all the same."""
    monkeypatch.setenv("OCTO_STAGING_DIR", str(tmp_path / "staging"))
    error = OSError(errno.ENOSPC, NO_SPACE, "/elsewhere/lake/part-0.parquet")
    with pytest.raises(OSError) as raised:
        with staging_area() as folder:
            (folder / "staged-000000.arrow").write_bytes(b"staged")
            raise error
    assert raised.value is error and not isinstance(raised.value, StagingFull)
    assert not folder.exists()
