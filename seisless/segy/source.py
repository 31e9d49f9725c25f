"""Byte sources: one interface over local files, S3 objects and in-memory bytes.

Decoding works on byte ranges, so a source only has to say how big it is and read
`[offset, offset + n)`. Reads land in caller-owned buffers (`readinto`) because touching
fresh memory is slow and a scan must keep memory bounded whatever the file size. Local
files also offer `mapped()`, a zero-copy view of the page cache that bulk decoding
prefers (measured in bench/RESULTS.md); a file truncated by another program while it is
being scanned that way ends the process with SIGBUS rather than a typed error.
"""

from __future__ import annotations

import mmap
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from seisless.errors import ConfigError, SourceError

#: Size of one ranged GET: large enough to amortise request latency, small enough to
#: spread a chunk over several connections.
S3_PART_BYTES = 8 * 1024 * 1024


class ByteSource(Protocol):
    """Random access to the bytes of one SEG-Y object."""

    name: str
    size: int

    def readinto(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` with the bytes at `[offset, offset + len(buffer))`."""

    def close(self) -> None: ...


def read_bytes(source: ByteSource, offset: int, length: int) -> bytes:
    """Read a small range into a new `bytes` (headers; bulk reads use `readinto`)."""
    length = max(0, min(length, source.size - offset))
    buffer = bytearray(length)
    source.readinto(offset, memoryview(buffer))
    return bytes(buffer)


def _check_range(source: ByteSource, offset: int, length: int) -> None:
    if offset < 0 or offset + length > source.size:
        raise SourceError(
            f"{source.name}: read of {length} bytes at offset {offset} goes past the end "
            f"of the object ({source.size} bytes); the object changed or is truncated"
        )


class LocalFileSource:
    """A file on disk, read with `os.preadv` (no seek state: safe across threads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        try:
            # O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; the
            # check below refuses it. Reads of regular files ignore the flag.
            self._fd = os.open(self.name, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise SourceError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise SourceError(f"{self.name}: is a directory, not a SEG-Y file") from None
        except PermissionError:
            raise SourceError(f"{self.name}: permission denied") from None
        except OSError as err:  # a symlink loop, a name too long, a path through a file
            raise SourceError(f"{self.name}: cannot be opened ({err.strerror}); give the "
                              "path of a SEG-Y file") from None
        status = os.fstat(self._fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(self._fd)
            raise SourceError(f"{self.name}: not a regular file; give the path of a SEG-Y file")
        self.size = status.st_size

    def readinto(self, offset: int, buffer: memoryview) -> None:
        _check_range(self, offset, len(buffer))
        done = 0
        while done < len(buffer):
            try:
                n = os.preadv(self._fd, [buffer[done:]], offset + done)
            except OSError as err:
                raise SourceError(f"{self.name}: read at byte {offset + done} failed "
                                  f"({err.strerror})") from None
            if n == 0:
                raise SourceError(f"{self.name}: file shrank while reading at {offset + done}")
            done += n

    def mapped(self, offset: int, length: int) -> np.ndarray:
        """The bytes at `[offset, offset + length)` mapped read-only from the page cache,
        with no copy into a buffer. The mapping lives as long as the array: dropping the
        array unmaps it, so a reader holding one block at a time stays one block resident."""
        _check_range(self, offset, length)
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        try:
            region = mmap.mmap(self._fd, offset + length - start, prot=mmap.PROT_READ,
                               offset=start)
        except OSError as err:
            raise SourceError(f"{self.name}: cannot map bytes at {offset} ({err.strerror})"
                              ) from None
        return np.frombuffer(region, np.uint8, count=length, offset=offset - start)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LocalFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesSource:
    """Bytes already in memory (tests, small objects)."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> None:
        self._data = memoryview(data).cast("B")
        self.name = name
        self.size = len(self._data)

    def readinto(self, offset: int, buffer: memoryview) -> None:
        _check_range(self, offset, len(buffer))
        buffer[:] = self._data[offset:offset + len(buffer)]

    def close(self) -> None:
        pass

    def __enter__(self) -> BytesSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        parsed = urlparse(uri)
        key = parsed.path.lstrip("/")
        if parsed.scheme != "s3" or not parsed.netloc or not key:
            raise ConfigError(f"{uri!r} is not an S3 URI; expected s3://bucket/key")
        return cls(parsed.netloc, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class S3Source:
    """An S3 object read with parallel ranged GETs, pinned to one version (ETag).

    Pinning with `IfMatch` means a file replaced mid-scan fails loudly instead of
    mixing bytes of two objects.
    """

    def __init__(self, uri: str, s3_client: Any = None, *, concurrency: int = 8) -> None:
        self.location = S3Location.parse(uri)
        self.name = str(self.location)
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        self._s3 = s3_client
        try:
            head = s3_client.head_object(Bucket=self.location.bucket, Key=self.location.key)
        except (BotoCoreError, ClientError) as err:
            raise SourceError(f"{self.name}: cannot read the object ({_s3_reason(err)})") from None
        self.size = int(head["ContentLength"])
        self.etag = head.get("ETag", "")
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-get")

    def _get(self, offset: int, buffer: memoryview) -> None:
        extra = {"IfMatch": self.etag} if self.etag else {}
        try:
            body = self._s3.get_object(
                Bucket=self.location.bucket,
                Key=self.location.key,
                Range=f"bytes={offset}-{offset + len(buffer) - 1}",
                **extra,
            )["Body"]
        except (BotoCoreError, ClientError) as err:
            raise SourceError(f"{self.name}: ranged GET at {offset} failed "
                              f"({_s3_reason(err)})") from None
        done = 0
        while done < len(buffer):
            chunk = body.read(min(len(buffer) - done, 1 << 20))
            if not chunk:
                raise SourceError(f"{self.name}: object ended early at {offset + done}")
            buffer[done:done + len(chunk)] = chunk
            done += len(chunk)

    def readinto(self, offset: int, buffer: memoryview) -> None:
        _check_range(self, offset, len(buffer))
        parts = [(start, buffer[start:start + S3_PART_BYTES])
                 for start in range(0, len(buffer), S3_PART_BYTES)]
        if len(parts) == 1:
            self._get(offset, buffer)
            return
        for future in [self._pool.submit(self._get, offset + s, view) for s, view in parts]:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> S3Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _s3_reason(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = error.get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            return "no such object"
        if code in ("403", "AccessDenied"):
            return "access denied"
        if code in ("412", "PreconditionFailed"):
            return "the object was replaced while it was being read"
        return f"{code}: {error.get('Message', '')}".strip(": ")
    return str(err)


def open_source(uri: str | os.PathLike[str], s3_client: Any = None) -> LocalFileSource | S3Source:
    """Open a local path or an `s3://bucket/key` URI as a `ByteSource` (a context manager)."""
    text = os.fspath(uri)
    if text.startswith("s3://"):
        return S3Source(text, s3_client)
    return LocalFileSource(text)
