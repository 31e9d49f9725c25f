"""One object-store facade for every step, job and reducer.

All bucket I/O of seisless goes through these functions of a boto3 S3 client, so there
is one answer to "the object is missing" (a `SourceError`, the Fail state's error name
users already know, or None from the `find_*` variants), one JSON encoding, and one
array format (`.npy`, never pickle). An object that exists
but is not what it should be (not JSON, not `.npy`, invalid fields) is a `ConfigError`,
or the `error` the caller names (the reducer's poison `ReductionError`).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from seisless.documents import DocumentT, parse_document
from seisless.errors import ConfigError, SeislessError, SourceError

#: S3's error codes for "no such object" (GET says NoSuchKey, HEAD a bare 404).
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: S3's answers to a conditional PUT whose condition did not hold.
CONDITION_FAILED_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def error_code(err: Exception) -> str:
    """The AWS error code of a botocore `ClientError` ('' for anything else)."""
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))


def is_missing(err: Exception) -> bool:
    return error_code(err) in MISSING_CODES


def uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def find_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's body, or None if it does not exist (S3 is strongly consistent)."""
    from botocore.exceptions import ClientError

    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if is_missing(err):
            return None
        raise


def get_bytes(s3: Any, bucket: str, key: str, *, what: str = "the object",
              fix: str = "check that the earlier steps completed") -> bytes:
    """The object's body; a `SourceError` saying `what` it is and how to `fix` it."""
    body = find_bytes(s3, bucket, key)
    if body is None:
        raise SourceError(f"{what} {uri(bucket, key)} does not exist; {fix}")
    return body


def _json(body: bytes, bucket: str, key: str, error: type[SeislessError]) -> Any:
    try:
        return json.loads(body)
    except ValueError as err:
        raise error(f"{uri(bucket, key)} is not JSON ({err}); delete or rewrite it") from None


def find_json(s3: Any, bucket: str, key: str, *,
              error: type[SeislessError] = ConfigError) -> Any | None:
    body = find_bytes(s3, bucket, key)
    return None if body is None else _json(body, bucket, key, error)


def get_json(s3: Any, bucket: str, key: str, *, what: str = "the object",
             fix: str = "check that the earlier steps completed",
             error: type[SeislessError] = ConfigError) -> Any:
    return _json(get_bytes(s3, bucket, key, what=what, fix=fix), bucket, key, error)


def find_document(s3: Any, bucket: str, key: str, model: type[DocumentT], what: str, *,
                  error: type[SeislessError] = ConfigError) -> DocumentT | None:
    """A JSON object parsed as `model`, or None if it does not exist; a malformed one is
    `error` naming `what` it should have been."""
    data = find_json(s3, bucket, key, error=error)
    if data is None:
        return None
    return parse_document(model, data, f"{what} {uri(bucket, key)}", error=error)


def get_document(s3: Any, bucket: str, key: str, model: type[DocumentT], what: str, *,
                 fix: str = "check that the earlier steps completed",
                 error: type[SeislessError] = ConfigError) -> DocumentT:
    data = get_json(s3, bucket, key, what=what, fix=fix, error=error)
    return parse_document(model, data, f"{what} {uri(bucket, key)}", error=error)


def get_array(s3: Any, bucket: str, key: str, *, what: str = "the array",
              fix: str = "check that the earlier steps completed") -> np.ndarray:
    """A `.npy` object (pickled object arrays are refused)."""
    body = get_bytes(s3, bucket, key, what=what, fix=fix)
    try:
        return np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as err:
        raise ConfigError(f"{what} {uri(bucket, key)} is not a .npy array ({err}); "
                                 "save it with numpy.save") from None


#: Bytes of a `.npy` object read to find its header (a version-1 header is at most
#: 65,535 bytes after the 10-byte preamble; numpy writes 128 for any model).
NPY_HEAD_BYTES = 65_546


def _ranged(s3: Any, bucket: str, key: str, start: int, stop: int, what: str) -> bytes:
    """Bytes [start, stop) of an object by one ranged GET (fewer at the object's end)."""
    from botocore.exceptions import ClientError

    try:
        return s3.get_object(Bucket=bucket, Key=key,
                             Range=f"bytes={start}-{stop - 1}")["Body"].read()
    except ClientError as err:
        if is_missing(err):
            raise SourceError(f"{what} {uri(bucket, key)} does not exist; check that the "
                              "earlier steps completed") from None
        raise


class ArrayRows:
    """A C-order `.npy` object read by rows (slices of its first axis), each slice by
    one ranged GET: an MPI rank reads only its x-slab of a model. The header is parsed
    by numpy's header reader (a literal, never pickle); object dtypes and Fortran order
    are refused."""

    def __init__(self, s3: Any, bucket: str, key: str, *, what: str = "the array") -> None:
        self.s3, self.bucket, self.key, self.what = s3, bucket, key, what
        head = io.BytesIO(_ranged(s3, bucket, key, 0, NPY_HEAD_BYTES, what))
        try:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[
                np.lib.format.read_magic(head)]
            shape, fortran, dtype = read_header(head)
        except (ValueError, EOFError, KeyError) as err:
            raise ConfigError(f"{what} {uri(bucket, key)} is not a .npy array ({err}); "
                              "save it with numpy.save") from None
        if dtype.hasobject or fortran or not shape:
            raise ConfigError(f"{what} {uri(bucket, key)} must be a C-order numeric array "
                              "of at least one dimension; save it with numpy.save")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = dtype
        self.offset = head.tell()
        self.row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1 or stop <= start:
            raise ValueError(f"rows must be a non-empty contiguous slice, got {rows}")
        body = _ranged(self.s3, self.bucket, self.key, self.offset + start * self.row_bytes,
                       self.offset + stop * self.row_bytes, self.what)
        if len(body) != (stop - start) * self.row_bytes:
            raise ConfigError(f"{self.what} {uri(self.bucket, self.key)} is shorter than "
                              f"its .npy header says {self.shape}")
        return np.frombuffer(body, self.dtype).reshape((stop - start, *self.shape[1:]))


def exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if is_missing(err):
            return False
        raise
    return True


def put_json(s3: Any, bucket: str, key: str, doc: Any, *, if_absent: bool = False) -> bool:
    """PUT `doc` as JSON (a pydantic document is dumped as JSON). With `if_absent`, never
    replace an existing object and return False when one was already there."""
    from botocore.exceptions import ClientError

    if hasattr(doc, "model_dump_json"):
        body = doc.model_dump_json().encode()
    else:
        body = json.dumps(doc, sort_keys=True).encode()
    extra = {"IfNoneMatch": "*"} if if_absent else {}
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                      **extra)
    except ClientError as err:
        if if_absent and error_code(err) in CONDITION_FAILED_CODES:
            return False
        raise
    return True


def array_bytes(array: np.ndarray, dtype: str | None = None) -> bytes:
    """`.npy` bytes of `array` in C order (cast to `dtype` when given, e.g. "<f4")."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
    return buf.getvalue()


def put_array(s3: Any, bucket: str, key: str, array: np.ndarray,
              dtype: str | None = None) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=array_bytes(array, dtype))


def copy(s3: Any, bucket: str, source: str, target: str) -> None:
    """A server-side copy within the bucket (no bytes pass through the caller)."""
    s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source})


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def list_sizes(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Every key under `prefix` with its size in bytes."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: int(o["Size"]) for page in pages for o in page.get("Contents", [])}
