"""One storage layer for the lake, the landing area and the catalog: a local folder or an S3 prefix.

Callers name files by paths relative to a root and never see which backend holds them. Both
backends are fsspec filesystems (s3fs for S3: endpoint and credentials from the standard AWS
variables); what differs between them is kept to this module:

- publishing a file: written whole first (beside the target on disk, in the run's staging
  folder for S3), then put in place in one step, a rename or a single PUT, so readers see the
  old object or the new one, never a part of one;
- a file's version, what changes on every re-delivery: ctime and inode on disk (`cp -p`,
  `rsync -t` and `mv` keep the mtime but not these), the ETag on S3;
- conditional replacement (compare-and-swap on that version): a lock file on disk, an
  `If-Match`/`If-None-Match` PUT on S3;
- listing: `os.scandir` on disk (nanosecond stats, several times faster than fsspec's walk).
"""

import errno
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import time
import uuid
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import fsspec

from octo_assets.staging import PUBLISH_PREFIX, STALE_TMP_S, staging_root

S3 = "s3://"
ANY = "*any*"  # publish whatever the current version is
ABSENT = None  # publish only if the file does not exist yet


class VersionConflict(Exception):
    """The file changed since its version was read: someone else published it meanwhile."""


class VersionUnsure(OSError):
    """On disk, the file opened is not the version asked for (Storage.read_many's `tokens`), or
    may not be: it changed less than a second ago, within the clock's granularity of a change."""


class StorageError(Exception):
    """The storage cannot be reached or used; the message names the setting and the fix."""


@dataclass(frozen=True)
class Entry:
    """A file in a listing."""

    path: str  # relative to the storage root, POSIX separators
    size: int
    mtime_ns: int  # modification time on disk, upload time on S3
    token: str  # changes on every re-delivery (see the module docstring)


def is_remote(url: str) -> bool:
    return str(url).startswith(S3)


def s3_filesystem():
    """The S3 filesystem of this process, from the standard AWS_* variables.

    Listings are never cached: sensors list the same prefix for days in one process and must
    see every change.
    """
    import s3fs

    # named explicitly (botocore would read them too) so that fsspec's cache of filesystem
    # instances, keyed by these arguments, never hands out one made for other settings
    settings = {"endpoint_url": "AWS_ENDPOINT_URL", "key": "AWS_ACCESS_KEY_ID", "secret": "AWS_SECRET_ACCESS_KEY"}
    return s3fs.S3FileSystem(
        **{arg: os.environ[name] for arg, name in settings.items() if os.environ.get(name)},
        use_listings_cache=False,
        config_kwargs={"connect_timeout": 5, "read_timeout": 120, "retries": {"max_attempts": 4, "mode": "standard"}},
    )


class Storage:
    """Files under one root: an absolute local folder or `s3://bucket/prefix`."""

    def __init__(self, url: str | os.PathLike):
        url = str(url)
        self.is_local = not is_remote(url)
        if self.is_local:
            self.url = str(Path(url).expanduser().resolve())
            self._root = self.url
        else:
            self.url = url.rstrip("/")
            self._root = self.url[len(S3) :]
            if not self._root:
                raise StorageError(f"{url}: an S3 location needs a bucket, as in s3://bucket/prefix")

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem("file") if self.is_local else s3_filesystem()

    # -- names ---------------------------------------------------------------------------------

    def _path(self, rel: str = "") -> str:
        """The filesystem's own path: absolute on disk, `bucket/key` on S3."""
        rel = rel.strip("/")
        return f"{self._root}/{rel}" if rel else self._root

    def uri(self, rel: str = "") -> str:
        """The full name a reader (DuckDB, an analyst) uses: an absolute path or an s3:// URL."""
        return self._path(rel) if self.is_local else S3 + self._path(rel)

    def sub(self, rel: str) -> "Storage":
        return Storage(self.uri(rel))

    # -- reading -------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return self.fs.isfile(self._path(rel))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self._path(rel))

    def read_many(self, rels: Sequence[str], tokens: Sequence[str] | None = None) -> list[bytes | OSError]:
        """Many files' bytes, in order; a file that cannot be read gives its error instead.

        On S3 the GETs run concurrently (fsspec's batched `cat`), which is what makes many small
        files affordable there. On disk, `tokens` (a listing's Entry.token of each file) reads a
        file only if it is still that version and changed over a second ago (SETTLED_NS), so that
        a change from then on changes its token: otherwise it gives VersionUnsure.
        """
        if self.is_local:
            return _read_local_many([self._path(rel) for rel in rels], tokens)
        if tokens is not None:
            raise ValueError("reading only given versions is done on disk only")
        if not rels:
            return []
        paths = [self._path(rel) for rel in rels]
        found = self.fs.cat(paths, on_error="return")
        return [_as_os_error(found.get(p, FileNotFoundError(errno.ENOENT, "not found", p))) for p in paths]

    def sha256_many(self, rels: Sequence[str], tokens: Sequence[str] | None = None) -> list[str | OSError]:
        """The SHA-256 (hex) of each file's bytes, in order, read a chunk at a time: a file of any
        size in bounded memory (the files a run hashes but does not parse). A file that cannot
        be read gives its error instead; `tokens` as for `read_many` (on disk only)."""
        if tokens is not None and not self.is_local:
            raise ValueError("reading only given versions is done on disk only")
        found: list[str | OSError] = []
        for n, rel in enumerate(rels):
            digest = hashlib.sha256()
            if self.is_local:
                fd = _open_ahead(self._path(rel), None if tokens is None else tokens[n], ahead=False)
                if isinstance(fd, OSError):
                    found.append(fd)
                    continue
                try:
                    while chunk := os.read(fd, HASH_CHUNK):
                        digest.update(chunk)
                    found.append(digest.hexdigest())
                except OSError as exc:
                    found.append(exc)
                finally:
                    os.close(fd)
                continue
            try:
                with self.fs.open(self._path(rel), "rb", block_size=HASH_CHUNK) as file:
                    while chunk := file.read(HASH_CHUNK):
                        digest.update(chunk)
                found.append(digest.hexdigest())
            except OSError as exc:
                found.append(exc)
            except Exception as exc:  # botocore's errors have no common base we can name
                found.append(_as_os_error(exc))
        return found

    def open(self, rel: str):
        """A binary file object for reading (Parquet readers seek in it)."""
        return self.fs.open(self._path(rel), "rb")

    def version(self, rel: str) -> str | None:
        """The file's current version token, or None when it does not exist."""
        try:
            if self.is_local:
                return _local_version(os.stat(self._path(rel)))
            return _etag(self.fs.info(self._path(rel)))
        except FileNotFoundError:
            return None

    def list_files(self, prefix: str = "", suffix: str = "") -> list[Entry]:
        """Every file below `prefix` (recursively) whose name ends with `suffix`, sorted by path.

        Names starting with a dot (temporary and lock files) are left out.
        """
        columns = self.list_columns(prefix, suffix)
        rows = zip(columns["path"], columns["size"], columns["mtime_ns"], list(columns["token"]))
        entries = [Entry(*row) for row in rows]
        return sorted(entries, key=lambda e: e.path)

    def list_columns(self, prefix: str = "", suffix: str = "") -> dict[str, list]:
        """`list_files` as columns (path, size, mtime_ns, token), unsorted: a million files
        listed without a Python object per file. On disk also `folders`: the sub-folders walked
        (relative paths), whose stats make `folder_signature`."""
        base = self._path(prefix)
        columns = _scan_local(base, suffix) if self.is_local else _scan_s3(self.fs, base, suffix)
        prefix = prefix.strip("/")
        if prefix:
            columns["path"] = [f"{prefix}/{path}" for path in columns["path"]]
            columns["folders"] = [f"{prefix}/{folder}" for folder in columns["folders"]]
        return columns

    def list_top(self, suffix: str = "") -> tuple[dict[str, list], list[str]]:
        """The root's own files (as `list_columns`) and the names of its folders: one folder read
        on disk, one delimited LIST on S3, however many files the folders hold."""
        if self.is_local:
            return _scan_local(self._root, suffix, recursive=False)
        return _scan_s3_top(self.fs, self._root, suffix)

    def folder_signature(self, folders: Sequence[str]) -> str | None:
        """On disk, what changes whenever a file is added to, removed from or renamed within
        `folders` (their modification and change times, and inodes); None on S3, which has no
        folders. A file rewritten in place under the same name does not change it."""
        if not self.is_local:
            return None
        stats = []
        for rel in sorted(folders):
            try:
                st = os.stat(self._path(rel))
                stats.append(f"{rel}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}")
            except FileNotFoundError:
                stats.append(f"{rel}:gone")
        return hashlib.sha256("\n".join(stats).encode()).hexdigest()[:32]

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def publish(self, rel: str, expect: str | None = ANY, durable: bool = True) -> Iterator[Path]:
        """Yield a local path to write the file to; on leaving the block it replaces `rel` whole.

        `expect` makes the replacement conditional on the version the caller last saw (None: the
        file must not exist); otherwise VersionConflict is raised and nothing is replaced. If the
        block raises, nothing is replaced either. Without `durable` a local file is not synced to
        the disk (a run's intermediate files: a power cut loses the run, which is re-run anyway).
        """
        if self.is_local:
            with self._publish_local(rel, expect, durable) as path:
                yield path
        else:
            with self._publish_s3(rel, expect) as path:
                yield path

    def put_file(self, rel: str, source: Path, expect: str | None = ANY) -> None:
        """Publish a file already written whole elsewhere on local disk (linked, not copied, where
        it can be; `source` stays, for a retry). Same guarantees as `publish`."""
        if self.is_local:
            with self._publish_local(rel, expect) as tmp:
                try:
                    os.link(source, tmp)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
                    shutil.copyfile(source, tmp)  # staging is on another filesystem
        else:
            with self._publish_s3(rel, expect, source=Path(source)):
                pass

    def write_bytes(self, rel: str, data: bytes, expect: str | None = ANY) -> None:
        with self.publish(rel, expect) as path:
            path.write_bytes(data)

    def move(self, rel: str, target: str) -> None:
        """Move a file to another path of this storage (a rename on disk, made durable; a copy
        then a delete on S3, where nothing renames)."""
        if self.is_local:
            destination = Path(self._path(target))
            _make_dirs_durably(destination.parent)
            os.rename(self._path(rel), destination)
            _fsync_dir(destination.parent)
            _fsync_dir(Path(self._path(rel)).parent)
        else:
            self.fs.copy(self._path(rel), self._path(target))
            self.fs.rm_file(self._path(rel))

    def delete(self, rel: str) -> None:
        try:
            self.fs.rm_file(self._path(rel))
        except FileNotFoundError:
            pass

    @contextmanager
    def _publish_local(self, rel: str, expect: str | None, durable: bool = True) -> Iterator[Path]:
        target = Path(self._path(rel))
        if durable:
            _make_dirs_durably(target.parent)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            yield tmp
            if not durable:
                os.replace(tmp, target)
                return
            _fsync_file(tmp)  # the bytes reach the disk before the name points at them
            with _lock(target) if expect != ANY else _no_lock():
                if expect != ANY and _local_version_or_none(target) != expect:
                    raise VersionConflict(f"{target} changed since it was read")
                os.replace(tmp, target)
            _fsync_dir(target.parent)  # and the new name survives a power cut
        finally:
            tmp.unlink(missing_ok=True)
        _remove_stale_tmp(target)

    @contextmanager
    def _publish_s3(self, rel: str, expect: str | None, source: Path | None = None) -> Iterator[Path]:
        folder = Path(tempfile.mkdtemp(prefix=PUBLISH_PREFIX, dir=staging_root()))
        tmp = source or folder / Path(rel).name
        try:
            yield tmp
            condition = {} if expect == ANY else {"IfNoneMatch": "*"} if expect is None else {"IfMatch": f'"{expect}"'}
            bucket, _, key = self._path(rel).partition("/")
            with open(tmp, "rb") as body:  # streamed: one PUT, however large (up to 5 GB)
                try:
                    self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body, **condition)
                except OSError as exc:
                    if _precondition_failed(exc):
                        raise VersionConflict(f"{self.uri(rel)} changed since it was read") from None
                    raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- DuckDB --------------------------------------------------------------------------------

    def register(self, connection) -> None:
        """Let DuckDB read this storage's URIs (no httpfs needed: DuckDB calls fsspec)."""
        register_filesystems(connection, [self.uri()])

    # -- settings ------------------------------------------------------------------------------

    def reachable_problem(self) -> str | None:
        """Why this remote root cannot be listed, in a few words, or None."""
        if self.is_local:
            return None if Path(self.url).is_dir() else "is not a folder"
        bucket = self._root.split("/")[0]
        why = credentials_problem()
        if why:
            return f"cannot be read: {why}; set {CREDENTIALS}"
        try:
            self.fs.ls(bucket, refresh=True)
        except FileNotFoundError:
            return f"bucket {bucket!r} does not exist"
        except PermissionError as exc:
            return f"access denied ({exc}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        except Exception as exc:  # botocore's connection errors have no common base we can name
            endpoint = os.environ.get("AWS_ENDPOINT_URL", "AWS's default endpoint")
            return f"cannot reach {endpoint} ({type(exc).__name__}: {exc}); check AWS_ENDPOINT_URL"
        return None


CREDENTIALS = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


def credentials_problem() -> str | None:
    """Why S3 would be called without credentials (neither the two keys nor anything else botocore
    finds: a profile, a role), in a few words, or None."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return None
    if key or secret:
        return f"{'AWS_SECRET_ACCESS_KEY' if key else 'AWS_ACCESS_KEY_ID'} is not set (the other key is)"
    import botocore.exceptions
    import botocore.session

    try:
        found = botocore.session.Session().get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return f"the AWS credentials cannot be loaded ({exc})"
    return None if found else "no AWS credentials were found"


def register_filesystems(connection, uris: Sequence[str]) -> None:
    """Register the S3 filesystem on a DuckDB connection if any of `uris` is on S3."""
    if not any(is_remote(str(u)) for u in uris):
        return
    fs = s3_filesystem()
    if not set(fs.protocol) & set(connection.list_filesystems()):
        connection.register_filesystem(fs)


HASH_CHUNK = 4 << 20  # bytes read at a time by sha256_many
READ_AHEAD_FILES = 256  # files whose reads are queued with the disk at once (a descriptor each)
# a ctime this old is a settled version: the kernel stamps a change with a coarse clock (a few ms),
# so a file changed again within the same tick would keep its token
SETTLED_NS = 1_000_000_000


def _read_local_many(paths: Sequence[str], tokens: Sequence[str] | None = None) -> list[bytes | OSError]:
    """Whole files, in order; os-level calls, as reading a million small files is mostly call
    overhead. The files of a window are opened and their reads started (POSIX_FADV_WILLNEED does
    not wait) before the first is read: a file not in the page cache costs the disk's latency
    once a window instead of once a file, about 3x the files a second on a virtio disk; cached
    files cost the same either way. Threads, measured, did not raise the rate."""
    found: list[bytes | OSError] = []
    for start in range(0, len(paths), READ_AHEAD_FILES):
        window: list[int | OSError] = []
        done = 0
        try:
            for n in range(start, min(start + READ_AHEAD_FILES, len(paths))):
                window.append(_open_ahead(paths[n], None if tokens is None else tokens[n]))
            for item in window:
                done += 1  # before the read: _read_fd closes its descriptor whatever happens
                found.append(item if isinstance(item, OSError) else _read_fd(item))
        finally:
            for item in window[done:]:
                if not isinstance(item, OSError):
                    os.close(item)
    return found


def _open_ahead(path: str, token: str | None, ahead: bool = True) -> int | OSError:
    """A descriptor of `path` if it is the version `token` (any, if None), its whole read started
    if `ahead` (a file read a chunk at a time, maybe large, is not)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return exc
    if token is not None:
        # the version of what was opened, whatever the name points at by now (Tokens' format)
        st = os.fstat(fd)
        if f"{st.st_ctime_ns}-{st.st_ino}" != token or st.st_ctime_ns > time.time_ns() - SETTLED_NS:
            os.close(fd)
            return VersionUnsure(errno.ESTALE, "not, or maybe not, the version asked for", path)
    if ahead and hasattr(os, "posix_fadvise"):  # not on macOS: there each read waits its turn
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # only advice (a folder, say): the read tells what is wrong
    return fd


def _read_fd(fd: int) -> bytes | OSError:
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)


def _local_version(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}"


def _local_version_or_none(path: Path) -> str | None:
    try:
        return _local_version(path.stat())
    except FileNotFoundError:
        return None


def _scan_local(base: str, suffix: str, recursive: bool = True):
    """os.scandir, and one stat per file (relative to its folder's descriptor: shorter lookups).
    Numbers go to typed arrays, not Python lists: a million files stay a few tens of MB.

    Recursive: the columns, with `folders` (every sub-folder walked). Not recursive: the columns
    of the folder's own files, and the names of its sub-folders."""
    path: list[str] = []
    folders: list[str] = []
    size, mtime, ctime, inode = array("q"), array("q"), array("q"), array("Q")
    if os.path.isdir(base):
        stack = [(base, "")]
        while stack:
            folder, prefix = stack.pop()
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                names = []
                with os.scandir(fd) as entries:
                    for entry in entries:
                        if entry.name.startswith("."):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(f"{prefix}{entry.name}")
                            if recursive:
                                stack.append((os.path.join(folder, entry.name), f"{prefix}{entry.name}/"))
                        elif entry.name.endswith(suffix):
                            names.append(entry.name)
                for name in names:
                    try:
                        st = os.stat(name, dir_fd=fd)
                    except FileNotFoundError:
                        continue  # removed since the folder was read
                    if stat.S_ISREG(st.st_mode):
                        path.append(prefix + name)
                        size.append(st.st_size)
                        mtime.append(st.st_mtime_ns)
                        ctime.append(st.st_ctime_ns)
                        inode.append(st.st_ino)
            finally:
                os.close(fd)
    columns = {"path": path, "size": size, "mtime_ns": mtime, "token": Tokens(ctime, inode)}
    if recursive:
        return {**columns, "folders": folders}
    return columns, folders


class Tokens:
    """The version token of each listed file on disk ("ctime_ns-inode"), kept as two arrays and
    made text only when asked for, by whoever holds many of them (landing.list_landing)."""

    def __init__(self, ctime: array, inode: array):
        self.ctime, self.inode = ctime, inode

    def __iter__(self):
        return (f"{c}-{i}" for c, i in zip(self.ctime, self.inode))

    def __len__(self) -> int:
        return len(self.ctime)


def _remove_stale_tmp(target: Path) -> None:
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            if now - leftover.stat().st_mtime > STALE_TMP_S:
                leftover.unlink()
        except FileNotFoundError:
            pass


def _make_dirs_durably(folder: Path) -> None:
    """mkdir -p, then fsync each parent whose entries changed, so new folders survive a power cut."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        try:
            new.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(new.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _lock(target: Path) -> Iterator[None]:
    """An exclusive lock for a compare-and-swap of `target` among processes of this host."""
    with open(target.with_name(f".{target.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


# -- S3 helpers ----------------------------------------------------------------------------------


def _etag(info: dict) -> str:
    return str(info.get("ETag") or info.get("etag") or "").strip('"')


def _scan_s3(fs, base: str, suffix: str) -> dict[str, list]:
    columns: dict[str, list] = {"path": [], "size": [], "mtime_ns": [], "token": [], "folders": []}
    try:
        found = fs.find(base, detail=True)
    except FileNotFoundError:
        return columns
    for key, info in found.items():
        _add_s3_file(columns, key[len(base) :].lstrip("/"), info, suffix)
    return columns


def _scan_s3_top(fs, base: str, suffix: str) -> tuple[dict[str, list], list[str]]:
    columns: dict[str, list] = {"path": [], "size": [], "mtime_ns": [], "token": []}
    folders = []
    try:
        found = fs.ls(base, detail=True, refresh=True)
    except FileNotFoundError:
        return columns, folders
    for info in found:
        rel = info["name"][len(base) :].strip("/")
        if info.get("type") == "directory":
            if rel and not rel.startswith("."):
                folders.append(rel)
        else:
            _add_s3_file(columns, rel, info, suffix)
    return columns, folders


def _add_s3_file(columns: dict[str, list], rel: str, info: dict, suffix: str) -> None:
    if info.get("type") != "file" or not rel.endswith(suffix) or any(p.startswith(".") for p in rel.split("/")):
        return
    modified = info.get("LastModified")
    columns["path"].append(rel)
    columns["size"].append(int(info["size"]))
    columns["mtime_ns"].append(int(modified.timestamp() * 1e9) if modified else 0)
    columns["token"].append(_etag(info))


def _precondition_failed(exc: OSError) -> bool:
    cause = exc.__cause__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code in {"PreconditionFailed", "412"} or "pre-conditions" in str(exc)


def _as_os_error(value) -> bytes | OSError:
    if isinstance(value, bytes | OSError):
        return value
    return OSError(errno.EIO, str(value))
