"""Streaming sum of `.npy` objects in S3 with bounded memory and a fixed summation order.

Children are read by ranged GETs one chunk at a time (the same chunk of every child,
fetched concurrently), summed in child order in float32, and the parent is written by a
multipart upload as the chunks come. Memory is about (fan-in + 2) chunks plus one part,
whatever the gradient size. Addition is elementwise, so the chunk size never changes a
single bit of the result: the order of the children alone decides it.
"""

from __future__ import annotations

import io
import math
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

import numpy as np

from seisless.errors import ReductionError
from seisless.reduce.checkpoints import Checkpoint, no_checkpoint
from seisless.reduce.sidecar import DTYPE

#: Enough for any header numpy writes for float32 arrays of up to ~60 dimensions.
_HEADER_PROBE = 4096
_ITEMSIZE = np.dtype(DTYPE).itemsize


@dataclass(frozen=True)
class NpyObject:
    """A float32 `.npy` in S3: where its data starts and how long it is."""

    bucket: str
    key: str
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _ITEMSIZE


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The exact header numpy's `np.save` writes for a C-order float32 array."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": DTYPE, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _get(s3: Any, bucket: str, key: str, start: int, stop: int) -> dict[str, Any]:
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{stop - 1}")


def open_npy(s3: Any, bucket: str, key: str, shape: tuple[int, ...]) -> NpyObject:
    """Read and check the header of a float32 `.npy` by a ranged GET (never the data).

    Raises `ReductionError` if it is not a C-order little-endian float32 array of
    `shape` whose size matches its header: summing it anyway would corrupt the gradient.
    """
    where = f"s3://{bucket}/{key}"
    resp = _get(s3, bucket, key, 0, _HEADER_PROBE)
    prefix = resp["Body"].read()
    size = int(resp.get("ContentRange", f"/{len(prefix)}").rsplit("/", 1)[1])
    if prefix[:6] != b"\x93NUMPY" or len(prefix) < 10:
        raise ReductionError(f"{where} is not a .npy file; write leaves with np.save or "
                             "seisless.reduce.write_leaf")
    length_format = "<H" if prefix[6] == 1 else "<I"
    start = 8 + struct.calcsize(length_format)
    needed = start + struct.unpack(length_format, prefix[8:start])[0]
    if needed > len(prefix) and size > len(prefix):
        prefix = _get(s3, bucket, key, 0, needed)["Body"].read()
    stream = io.BytesIO(prefix)
    try:
        version = np.lib.format.read_magic(stream)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ReductionError(f"{where}: unsupported .npy version {version}")
        got_shape, fortran, dtype = read(stream)
    except ValueError as err:
        raise ReductionError(f"{where}: unreadable .npy header ({err})") from None
    if dtype != np.dtype(DTYPE) or (fortran and len(got_shape) > 1):
        raise ReductionError(f"{where} holds {dtype} in {'Fortran' if fortran else 'C'} "
                             f"order; gradients must be C-order float32 ({DTYPE})")
    if tuple(got_shape) != tuple(shape):
        raise ReductionError(f"{where} has shape {got_shape} but its sidecar says {shape}")
    obj = NpyObject(bucket, key, tuple(shape), stream.tell())
    if size != obj.offset + obj.nbytes:
        raise ReductionError(f"{where} is {size} bytes; its header promises "
                             f"{obj.offset + obj.nbytes} (truncated or padded upload)")
    return obj


def read_chunk(s3: Any, obj: NpyObject, start: int, stop: int) -> np.ndarray:
    """Data bytes [start, stop) of `obj` (offsets relative to the data) as float32."""
    data = _get(s3, obj.bucket, obj.key, obj.offset + start, obj.offset + stop)["Body"].read()
    if len(data) != stop - start:
        raise ReductionError(f"s3://{obj.bucket}/{obj.key}: short read at {start}")
    return np.frombuffer(data, dtype=DTYPE)


class MultipartWriter:
    """Write one object from a stream of bytes: a single PUT when it fits in one part,
    a multipart upload otherwise. An `Exception` aborts the upload; a crash (a
    `BaseException`, or the process dying) leaves it for the bucket's
    AbortIncompleteMultipartUpload lifecycle rule, as in real Lambda."""

    def __init__(self, s3: Any, bucket: str, key: str, *, part_bytes: int,
                 checkpoint: Checkpoint = no_checkpoint) -> None:
        self._s3, self._bucket, self._key = s3, bucket, key
        self._part_bytes = part_bytes
        self._checkpoint = checkpoint
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        while len(self._buffer) >= self._part_bytes:
            self._upload_part(bytes(self._buffer[: self._part_bytes]))
            del self._buffer[: self._part_bytes]

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        etag = self._s3.upload_part(Bucket=self._bucket, Key=self._key, Body=body,
                                    UploadId=self._upload_id, PartNumber=number)["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})
        self._checkpoint("part-uploaded")

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._upload_part(bytes(self._buffer))
        self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts})

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, Exception) and self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key,
                                            UploadId=self._upload_id)


def stream_sum(s3: Any, sources: list[NpyObject], bucket: str, key: str, *,
               chunk_bytes: int, part_bytes: int,
               checkpoint: Checkpoint = no_checkpoint) -> None:
    """Write sum(sources) (in list order, float32) as a `.npy` at s3://bucket/key.

    Parameters
    ----------
    sources : children opened with `open_npy`, all of one shape, in summation order.
    chunk_bytes : bytes of each child read per ranged GET (rounded down to whole floats).
    part_bytes : multipart part size (S3 needs >= 5 MiB except for the last part).
    """
    if not sources:
        raise ReductionError(f"nothing to sum for s3://{bucket}/{key}")
    shape, total = sources[0].shape, sources[0].nbytes
    step = max(_ITEMSIZE, chunk_bytes - chunk_bytes % _ITEMSIZE)
    with (ThreadPoolExecutor(max_workers=min(len(sources), 8)) as pool,
          MultipartWriter(s3, bucket, key, part_bytes=part_bytes,
                          checkpoint=checkpoint) as out):
        out.write(npy_header(shape))
        for start in range(0, total, step):
            stop = min(start + step, total)
            chunks = pool.map(partial(read_chunk, s3, start=start, stop=stop), sources)
            acc = next(chunks).copy()
            for chunk in chunks:
                np.add(acc, chunk, out=acc)
            out.write(memoryview(acc).cast("B"))
