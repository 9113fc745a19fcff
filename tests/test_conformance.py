"""Every supported network computes what the original implementation computes (../shared/conformance).

v4.x and the paper networks run with the fixtures' synthetic weights; 3.1-3.9 with the real official
weights, on synthetic and real frames. All cases go through the inference core (padding, timestep maps,
encoder features, ensemble), so the core is checked along with the networks.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch

from vsrife.arch import SPECS, build_network, get_spec
from vsrife.inference import Interpolator
from vsrife.weights import load_network

from .conftest import CONFORMANCE, OFFICIAL, synthetic_state_dict, to_tensor

MAX_ABS, MAX_MEAN = 5e-4, 2e-5

# case -> (timestep, scale, ensemble), as the conformance README defines them
V4_CASES = {"A": (0.5, 1.0, False), "B": (0.3, 0.5, False), "C": (0.5, 1.0, True), "D": (0.7, 2.0, False)}
PAPER_CASES = {"A": (0.5, 1.0, False), "B": (0.5, 0.5, False), "C": (0.3, 1.0, False)}
V3_CASES = {"A": (0.5, 1.0), "B": (0.5, 0.5), "C": (0.3, 1.0)}


@cache
def keys(group: str) -> dict[str, dict[str, list[int]]]:
    return json.loads((CONFORMANCE / "keys" / f"{group}.json").read_text())


@cache
def synthetic_network(group: str, name: str) -> torch.nn.Module:
    net = build_network(get_spec(name))
    net.load_state_dict(synthetic_state_dict(keys(group)[name]), strict=True)
    return net.eval()


@cache
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(CONFORMANCE / "inputs.npz")
    return torch.from_numpy(data["img0"]), torch.from_numpy(data["img1"])


def expected(path) -> dict[str, torch.Tensor]:
    data = np.load(path)
    return {k: torch.from_numpy(data[k].astype(np.float32) / 65535) for k in data.files}


def assert_close(out: torch.Tensor, ref: torch.Tensor) -> None:
    assert out.shape == ref.shape
    diff = (out.clamp(0, 1) - ref).abs()
    assert diff.max().item() <= MAX_ABS and diff.mean().item() <= MAX_MEAN, (
        f"max {diff.max().item():.2e}, mean {diff.mean().item():.2e}"
    )


def v4_params():
    for name in keys("v4"):
        for case in expected(CONFORMANCE / "expected" / "v4" / f"v{name}.npz"):
            yield pytest.param(name, case, id=f"{name}-{case}")


def test_every_required_version_is_defined():
    required = set(keys("v4")) | set(keys("v3")) | set(keys("paper"))
    assert required <= set(SPECS), sorted(required - set(SPECS))


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
    assert_close(out, expected(CONFORMANCE / "expected" / "v4" / f"v{name}.npz")[case])


@pytest.mark.parametrize("name", ["rife-paper", "rife-paper-m"])
def test_paper_networks_match_original(name):
    refs = expected(CONFORMANCE / "expected" / "paper" / f"{name}.npz")
    for case, ref in refs.items():
        t, scale, _ = PAPER_CASES[case]
        core = Interpolator(synthetic_network("paper", name), scale=scale, device="cpu", precision="fp32")
        assert_close(core.interpolate(*inputs(), t), ref)


@pytest.mark.slow
@pytest.mark.parametrize("name", OFFICIAL)
def test_official_v3_weights_match_original(name, official_weights, real_frames):
    net = load_network(name)
    refs = expected(CONFORMANCE / "expected" / "v3" / f"v{name}.npz")
    for key, ref in refs.items():
        source, case = key.split("_")
        t, scale = V3_CASES[case]
        if source == "synthetic":
            img0, img1 = inputs()
        else:
            img0, img1 = to_tensor(real_frames[f"{source}_0"]), to_tensor(real_frames[f"{source}_2"])
        core = Interpolator(net, scale=scale, device="cpu", precision="fp32")  # pads real frames as the fixtures did
        assert_close(core.interpolate(img0, img1, t), ref)


def test_a_wiring_error_would_be_caught():
    """The tolerance is meaningful: a slightly wrong timestep or a plain blend fails it."""
    name = "4.25"
    ref = expected(CONFORMANCE / "expected" / "v4" / f"v{name}.npz")["A"]
    core = Interpolator(synthetic_network("v4", name), device="cpu", precision="fp32")
    with pytest.raises(AssertionError):
        assert_close(core.interpolate(*inputs(), 0.45), ref)
    with pytest.raises(AssertionError):
        assert_close((inputs()[0] + inputs()[1]) / 2, ref)
