"""The CLI: typed errors are one line and exit code 2; nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.surveys import lines_at_9_21


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


def test_synth_shots_scans_into_gathers_that_image(tmp_path: Path) -> None:
    """`synth --shots` writes shot gathers with real headers: the scan finds one gather
    per source with its traces' byte ranges, and a shot read by them migrates."""
    from seisless.imaging import Model, rtm
    from seisless.imaging.segy_shot import read_shot, shot_ranges
    from seisless.scan import run_direct

    line, start, mask = tmp_path / "line.sgy", tmp_path / "start.npy", tmp_path / "mask.npy"
    made = _run("synth", str(line), "--shots", "3", "--t1", "400")
    assert made.returncode == 0, made.stderr
    assert '"origin_x": 500000.0' in made.stdout
    true_vp = np.load(tmp_path / "line.vp.npy")
    assert _run("model", "smooth", str(tmp_path / "line.vp.npy"), "-o", str(start),
                "--sigma", "150", "--spacing", "10").returncode == 0
    assert _run("model", "mask", str(start), "-o", str(mask)).returncode == 0
    gathers = run_direct(str(line), workers=1).gathers
    shots = gathers.filter(gathers["kind"].to_numpy(zero_copy_only=False) == "shot")
    assert sorted(shots["key"].to_pylist()) == [1001, 1002, 1003]
    traces = 51  # receivers every 2 cells of the 101-cell line
    length = 240 + 4 * 101  # 0..400 ms at 4 ms, IEEE float
    for row in shots.to_pylist():
        (span,) = row["byte_ranges"]
        assert span["stop"] - span["start"] == traces * length
        assert (span["start"] - 3600) // (traces * length) == row["key"] - 1001
    shot = read_shot(str(line), shot_ranges(gathers, 1002), f0=0.010, field_record=1002,
                     source_depth=10.0, receiver_depth=10.0, origin_x=500_000.0)
    assert shot.src == (500.0, 10.0) and shot.data.shape == (101, traces)
    image = rtm(Model(np.load(start), (10.0, 10.0), nbl=20, space_order=4), shot)
    assert image.shape == true_vp.shape and np.abs(image).max() > 0
    frozen = np.load(mask)
    assert np.all(frozen[:, :8] == 0) and np.all(frozen[:, -1] == 1)


def test_model_commands_refuse_what_is_not_a_model(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.full((4, 5), 1.5))
    result = _run("model", "mask", str(tmp_path / "flat.npy"), "-o", str(tmp_path / "m.npy"))
    assert result.returncode == 2 and "ConfigError" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "m.npy").exists()
    missing = _run("model", "smooth", str(tmp_path / "no.npy"), "-o", str(tmp_path / "s.npy"),
                   "--sigma", "100", "--spacing", "10")
    assert missing.returncode == 2 and "SourceError" in missing.stderr


def test_inspect_json_and_table(segy_data: Path) -> None:
    result = _run("inspect", str(segy_data / "f3.sgy"), "--json", "--traces", "3")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["detection"]["standard_usable"] is True
    assert document["trace_headers"]["n_traces"] == 3
    table = _run("inspect", str(segy_data / "f3.sgy"))
    assert table.returncode == 0, table.stderr
    for text in ("binary header", "CROSSLINE_3D", "189/193", "--inline-byte 189"):
        assert text in table.stdout
    missing = _run("inspect", str(segy_data / "missing.sgy"))
    assert missing.returncode == 2 and "SourceError" in missing.stderr


def test_scan_uses_detected_bytes_and_says_why(tmp_path: Path) -> None:
    survey = tmp_path / "lines-9-21.sgy"
    lines_at_9_21(survey)
    result = _run("scan", str(survey), "--out", str(tmp_path / "out"), "--workers", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    keys = summary["options"]["keys"]
    assert (keys["inline"], keys["crossline"]) == (9, 21)
    assert any("bytes 9/21 detected" in note for note in summary["notes"])
    assert summary["counts"]["gathers"]["inline"] == 6
    given = _run("scan", str(survey), "--out", str(tmp_path / "given"), "--workers", "1",
                 "--inline-byte", "189")
    assert given.returncode == 0, given.stderr
    summary = json.loads((tmp_path / "given" / "summary.json").read_text())
    assert summary["options"]["keys"]["inline"] == 189
    assert not summary["options"]["detect_keys"]
    assert not any("detected" in note for note in summary["notes"])
