from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from seisless.errors import ReductionError
from seisless.reduce.stream import MultipartWriter, npy_header, open_npy, stream_sum

if TYPE_CHECKING:
    from tests.reduce.conftest import Aws


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def put(aws: Aws, key: str, array: np.ndarray) -> None:
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=npy_bytes(array))


def count_get_bytes(s3: Any) -> list[int]:
    """Bytes returned by every GetObject on this client."""
    sizes: list[int] = []
    s3.meta.events.register("after-call.s3.GetObject",
                            lambda parsed, **_: sizes.append(parsed["ContentLength"]))
    return sizes


#: (shape, chunk bytes): empty, one float per chunk, chunks that do not divide the data,
#: a chunk that is not a whole number of floats (1002), exactly the data, larger than it.
CASES = [((0,), 4), ((1,), 4), ((7,), 4), ((7,), 12), ((3, 5), 8), ((3, 5), 60),
         ((3, 5), 64), ((1001,), 400), ((1001,), 4004), ((17, 33), 1002),
         ((17, 33), 1 << 20)]


@pytest.mark.parametrize(("shape", "chunk_bytes"), CASES)
@pytest.mark.parametrize("part_bytes", [64, 1 << 20])
def test_stream_sum_is_numpy_order_sum_bitwise(aws: Aws, shape: tuple[int, ...],
                                               chunk_bytes: int, part_bytes: int) -> None:
    rng = np.random.default_rng(sum(shape) + chunk_bytes)
    arrays = [(rng.standard_normal(shape) * 10.0 ** rng.uniform(-5, 5)).astype("<f4")
              for _ in range(3)]
    for i, array in enumerate(arrays):
        put(aws, f"in/{i}.npy", array)
    sources = [open_npy(aws.s3, aws.bucket, f"in/{i}.npy", shape) for i in range(3)]
    reads = count_get_bytes(aws.s3)
    stream_sum(aws.s3, sources, aws.bucket, "out.npy", chunk_bytes=chunk_bytes,
               part_bytes=part_bytes)
    assert sum(reads) == sum(a.nbytes for a in arrays)  # every data byte read once
    expected = arrays[0].copy()
    expected += arrays[1]
    expected += arrays[2]
    body = aws.s3.get_object(Bucket=aws.bucket, Key="out.npy")["Body"].read()
    assert body == npy_bytes(expected)


def test_large_parent_is_a_multipart_upload(aws: Aws) -> None:
    arrays = [np.full(1000, i, dtype="<f4") for i in range(2)]
    for i, array in enumerate(arrays):
        put(aws, f"in/{i}.npy", array)
    sources = [open_npy(aws.s3, aws.bucket, f"in/{i}.npy", (1000,)) for i in range(2)]
    stream_sum(aws.s3, sources, aws.bucket, "out.npy", chunk_bytes=1000, part_bytes=1024)
    head = aws.s3.head_object(Bucket=aws.bucket, Key="out.npy")
    assert head["ETag"].strip('"').endswith("-5")  # 128 + 4000 bytes in 1 KiB parts
    assert head["ContentLength"] == len(npy_header((1000,))) + 4000


def test_header_matches_numpy(aws: Aws) -> None:
    for shape in [(0,), (5,), (2, 3, 4), (100000, 3)]:
        assert npy_header(shape) == npy_bytes(np.zeros(shape, "<f4"))[: len(npy_header(shape))]


@pytest.mark.parametrize(("body", "match"), [
    (b"hello world", "not a .npy"),
    (npy_bytes(np.zeros(4, "<f8")), "float32"),
    (npy_bytes(np.asfortranarray(np.zeros((2, 2), "<f4"))), "Fortran"),
    (npy_bytes(np.zeros(5, "<f4")), "shape"),
    (npy_bytes(np.zeros(4, "<f4"))[:-4], "truncated"),
    (npy_bytes(np.zeros(4, ">f4")), "float32"),
])
def test_open_npy_refuses_what_it_cannot_sum(aws: Aws, body: bytes, match: str) -> None:
    aws.s3.put_object(Bucket=aws.bucket, Key="bad.npy", Body=body)
    shape = (2, 2) if b"fortran_order': True" in body else (4,)
    with pytest.raises(ReductionError, match=match):
        open_npy(aws.s3, aws.bucket, "bad.npy", shape)


def test_failed_upload_is_aborted(aws: Aws) -> None:
    with pytest.raises(RuntimeError), \
            MultipartWriter(aws.s3, aws.bucket, "partial.npy", part_bytes=10) as out:
        out.write(b"x" * 25)
        raise RuntimeError("disk on fire")
    assert aws.s3.list_multipart_uploads(Bucket=aws.bucket).get("Uploads", []) == []
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=aws.bucket)
