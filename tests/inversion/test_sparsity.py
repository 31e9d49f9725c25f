"""The sparsifying transforms of LS-RTM: each frame is tight and its adjoint is exact,
the threshold acts on the frame's coefficients, and the update job applies it (moto)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
import pywt
from moto import mock_aws

from seisless import storage
from seisless.errors import ConfigError
from seisless.inversion.documents import JobEnv, LsrtmSpec, RunConfig, ShotList
from seisless.inversion.jobs import run_update_job
from seisless.inversion.keys import RunKeys
from seisless.inversion.sparsity import (
    ORTHOGONAL_WAVELET,
    CurveletFrame,
    WaveletFrame,
    make_frame,
    soft_threshold,
)
from seisless.inversion.update import bregman_update
from seisless.reduce import Sidecar, layout_for
from seisless.reduce.sidecar import write_sidecar

FRAMES = [  # (transform, shape, levels): odd sizes, sizes below 2^levels, 2-D and 3-D
    ("wavelet", (101, 51), 3), ("wavelet", (7, 5), 3), ("wavelet", (17, 9, 5), 2),
    ("wavelet", (12, 10, 13), 3), ("curvelet", (101, 51), 3), ("curvelet", (101, 51), 1),
    ("curvelet", (9, 6), 2), ("curvelet", (17, 9, 5), 2), ("curvelet", (13, 7), 4)]


def _frame_and_coefficients(transform: str, shape: tuple[int, ...], levels: int,
                            rng: np.random.Generator) -> tuple[Any, np.ndarray, np.ndarray]:
    frame = make_frame(transform, shape, levels=levels)  # type: ignore[arg-type]
    x = rng.standard_normal(shape)
    c = frame.forward(x)
    y = rng.standard_normal(c.shape)
    if np.iscomplexobj(c):
        y = y + 1j * rng.standard_normal(c.shape)
    return frame, x, y


@pytest.mark.parametrize(("transform", "shape", "levels"), FRAMES)
def test_the_adjoint_is_exact(transform: str, shape: tuple[int, ...], levels: int) -> None:
    """<C x, y> = <x, C^T y> (the real part: curvelet coefficients are complex)."""
    frame, x, y = _frame_and_coefficients(transform, shape, levels, np.random.default_rng(0))
    lhs = float(np.real(np.vdot(y, frame.forward(x))))
    rhs = float(np.sum(x * frame.adjoint(y)))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize(("transform", "shape", "levels"), FRAMES)
def test_the_frame_is_tight(transform: str, shape: tuple[int, ...], levels: int) -> None:
    """C^T C = I, and so ||C x|| = ||x|| (Parseval)."""
    frame, x, _ = _frame_and_coefficients(transform, shape, levels, np.random.default_rng(1))
    c = frame.forward(x)
    assert np.max(np.abs(frame.adjoint(c) - x)) <= 1e-12
    assert np.linalg.norm(c) == pytest.approx(np.linalg.norm(x), rel=1e-12)


def test_every_accepted_wavelet_is_tight_and_the_others_are_refused() -> None:
    """Filters longer than the padded axis wrap around it: still orthogonal. PyWavelets'
    symlets and discrete Meyer are orthogonal only approximately: refused."""
    x = np.random.default_rng(5).standard_normal((13, 7, 6))
    accepted = [name for name in pywt.wavelist(kind="discrete")
                if re.match(ORTHOGONAL_WAVELET, name)]
    assert len(accepted) == 1 + 38 + 17
    for name in accepted:
        frame = WaveletFrame(x.shape, name, 2)
        assert np.max(np.abs(frame.adjoint(frame.forward(x)) - x)) <= 1e-12, name
    for name in ("sym4", "dmey", "bior2.2", "nonsense"):
        with pytest.raises(ConfigError, match="tight frame"):
            WaveletFrame(x.shape, name)
        with pytest.raises(ValueError, match="wavelet"):
            LsrtmSpec(transform="wavelet", wavelet=name)


@pytest.mark.parametrize("transform", ["wavelet", "curvelet"])
def test_a_500_by_300_image_transforms_in_well_under_a_second(transform: str) -> None:
    frame = make_frame(transform, (500, 300), levels=4)  # type: ignore[arg-type]
    x = np.random.default_rng(2).standard_normal((500, 300))
    started = time.perf_counter()
    back = frame.adjoint(frame.forward(x))
    assert time.perf_counter() - started < 1.0  # ~10 ms (wavelet), ~40 ms (curvelet)
    assert np.max(np.abs(back - x)) <= 1e-12


def test_frames_refuse_what_they_cannot_transform() -> None:
    with pytest.raises(ConfigError, match="2-D and 3-D"):
        make_frame("wavelet", (16,))
    with pytest.raises(ConfigError, match="shape"):
        CurveletFrame((8, 8)).forward(np.zeros((8, 9)))


def test_soft_threshold_shrinks_moduli_and_keeps_phase() -> None:
    assert np.array_equal(soft_threshold(np.array([-2.0, 0.5, 3.0]), 1.0), [-1.0, 0.0, 2.0])
    np.testing.assert_allclose(soft_threshold(np.array([3 + 4j, 0.3j]), 2.5),
                               [1.5 + 2.0j, 0.0])


def test_the_threshold_acts_on_wavelet_coefficients() -> None:
    """A reflector-like image (one wavelet atom) plus noise: thresholding its wavelet
    coefficients keeps the atom alone, shrunk by lambda; the identity's threshold keeps
    pixels of noise and of the atom alike."""
    shape = (64, 32)
    frame = make_frame("wavelet", shape, levels=3)
    atom = np.zeros(frame.forward(np.zeros(shape)).shape)
    atom[3, 2] = 10.0  # a coarse-scale coefficient: a smooth blob spread over many pixels
    clean = frame.adjoint(atom)
    noisy = clean + 0.05 * np.random.default_rng(3).standard_normal(shape)
    _, x, lam = bregman_update(np.zeros(shape), -noisy, 1.0, None, 0.5, frame)
    assert lam == pytest.approx(0.5 * np.abs(frame.forward(noisy)).max())
    coefficients = frame.forward(x.astype(np.float64))
    assert np.count_nonzero(np.abs(coefficients) > 1e-5) == 1
    assert coefficients[3, 2] == pytest.approx(np.abs(frame.forward(noisy)).max() - lam,
                                               rel=1e-5)
    _, pixels, _ = bregman_update(np.zeros(shape), -noisy, 1.0, None, 0.5)
    assert np.count_nonzero(pixels) > 1


BUCKET, RUN = "sparsity", "lsrtm-wavelet"
SHAPE = (30, 21)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _reduced(s3: Any, iteration: int, gradient: np.ndarray, objective: float) -> None:
    """What SelectShots and the reduction leave for the update job: one shot's summed
    gradient at the root of iteration `iteration`'s tree."""
    storage.put_json(s3, BUCKET, RunKeys(RUN).iteration(iteration).shots, ShotList(shots=(7,)))
    layout = layout_for(RUN, iteration, 1, 4)
    storage.put_array(s3, BUCKET, layout.array_key(layout.root), gradient.astype("<f4"))
    write_sidecar(s3, BUCKET, layout.sidecar_key(layout.root), Sidecar(
        level=layout.root.level, index=0, shape=gradient.shape, members=(0,),
        objective=objective))


def _array(s3: Any, key: str) -> np.ndarray:
    return np.load(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))


@pytest.mark.parametrize("lsrtm", [
    {"transform": "wavelet", "wavelet": "coif2", "levels": 2},
    {"transform": "curvelet", "levels": 2}])
def test_the_update_job_thresholds_the_frames_coefficients(s3: Any,
                                                           lsrtm: dict[str, Any]) -> None:
    config = RunConfig.model_validate({
        "run_id": RUN, "objective": "lsrtm", "iterations": 2,
        "model": {"key": "models/start.npy", "spacing": [10.0, 10.0]},
        "data": {"segy_key": "incoming/line.sgy", "gathers_key": "scans/s/gathers.parquet"},
        "acquisition": {"f0": 0.01}, "lsrtm": {**lsrtm, "lam_fraction": 0.6}})
    storage.put_json(s3, BUCKET, RunKeys(RUN).config, config)
    rng = np.random.default_rng(4)
    g0, g1 = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    frame = make_frame(**lsrtm, shape=SHAPE)
    _reduced(s3, 0, g0, 8.0)
    run_update_job(s3, JobEnv(bucket=BUCKET, run_id=RUN, iteration=0))
    one = RunKeys(RUN).iteration(1)
    z1, x1 = _array(s3, one.bregman_z), _array(s3, one.image)
    step = 2 * 8.0 / float(np.sum(g0.astype(np.float32).astype(float) ** 2))
    np.testing.assert_allclose(z1, -step * g0, rtol=1e-5)
    history = storage.get_json(s3, BUCKET, one.history)
    coefficients = frame.forward(z1.astype(np.float64))
    assert history["lambda"] == pytest.approx(0.6 * np.abs(coefficients).max(), rel=1e-6)
    expected = frame.adjoint(soft_threshold(coefficients, history["lambda"]))
    np.testing.assert_allclose(x1, expected, atol=1e-6 * np.abs(expected).max())
    kept = np.count_nonzero(soft_threshold(coefficients, history["lambda"]))
    assert 0 < kept < 0.1 * x1.size  # sparse in the frame's domain, not in pixels
    assert np.count_nonzero(x1) > kept

    _reduced(s3, 1, g1, 6.0)  # a lower objective: accepted, lambda kept from the first step
    run_update_job(s3, JobEnv(bucket=BUCKET, run_id=RUN, iteration=1))
    two = RunKeys(RUN).iteration(2)
    later = storage.get_json(s3, BUCKET, two.history)
    assert later["accepted"] == [True, True] and later["lambda"] == history["lambda"]
    z2, x2 = _array(s3, two.bregman_z), _array(s3, two.image)
    expected = frame.adjoint(soft_threshold(frame.forward(z2.astype(np.float64)),
                                            later["lambda"]))
    np.testing.assert_allclose(x2, expected, atol=1e-6 * np.abs(expected).max())
