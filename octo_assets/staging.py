"""A run's local scratch space: the staging root, and one private folder per run.

Staged readings can be gigabytes, so the root is OCTO_STAGING_DIR, else the system temp dir
unless it is held in RAM (tmpfs), then /var/tmp. Each run works in a folder of its own
(`staging_area`), removed when the run ends however it ends; one left by a run killed outright
is removed by the next (`sweep_staging`). S3 uploads write their temporary copy here too
(storage.Storage.put_file). A run that fills the staging disk stops with one sentence naming the
folder, the room left and the fix (`StagingFull`), whichever process's write found it full.
"""

import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from octo_assets.settings import MEMORY_MB, STAGING_DIR, SettingError, ascii_digits

STALE_TMP_S = 3600  # a temporary file this old was left by a killed writer: no live write takes that long
PUBLISH_PREFIX = "publish-"  # an S3 upload's temporary folder
_RAM_FILESYSTEMS = {"tmpfs", "ramfs"}


class StagingError(SettingError):
    """The staging root cannot be used; the message names OCTO_STAGING_DIR and the fix."""


class StagingFull(StagingError):
    """A run filled the disk of its staging folder; the message names it, the room left and the fix."""


# a disk with less room than this left when a write failed for want of space is the one that filled
FULL_BELOW_BYTES = 64 * 2**20
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def staging_root() -> str:
    """The local folder runs stage their work in: OCTO_STAGING_DIR, else the system temp dir
    unless it is held in RAM (tmpfs), then /var/tmp. Staged readings can be gigabytes."""
    configured = os.environ.get(STAGING_DIR)
    if configured:
        folder = Path(configured).expanduser()
    else:
        folder = Path(tempfile.gettempdir())
        if _filesystem_type(folder) in _RAM_FILESYSTEMS and Path("/var/tmp").is_dir():
            folder = Path("/var/tmp")
        folder = folder / "octo-staging"
    problem = folder_problem(STAGING_DIR, folder)
    if problem:
        raise StagingError(f"{problem}, or unset it.")
    return str(folder)


def staging_problem() -> str | None:
    """Why the staging root cannot be used, in one sentence, or None."""
    try:
        staging_root()
    except StagingError as exc:
        return str(exc)
    return None


def blocking_file(folder: Path) -> Path | None:
    """The file that is `folder` or one of its parents, so that the folder cannot be made, if any."""
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def folder_problem(setting: str, folder: Path) -> str | None:
    """Why the local folder a setting names cannot be written to (it is created if missing), in
    one sentence without its full stop, or None."""
    blocking = blocking_file(folder)
    if blocking is not None:
        what = "is a file" if blocking == folder else f"cannot be created: {blocking} is a file"
        return f"{setting}: {folder} {what}; point {setting} at a folder (it is created if missing)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fix = "choose a folder you can write to, or fix its permissions"
        return f"{setting}: cannot write to {folder} ({reason}); {fix}"
    return None


def _filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` (from /proc/mounts; '' where unknown)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    best, kind = "", ""
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3 and (resolved == fields[1] or resolved.startswith(fields[1].rstrip("/") + "/")):
            if len(fields[1]) > len(best):
                best, kind = fields[1], fields[2]
    return kind


STAGING_PREFIX = "run-"
OWNER_LOCK = ".owner"


@contextmanager
def staging_area() -> Iterator[Path]:
    """A private folder under staging_root() for one run, removed when the run ends however it
    ends (an exception, an interrupt). A run killed outright (SIGKILL, a lost pod) cannot remove
    its own, so the next run removes it: the folder's name carries its owner's process id and
    the owner holds a lock on it for its whole life, so a folder whose owner is gone and whose
    lock is free (no worker of the run still alive) is left over, even one killed before its lock
    existed. Nothing else depends on its contents.
    """
    root = Path(staging_root())
    sweep_staging(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=root))
    with open(folder / OWNER_LOCK, "w") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX)
        try:
            yield folder
        except Exception as exc:
            # measured before the folder is removed (which frees what the run staged)
            full = full_disk_problem(exc, root)
            if full:
                raise StagingFull(full) from None
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def out_of_space(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from (a worker's, carried by a WorkerError), is a
    write refused for want of space: ENOSPC or EDQUOT, as Python and pyarrow raise it (errno set)
    or as Polars does (errno unset, the system's words in the message)."""
    words = [os.strerror(code) for code in _NO_SPACE]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and (exc.errno in _NO_SPACE or any(w in str(exc) for w in words)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def full_disk_problem(exc: BaseException, root: Path) -> str | None:
    """The sentence for a run stopped by a full staging disk, or None when `exc` is not that (a
    write refused for want of space where the staging disk still has room was another disk's:
    the lake's, say)."""
    if not out_of_space(exc):
        return None
    try:
        disk = shutil.disk_usage(root)
    except OSError:
        return None
    if disk.free >= FULL_BELOW_BYTES:
        return None
    return staging_full_sentence(root, disk.free, disk.total)


def staging_full_sentence(root: Path, free: int, total: int) -> str:
    """One sentence: the staging folder, the room left on its disk, and the fix."""
    return (
        f"{STAGING_DIR}: the disk of {root} is full ({size(free)} free of {size(total)}): a run's steps "
        f"write each part of a day they assemble there (up to {MEMORY_MB}'s worth) and S3 uploads; point "
        f"{STAGING_DIR} at a folder on a disk with more room, or lower {MEMORY_MB}."
    )


def size(count: int) -> str:
    """A number of bytes for a person: 0 bytes, 512 bytes, 12 KB, 3.4 GB (powers of 1024)."""
    if count < 1024:
        return f"{count} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        count /= 1024
        if count < 1024 or unit == "TB":
            return f"{count:.1f} {unit}" if count < 10 else f"{count:,.0f} {unit}"
    raise AssertionError("unreachable")


def sweep_staging(root: Path) -> list[Path]:
    """Remove the staging folders of runs that are gone: owner process ended, owner lock free."""
    removed = []
    for folder in root.glob(f"{STAGING_PREFIX}*"):
        if _owner_alive(folder.name) or _lock_held(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    for leftover in root.glob(f"{PUBLISH_PREFIX}*"):  # an S3 upload's temporary folder, same idea by age
        try:
            stale = time.time() - leftover.stat().st_mtime > STALE_TMP_S
        except FileNotFoundError:  # its upload, in another run, just ended
            continue
        if stale:
            shutil.rmtree(leftover, ignore_errors=True)
    return removed


def _owner_alive(name: str) -> bool:
    """Whether the process named in a staging folder's name (run-<pid>-…) still exists."""
    pid = name[len(STAGING_PREFIX) :].partition("-")[0]
    if not ascii_digits(pid):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _lock_held(folder: Path) -> bool:
    """Whether a process still holds the folder's owner lock (a worker can outlive its run's
    main process for a moment; its files are in use until it ends)."""
    try:
        with open(folder / OWNER_LOCK) as owner:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False  # the owner was killed before it took the lock
    except BlockingIOError:
        return True
    return False
