"""IBM floats (format 1) decode exactly by the standard, whatever segyio's converter does.

The reference is independent of the code under test: each word is evaluated with Python's
exact integers and fractions, and numpy rounds that once to float32.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest
import segyio

from seisless.segy.formats import decoder, sample_format


def _exact(word: int) -> np.float32:
    """(-1)**S * 0.F * 16**(E-64) in exact arithmetic, rounded once to float32."""
    sign, exponent, fraction = word >> 31, (word >> 24) & 0x7F, word & 0xFFFFFF
    magnitude = Fraction(fraction, 1 << 24) * Fraction(16) ** (exponent - 64)
    # every IBM value is exact in float64 (24 bits, 2**-280..2**252), so float() is exact
    # and the float32 cast is the one rounding (overflow warns and gives inf, as wanted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = np.float32(float(magnitude))
    return -value if sign else value


def _reference(words: np.ndarray) -> np.ndarray:
    return np.array([_exact(w) for w in words.tolist()], np.float32)


def _word(sign: int, exponent: int, fraction: int) -> int:
    return sign << 31 | exponent << 24 | fraction


def _cases() -> dict[str, list[int]]:
    """Hand-picked words of each class, both signs."""
    cases: dict[str, list[int]] = {
        "unnormalized": [(0x41, 0x0FFFFF), (0x41, 0x000001), (0x40, 0x01), (0x45, 0x0801AB),
                         (0x22, 0x080000), (0x60, 0x0FFFFF), (0x21, 0x000100),
                         (0x61, 0x0FFFFF)],  # E = 97, yet below 2**128: finite
        "normalized": [(0x41, 0x100000), (0x41, 0xFFFFFF), (0x42, 0x640000), (0x22, 0x100000),
                       (0x60, 0xFFFFFF), (0x3F, 0x123456), (0x21, 0xFFFFFF)],
        "zero": [(0x00, 0), (0x41, 0), (0x7F, 0), (0x20, 0)],
        "overflow": [(0x61, 0x100000), (0x7F, 0xFFFFFF), (0x65, 0x0FFFFF), (0x70, 0x000001)],
        "underflow": [(0x21, 0x100000), (0x20, 0x800000), (0x1F, 0xD10760), (0x1E, 0x000001),
                      (0x01, 0xFFFFFF), (0x00, 0x100000), (0x00, 0x000001)],
    }
    return {name: [_word(s, e, f) for e, f in words for s in (0, 1)]
            for name, words in cases.items()}


def _random_words(n: int, seed: int) -> np.ndarray:
    """Random words, with many unnormalized and zero fractions and all exponents."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    words[::2] &= np.uint32(0xFF0FFFFF)  # top hex digit zero
    words[::3] &= np.uint32(0xFF00FFFF)  # top two hex digits zero
    words[::7] &= np.uint32(0xFF000000)  # zero fraction
    words[::11] = 0
    words[::13] = 0x80000000
    return words


def _decode(words: np.ndarray, byteorder: str = ">", gap: int = 0,
            out: np.ndarray | None = None) -> np.ndarray:
    """Through the format-1 decoder, as two rows strided over a buffer (`gap` header bytes)."""
    rows = words.reshape(2, -1)
    data = rows.astype(f"{byteorder}u4").view(np.uint8)
    buffer = np.zeros((rows.shape[0], gap + data.shape[1]), np.uint8)
    buffer[:, gap:] = data
    if out is None:
        out = np.empty(rows.shape, np.float32)
    decoder(sample_format(1), byteorder)(buffer[:, gap:], out)
    return out.reshape(-1)


def _bits(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float32).view(np.uint32)


@pytest.mark.parametrize("kind", sorted(_cases()))
@pytest.mark.parametrize("byteorder", [">", "<"])
def test_each_class_matches_the_exact_decoding(kind: str, byteorder: str) -> None:
    words = np.array(_cases()[kind], np.uint32)
    np.testing.assert_array_equal(_bits(_decode(words, byteorder, gap=240)),
                                  _bits(_reference(words)))


def _flushes_subnormals() -> bool:
    """Whether this process flushes float32 subnormals to zero: a shared library built
    with -ffast-math (Devito's compiled kernels, loaded by earlier tests of the session)
    sets the CPU's flush-to-zero mode for the whole process when it loads."""
    return bool(np.array([1e-40]).astype(np.float32)[0] == 0)


def test_the_classes_land_where_ieee_says() -> None:
    """The reference itself: inf on overflow, signed zeros and subnormals on underflow."""
    if _flushes_subnormals():  # check it where IEEE rounding is the CPU's: a fresh process
        test = f"{__file__}::test_the_classes_land_where_ieee_says"
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               test], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-2000:]
        return
    cases = _cases()
    assert np.all(np.isinf(_reference(np.array(cases["overflow"], np.uint32))))
    zeros = _reference(np.array(cases["zero"], np.uint32))
    assert np.all(zeros == 0) and np.array_equal(np.signbit(zeros), [False, True] * 4)
    tiny = _reference(np.array(cases["underflow"], np.uint32))
    assert np.any((tiny != 0) & (np.abs(tiny) < np.finfo(np.float32).tiny))  # subnormals
    assert np.array_equal(np.signbit(tiny), [False, True] * 7)
    assert _exact(_word(0, 0x41, 0x080000)) == 0.5  # unnormalized: 0.08 hex * 16
    assert _exact(_word(1, 0x42, 0x640000)) == -100.0


@pytest.mark.parametrize("byteorder", [">", "<"])
def test_random_words_match_the_exact_decoding(byteorder: str) -> None:
    words = _random_words(60_000, seed=1)
    np.testing.assert_array_equal(_bits(_decode(words, byteorder, gap=240)),
                                  _bits(_reference(words)))


def test_normalized_words_in_range_equal_segyio_bit_for_bit() -> None:
    rng = np.random.default_rng(2)
    n = 50_000
    words = (rng.integers(0, 2, n, dtype=np.uint32) << 31
             | rng.integers(34, 97, n, dtype=np.uint32) << 24
             | rng.integers(0x100000, 0x1000000, n, dtype=np.uint32))
    theirs = np.empty(n, np.float32)
    theirs.view(">u4")[...] = words
    segyio.tools.native(theirs, format=1, copy=False)
    np.testing.assert_array_equal(_bits(_decode(words)), _bits(theirs))


def test_every_sign_exponent_and_top_fraction_byte() -> None:
    """All 65,536 combinations of the first two bytes, with random low fraction bytes."""
    rng = np.random.default_rng(3)
    words = (np.arange(1 << 16, dtype=np.uint32) << 16
             | rng.integers(0, 1 << 16, 1 << 16, dtype=np.uint32))
    np.testing.assert_array_equal(_bits(_decode(words, "<")), _bits(_reference(words)))


def test_a_strided_output_gets_the_same_values() -> None:
    words = _random_words(4_000, seed=5)
    wide = np.zeros((2, 4_000), np.float32)
    _decode(words, out=wide[:, ::2])
    np.testing.assert_array_equal(_bits(wide[:, ::2].reshape(-1)), _bits(_reference(words)))
