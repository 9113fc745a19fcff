"""The int8-gptq path: GPTQ's weights shipped per model, checked before use, applied as computed, reproduced
by the calibration that made them, and taken by default only for the weights and activation bits they passed
with."""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import vapoursynth as vs

from vsrife import gptq, int8_calibration, precisions
from vsrife.arch import int8
from vsrife.errors import RifeError
from vsrife.inference import Interpolator
from vsrife.weights import load_network

from .conftest import ROOT
from .test_precisions import log_lines, small_clip

pytestmark = pytest.mark.usefixtures("official_weights")
core = vs.core


@pytest.fixture(scope="module")
def v39():
    return load_network("3.9")


@pytest.mark.parametrize("model", list(gptq.SHIPPED))
def test_each_shipped_rounding_belongs_to_the_published_weights_and_names_their_body(model):
    network = load_network(model)
    entry = gptq.shipped_for(network)
    assert entry is gptq.SHIPPED[model]
    offsets = gptq.read_offsets(entry)  # its SHA-256 checked
    convs = int8.body_convolutions(precisions.get("fast32").apply(network))
    assert set(offsets) == set(convs)
    assert all(offsets[n].dtype == torch.int8 and offsets[n].shape == c.weight.shape for n, c in convs.items())
    moved = torch.cat([o.flatten() for o in offsets.values()])
    # GPTQ moves some weights by a step or two from nearest, never most of them, never far
    assert int(moved.abs().max()) <= 3 and 0.02 < float((moved != 0).float().mean()) < 0.5


def chain_convolutions(network: torch.nn.Module) -> list[int8.Int8Conv2d]:
    return [conv for chain in network.modules() if isinstance(chain, int8.Int8Chain) for conv in chain.convs]


def test_the_path_computes_with_nearest_rounding_moved_by_the_shipped_offsets(v39):
    path = Interpolator(v39, device="cpu", precision="int8-gptq")
    assert [m.wide for m in path.network.modules() if isinstance(m, int8.Int8Chain)] == [False, True, True, True]
    finest = path.network.blocks[-1].convblock  # with 8-bit activations only its first layers' inputs are wide
    count = gptq.SHIPPED["3.9"].finest_wide_layers(int8.activation_top()) or len(finest.convs)
    assert finest.wide_inputs == [i < count for i in range(len(finest.convs))]
    for coarser in (path.network.blocks[1].convblock, path.network.blocks[2].convblock):  # and so in theirs
        count = gptq.SHIPPED["3.9"].coarser_wide_layers(int8.activation_top()) or len(coarser.convs)
        assert coarser.wide_inputs == [i < count for i in range(len(coarser.convs))]
    offsets = gptq.read_offsets(gptq.SHIPPED["3.9"])
    fast = int8.body_convolutions(precisions.get("fast32").apply(v39))
    quantized = chain_convolutions(path.network)
    assert len(quantized) == len(fast) == len(offsets)
    differs = 0
    for (name, conv), int8_conv in zip(fast.items(), quantized, strict=True):  # both in the blocks' order
        nearest, scales = int8.round_weights(conv.weight.detach().float())
        assert torch.equal(int8_conv.q_weight.to(torch.int16), nearest.to(torch.int16) + offsets[name])
        assert torch.equal(int8_conv.weight_scales, scales)
        differs += int((int8_conv.q_weight != nearest).sum())
    assert differs > 0
    assert next(v39.parameters()).dtype == torch.float32  # the caller's network is left as it is


def test_recalibrating_a_convolution_gives_the_shipped_offsets(v39):
    """The shipped file is what `python -m vsrife.int8_calibration` computes: one of 3.9's convolutions (the
    finest block's last, the cheapest to gather) calibrated again from the sample clips."""
    name = list(int8.body_convolutions(precisions.get("fast32").apply(v39)))[-1]
    statistics = int8_calibration.collect(v39, only={name})
    assert set(statistics) == {name}
    weight = int8.body_convolutions(precisions.get("fast32").apply(v39))[name].weight.detach().float()
    nearest, scales = int8.round_weights(weight)
    again = int8.on_grid(int8_calibration.gptq_round(weight, statistics[name].second_moments), scales)
    shipped = nearest.to(torch.int16) + gptq.read_offsets(gptq.SHIPPED["3.9"])[name]
    # float sums may round differently on another CPU; here every weight matched
    assert float((again.to(torch.int16) == shipped).float().mean()) > 0.999


def test_other_weights_get_a_clear_error_never_another_models_rounding(v39):
    other = copy.deepcopy(v39)
    with torch.no_grad():
        next(other.parameters()).add_(1e-6)  # the same architecture, weights a little off
    for network in (other, load_network("3.1")):  # 3.1: a model with nothing shipped
        assert gptq.shipped_for(network) is None and not gptq.passes_by_default(network)
        with pytest.raises(RifeError, match=r"computed for these exact weights.*precision='int8'"):
            Interpolator(network, device="cpu", precision="int8-gptq")
    with pytest.raises(vs.Error, match="computed for these exact weights"):
        core.rife.RIFE(small_clip(), model="3.1", precision="int8-gptq").get_frame(0)


def test_a_change_to_the_weights_is_seen_by_the_remembered_digest(v39):
    """The digest is remembered per network, yet a weight changed in place, or a tensor replaced, in the same
    network object afterwards still loses its shipped rounding."""
    network = copy.deepcopy(v39)
    assert gptq.shipped_for(network) is gptq.SHIPPED["3.9"]
    assert gptq.weights_digest(network) == gptq.SHIPPED["3.9"].weights_digest  # now remembered
    weight = next(network.parameters())
    with torch.no_grad():
        weight.add_(1e-6)
    assert gptq.shipped_for(network) is None
    with torch.no_grad():
        weight.sub_(1e-6)  # back to the published values, or close: the digest is computed again either way
    restored = next(v39.parameters()).detach().clone()
    weight.data = restored  # a replaced tensor: another storage
    assert gptq.shipped_for(network) is gptq.SHIPPED["3.9"]


def test_a_damaged_or_mismatched_shipped_file_is_refused():
    damaged = replace(gptq.SHIPPED["3.9"], sha256="0" * 64)
    with pytest.raises(RifeError, match=r"gptq-3\.9\.npz is damaged"):
        gptq.read_offsets(damaged)
    other = replace(gptq.SHIPPED["3.9"], weights_digest=gptq.SHIPPED["3.8"].weights_digest)
    with pytest.raises(RifeError, match="computed for other weights"):
        gptq.read_offsets(other)


def choice_with(calibrated_seconds: float) -> precisions.Choice:
    """A verdict of fast32 on which int8-gptq's whole frames took ``calibrated_seconds`` (fast32: 0.113)."""
    frames = {"fp32": 0.140, "fast32": 0.113}
    calibrated = {"fast32": 0.113, "int8-gptq": calibrated_seconds}
    return precisions.Choice("fast32", "test CPU", 2, torch.__version__, frames=frames, calibrated_frames=calibrated)


def test_the_default_takes_it_only_for_weights_it_passed_with_and_only_where_it_is_faster(v39):
    faster, slower = choice_with(0.090), choice_with(0.110)
    path, why = faster.path_for(v39)
    assert path == "int8-gptq" and "model 3.9" in why and "90 against 113 ms" in why
    assert slower.path_for(v39)[0] == "fast32"  # not 5% faster
    assert faster.path_for(load_network("3.1"))[0] == "fast32"  # nothing shipped
    bits = int8.activation_top().bit_length()  # 8 with VNNI or AMX, 7 without
    for model, entry in gptq.SHIPPED.items():  # only with the activation bits it passed with
        expected = "int8-gptq" if bits in entry.default_bits else "fast32"
        assert faster.path_for(load_network(model))[0] == expected
    assert faster.speedup("int8-gptq") == pytest.approx(0.140 / 0.090)


def cache_verdict(choice: precisions.Choice, folder, monkeypatch) -> None:
    """``choice`` as this machine's cached verdict, in a cache ``folder`` of the test's own."""
    monkeypatch.setenv(precisions.CACHE_ENV, str(folder))
    precisions._write_cache(precisions._cache_key(precisions.cpu_name(), precisions.os.cpu_count() or 1), choice)


def test_the_filter_runs_and_logs_it_by_default_from_a_cached_verdict(tmp_path, monkeypatch):
    cache_verdict(choice_with(0.090), tmp_path, monkeypatch)
    lines = log_lines(lambda: core.rife.RIFE(small_clip(), model="3.9", quality="fast").get_frame(1))
    assert any("(int8-gptq)" in line for line in lines), lines
    assert any("precision int8-gptq: calibrated for these weights of model 3.9" in line for line in lines), lines
    lines = log_lines(lambda: core.rife.RIFE(small_clip(), model="3.1", quality="fast").get_frame(1))
    assert any("(fast32)" in line for line in lines), lines


def test_the_precision_command_names_the_models_with_a_path_of_their_own(tmp_path, monkeypatch):
    cache_verdict(choice_with(0.090), tmp_path, monkeypatch)
    result = subprocess.run(
        [sys.executable, "-m", "vsrife", "precision"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "default CPU path: fast32" in result.stdout
    for model in gptq.SHIPPED:  # all downloaded (official_weights)
        assert f"model {model}: int8-gptq, calibrated for these weights of model {model}" in result.stdout
