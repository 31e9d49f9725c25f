"""The synthetic line: the SEG-Y it writes gives back, through a scan's gathers index and
the imaging jobs' reader, exactly the shots that were modelled."""

from __future__ import annotations

import numpy as np
import pytest
import segyio

from seisless.errors import ImagingError
from seisless.imaging import survey
from seisless.imaging.segy_shot import read_shot, shot_ranges
from seisless.scan import run_direct

SPEC = survey.LineSpec(nx=41, nz=21, water_cells=4, n_shots=3, receiver_step=4, t1=300.0,
                       nbl=10, space_order=4, smoothing_cells=3.0)


def test_models_are_layered_with_water_kept() -> None:
    true_vp = survey.true_velocity(SPEC)
    start = survey.starting_velocity(SPEC, true_vp)
    assert true_vp.shape == start.shape == (SPEC.nx, SPEC.nz)
    assert np.all(true_vp[:, :SPEC.water_cells] == 1.5) and np.all(start[:, :4] == 1.5)
    assert true_vp.max() == 3.0 and 1.5 < start.max() < 3.0  # blurred, not the truth
    assert np.all(survey.water_mask(SPEC)[:, :4] == 0) and np.all(survey.water_mask(SPEC)[:, 4:])


def test_a_shot_read_back_by_the_gathers_index_is_the_modelled_one(tmp_path) -> None:
    modelled = survey.model_shots(SPEC, survey.true_velocity(SPEC))
    path = tmp_path / "line.sgy"
    survey.write_segy(path, SPEC, modelled)
    gathers = run_direct(str(path), workers=1).gathers
    for shot in modelled:
        read = read_shot(str(path), shot_ranges(gathers, shot.shot_id), f0=SPEC.f0,
                         field_record=shot.shot_id, source_depth=SPEC.source_depth,
                         receiver_depth=SPEC.receiver_depth, origin_x=SPEC.easting)
        assert read.src == shot.src and read.dt == shot.dt and read.t1 == shot.t1
        np.testing.assert_allclose(read.rec, shot.rec, atol=1e-6)
        np.testing.assert_array_equal(read.data, shot.data.astype(np.float32))
    with segyio.open(path, ignore_geometry=True) as f:  # the headers a processor expects
        header = f.header[len(SPEC.receiver_x()) + 2]  # shot 2, third trace (x = 80 m)
        assert header[segyio.TraceField.FieldRecord] == SPEC.first_record + 1
        assert header[segyio.TraceField.TraceNumber] == 3
        assert header[segyio.TraceField.offset] == round(80.0 - modelled[1].src[0])
        assert f.bin[segyio.BinField.Interval] == 4000


def test_user_starting_model_and_mask_follow_the_seafloor() -> None:
    """`seisless model smooth|mask`: the water (down to a dipping seafloor) is kept and
    frozen, everything below is blurred."""
    from seisless.models import starting_model, water_mask

    true_vp = survey.true_velocity(SPEC)
    mask = water_mask(true_vp)
    water = true_vp <= 1.5
    assert np.array_equal(mask == 0, water[:, :] & (np.cumsum(~water, axis=1) == 0))
    start = starting_model(true_vp, 60.0, SPEC.spacing)
    assert np.all(start[mask == 0] == 1.5) and start.dtype == np.float32
    assert start[mask == 1].min() > 1.5 and start.max() < true_vp.max()


def test_a_line_over_a_given_model() -> None:
    vp = np.full((30, 12), 2.0)
    spec = survey.line_over(vp, 5.0, n_shots=2)
    assert (spec.nx, spec.nz, spec.spacing, spec.n_shots) == (30, 12, 5.0, 2)
    assert survey.run_sections(spec, "models/a.npy")["acquisition"]["origin_x"] == spec.easting
    with pytest.raises(ImagingError):
        survey.line_over(np.full((30, 12, 4), 2.0), 5.0)
    with pytest.raises(ImagingError):
        survey.line_over(vp, 5.0, source_depth=100.0)
