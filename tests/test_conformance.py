"""Every supported network computes what the original implementation computes.

v4.x and the paper networks run with the fixtures' synthetic weights; 3.1-3.9 with the real official
weights, on synthetic and real frames. All cases go through the inference core (padding, timestep maps,
encoder features, ensemble), so the core is checked along with the networks. The reference outputs are the
compact summaries in ``tests/data/conformance`` (see :mod:`tests.reference`).
"""

from __future__ import annotations

from functools import cache

import pytest
import torch

from vsrife.arch import SPECS, build_network, get_spec
from vsrife.inference import Interpolator
from vsrife.weights import load_network

from .conftest import OFFICIAL, to_tensor
from .reference import (
    PAPER_CASES,
    V3_CASES,
    V4_CASES,
    assert_close,
    expected,
    inputs,
    keys,
    real_frames,
    synthetic_state_dict,
)


@cache
def synthetic_network(group: str, name: str) -> torch.nn.Module:
    net = build_network(get_spec(name))
    net.load_state_dict(synthetic_state_dict(keys(group)[name]), strict=True)
    return net.eval()


def v4_params():
    for name in keys("v4"):
        for case in expected("v4", name):
            yield pytest.param(name, case, id=f"{name}-{case}")


def test_every_required_version_is_defined():
    required = set(keys("v4")) | set(keys("v3")) | set(keys("paper"))
    assert required <= set(SPECS), sorted(required - set(SPECS))


def test_every_case_has_a_reference():
    """The compact data kept every model and every case of the full fixtures."""
    for group in ("v4", "v3", "paper"):
        assert all(expected(group, name) for name in keys(group)), group
    assert {case for name in keys("v4") for case in expected("v4", name)} == set(V4_CASES)
    assert set(expected("v3", "3.9")) == {f"{s}_{c}" for s in ("synthetic", "bbb", "bikes") for c in V3_CASES}


@pytest.mark.parametrize("group", ["v4", "paper", "v3"])
def test_state_dict_layout_matches_official_files(group):
    for name, table in keys(group).items():
        net = build_network(get_spec(name))
        mine = {k: list(v.shape) for k, v in net.state_dict().items()}
        # v3 tables prefix single-file models with `flownet.`, the file they come from
        theirs = table if name == "3.1" or group != "v3" else {k.removeprefix("flownet."): v for k, v in table.items()}
        assert mine == theirs, name


@pytest.mark.parametrize(("name", "case"), list(v4_params()))
def test_v4_matches_original(name, case):
    t, scale, ensemble = V4_CASES[case]
    core = Interpolator(synthetic_network("v4", name), scale=scale, ensemble=ensemble, device="cpu", precision="fp32")
    out = core.interpolate(*inputs(), t)
    assert_close(out, expected("v4", name)[case])


@pytest.mark.parametrize("name", ["rife-paper", "rife-paper-m"])
def test_paper_networks_match_original(name):
    refs = expected("paper", name)
    for case, ref in refs.items():
        t, scale, _ = PAPER_CASES[case]
        core = Interpolator(synthetic_network("paper", name), scale=scale, device="cpu", precision="fp32")
        assert_close(core.interpolate(*inputs(), t), ref)


@pytest.mark.slow
@pytest.mark.parametrize("name", OFFICIAL)
def test_official_v3_weights_match_original(name, official_weights):
    net = load_network(name)
    refs = expected("v3", name)
    frames = real_frames()
    for key, ref in refs.items():
        source, case = key.split("_")
        t, scale = V3_CASES[case]
        if source == "synthetic":
            img0, img1 = inputs()
        else:
            img0, img1 = to_tensor(frames[f"{source}_0"]), to_tensor(frames[f"{source}_2"])
        core = Interpolator(net, scale=scale, device="cpu", precision="fp32")  # pads real frames as the fixtures did
        assert_close(core.interpolate(img0, img1, t), ref)


def test_a_wiring_error_would_be_caught():
    """The tolerance is meaningful on the compact references: a slightly wrong timestep, a plain blend, a wrong
    last column (padding and borders) or a small wrong patch anywhere in the frame fail it."""
    name = "4.25"
    ref = expected("v4", name)["A"]
    core = Interpolator(synthetic_network("v4", name), device="cpu", precision="fp32")
    out = core.interpolate(*inputs(), 0.5)
    assert_close(out, ref)
    with pytest.raises(AssertionError):
        assert_close(core.interpolate(*inputs(), 0.45), ref)
    with pytest.raises(AssertionError):
        assert_close((inputs()[0] + inputs()[1]) / 2, ref)
    column = out.clone()
    column[..., -1] += 0.01
    with pytest.raises(AssertionError):
        assert_close(column, ref)
    patch = out.clone()
    patch[..., 101:105, 57:61] = 1 - patch[..., 101:105, 57:61]
    with pytest.raises(AssertionError):
        assert_close(patch, ref)
