"""The CLI: typed errors are one line and exit code 2; nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seisless.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize(("name", "code"), [("broken.sgy", "TruncatedSegyError"),
                                            ("long.sgy", "SegyFormatError"),
                                            ("missing.sgy", "SourceError")])
def test_bad_input_exits_2_without_traceback(tmp_path: Path, segy_data: Path, name: str,
                                             code: str) -> None:
    out = tmp_path / "out"
    result = _run("scan", str(segy_data / name), "--out", str(out))
    assert result.returncode == 2
    assert code in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def test_synth_then_scan(tmp_path: Path) -> None:
    survey = tmp_path / "survey.sgy"
    assert _run("synth", str(survey), "--inlines", "12", "--crosslines", "10").returncode == 0
    result = _run("scan", str(survey), "--out", str(tmp_path / "out"), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "summary.json").exists()
    info = _run("info", str(survey))
    assert '"n_traces": 120' in info.stdout
    assert "SEISLESS SYNTHETIC" in info.stdout


def test_format_override_and_bad_code(tmp_path: Path, segy_data: Path) -> None:
    ok = _run("scan", str(segy_data / "small.sgy"), "--out", str(tmp_path / "a"),
              "--format", "1", "--workers", "1")
    assert ok.returncode == 0, ok.stderr
    bad = _run("scan", str(segy_data / "small.sgy"), "--out", str(tmp_path / "b"),
               "--format", "13")
    assert bad.returncode == 2
    assert "HeaderValueError" in bad.stderr
    assert not (tmp_path / "b").exists()


def test_a_directory_or_random_bytes_is_a_clear_error(tmp_path: Path) -> None:
    noise = tmp_path / "noise.sgy"
    noise.write_bytes(np.random.default_rng(0).bytes(50_000))
    for source, code in ((tmp_path, "SourceError"), (noise, "HeaderValueError")):
        result = _run("scan", str(source), "--out", str(tmp_path / "out"))
        assert result.returncode == 2, result.stderr
        assert code in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("--engine", "cloud"), "engine is direct, local or aws"),
    (("--engine", "local", "--workers", "2"), "apply to --engine direct only"),
    (("--engine", "aws", "--inline-byte", "9"), "apply to --engine direct only"),
    (("--byteorder", "middle"), "byte order is auto, big or little"),
])
def test_scan_options_are_checked_before_anything_runs(tmp_path: Path, segy_data: Path,
                                                       args: tuple[str, ...], says: str) -> None:
    result = _run("scan", str(segy_data / "small.sgy"), "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    assert says in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "out").exists()


def test_run_refuses_an_unknown_engine(tmp_path: Path) -> None:
    result = _run("run", str(tmp_path / "input.json"), "--engine", "direct")
    assert result.returncode == 2
    assert "engine is local or aws" in " ".join(result.stderr.replace("│", " ").split())


def _unusual_paths(tmp_path: Path) -> dict[str, Path]:
    import os

    fifo = tmp_path / "fifo.sgy"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.sgy"
    loop.symlink_to(loop)
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")
    return {"fifo": fifo, "loop": loop, "too-long": tmp_path / ("x" * 300 + ".sgy"),
            "through-a-file": plain / "inside.sgy"}


@pytest.mark.parametrize("kind", ["fifo", "loop", "too-long", "through-a-file"])
def test_unusual_local_paths_are_source_errors(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    result = _run("scan", str(_unusual_paths(tmp_path)[kind]), "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert "SourceError" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_refused_before_scanning(tmp_path: Path,
                                                                 segy_data: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    result = _run("scan", str(segy_data / "f3.sgy"), "--out", str(taken / "sub"))
    assert result.returncode == 2 and "ConfigError" in result.stderr
    assert "is not a folder" in result.stderr
