"""The int8 path: its activation kernels against PyTorch, its convolutions against float arithmetic, and
whole networks against the float32 reference (quality on real footage: tests/test_inference.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vsrife import int8_calibration, precisions
from vsrife.arch import build_network, get_spec, int8, kernels
from vsrife.arch.kernels import Quantizer
from vsrife.errors import RifeError
from vsrife.inference import Interpolator
from vsrife.int8_study import (
    VARIANTS,
    WIDE_TOP,
    SimulatedBody,
    Simulation,
    Variant,
    check_simulable,
    gptq_rounding,
    interpolator,
)
from vsrife.weights import load_network

from .conftest import psnr
from .reference import inputs
from .test_conformance import synthetic_network
from .test_layers import KERNELS_MISSING

needs_kernels = pytest.mark.skipif(not kernels.available(), reason=KERNELS_MISSING)


def channels_last(*shape: int, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return (torch.randn(*shape) * 2).contiguous(memory_format=torch.channels_last)


@pytest.fixture(params=["this CPU's build", "baseline build"])
def build(request):
    """Each kernel on the build this CPU picks (AVX2 or AVX-512 where it has them) and on the baseline one."""
    if request.param == "baseline build":
        if not kernels.available():
            pytest.skip(KERNELS_MISSING)
        with kernels.baseline_build():
            yield request.param
    else:
        yield request.param


@needs_kernels
@pytest.mark.parametrize("channels", [64, 60, 5])
def test_activation_kernels_match_pytorch(build, channels):
    x = channels_last(1, channels, 23, 37)
    slope = torch.rand(channels) * 0.5 - 0.1  # PReLU slopes may be negative
    activated = F.prelu(x, slope)
    assert kernels.value_range(x) == (x.min().item(), x.max().item())
    assert kernels.value_range(x, slope) == pytest.approx((activated.min().item(), activated.max().item()))
    quantizer = Quantizer.spanning(*kernels.value_range(x, slope), top=127)
    expected = quantizer.reference(activated)
    q = kernels.prelu_quantize_(x.clone(), slope, quantizer)
    assert q.dtype == torch.uint8 and q.is_contiguous(memory_format=torch.channels_last)
    # one code at most: x * (1 / scale) may round once differently when the compiler fuses multiply and add
    assert (q.int() - expected.int()).abs().max() <= 1 and (q != expected).float().mean() < 1e-3
    plain = kernels.quantize_u8(x, quantizer)
    assert (plain.int() - quantizer.reference(x).int()).abs().max() <= 1
    y = x.clone()
    assert kernels.prelu_quantize_(y, slope, None) is None
    assert torch.allclose(y, activated)
    residual = x.clone()
    conv_out = channels_last(1, channels, 23, 37, seed=1)
    lo, hi = kernels.residual_leaky_float_(residual, conv_out, 0.2)
    assert torch.allclose(residual, F.leaky_relu(conv_out + x, 0.2)) and (lo, hi) == (
        residual.min().item(),
        residual.max().item(),
    )


def test_the_fallbacks_compute_the_same_as_the_kernels():
    """Without the library (or for layouts it does not take) the PyTorch operations run instead."""
    x = torch.randn(1, 8, 9, 11)  # planar: the kernels do not take it
    slope = torch.rand(8)
    quantizer = Quantizer.spanning(-1.0, 3.0, 255)
    assert torch.equal(kernels.prelu_quantize_(x, slope, quantizer), quantizer.reference(F.prelu(x, slope)))
    assert kernels.value_range(x, slope) == (F.prelu(x, slope).min().item(), F.prelu(x, slope).max().item())


def test_quantizer_keeps_zero_exact():
    for lo, hi in [(-1.3, 4.2), (0.2, 5.0), (-3.0, -0.5)]:
        q = Quantizer.spanning(lo, hi, 127)
        assert q.reference(torch.zeros(1)).item() == q.zero_point  # zero padding stays zero
        assert 0 <= q.zero_point <= 127


def test_activation_bits_are_the_ones_this_cpu_computes_exactly():
    """8-bit activations where the int8 convolutions take them without overflow (VNNI, AMX), else 7."""
    top = int8.activation_top()
    assert top in (127, 255)
    conv = torch.nn.Conv2d(64, 64, 3, 1, 1)
    layer = int8.Int8Conv2d(conv)
    q = torch.randint(0, top + 1, (1, 64, 12, 16), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    quantizer = Quantizer(0.02, 10, top)
    out = layer(q, quantizer)
    weight = torch.round(conv.weight / layer.weight_scales.reshape(-1, 1, 1, 1)).clamp(-127, 127)
    exact = F.conv2d((q.float() - 10) * 0.02, weight * layer.weight_scales.reshape(-1, 1, 1, 1), conv.bias, 1, 1)
    assert (out - exact).abs().max() < 1e-4 * exact.abs().max()


def test_int8_weights_are_packed_for_each_input_shape_and_never_reordered_per_call():
    """Packed without the input's shape, oneDNN reordered the weights before every convolution whose kernel
    wanted another layout: 22 ms before a 1 ms convolution (192 channels at 24 x 40) with AVX-512 VNNI and no
    AMX. In a fresh process with oneDNN's log on, capped to that instruction set where the CPU has it (an
    AVX2 CPU runs as it is): after each shape's first call, no reorder changes the weights' layout. (oneDNN
    still applies the zero-point compensation per call, in place: ~0.2 ms, not a layout change.)"""
    code = (
        "import torch\n"
        "from vsrife.arch import int8, kernels\n"
        "from vsrife.arch.kernels import Quantizer\n"
        "torch.manual_seed(0)\n"
        "for channels, height, width in ((192, 24, 40), (128, 48, 80), (192, 32, 48)):\n"
        "    layer = int8.Int8Conv2d(torch.nn.Conv2d(channels, channels, 3, 1, 1))\n"
        "    x = torch.rand(1, channels, height, width).contiguous(memory_format=torch.channels_last)\n"
        "    quantizer = Quantizer.spanning(0.0, 1.0, int8.activation_top())\n"
        "    q = kernels.quantize_u8(x, quantizer)\n"
        "    layer(q, quantizer)\n"
        "    print('--- calls', flush=True)\n"
        "    for _ in range(3):\n"
        "        layer(q, quantizer)\n"
        "    print('--- done', flush=True)\n"
    )
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    if "avx512_vnni" in precisions.cpu_features().split():
        env["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE_VNNI"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    calls = [part.split("--- done")[0] for part in result.stdout.split("--- calls")[1:]]
    assert len(calls) == 3
    convolutions = [line for part in calls for line in part.splitlines() if ",exec,cpu,convolution," in line]
    assert len(convolutions) == 9, result.stdout[-2000:]
    relayouts = []
    for line in (line for part in calls for line in part.splitlines() if ",exec,cpu,reorder," in line):
        formats = [field.split(":")[4] for field in line.split(",")[8].split() if field.startswith(("src:", "dst:"))]
        if len(set(formats)) > 1:
            relayouts.append(line)
    assert relayouts == [], relayouts[:3]


def test_an_int8_convolution_keeps_packed_weights_for_a_few_shapes_and_computes_the_same():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 16, 3, 1, 1)
    layer = int8.Int8Conv2d(conv)
    quantizer = Quantizer.spanning(0.0, 1.0, int8.activation_top())
    sizes = [(8 + 4 * i, 12 + 2 * i) for i in range(int8.MAX_PACKED_SHAPES + 2)]
    for height, width in sizes + sizes[:1]:  # the first shape again, after it was dropped
        x = torch.rand(1, 16, height, width).contiguous(memory_format=torch.channels_last)
        q = kernels.quantize_u8(x, quantizer)
        weight = layer.q_weight.float() * layer.weight_scales.reshape(-1, 1, 1, 1)
        exact = F.conv2d((q.float() - quantizer.zero_point) * quantizer.scale, weight, conv.bias, 1, 1)
        out = layer(q, quantizer)
        assert (out - exact).abs().max() < 1e-4 * exact.abs().max()
    assert len(layer._packed) == int8.MAX_PACKED_SHAPES
    assert (1, 16, *sizes[0]) in layer._packed and (1, 16, *sizes[1]) not in layer._packed


def test_folded_gain_equals_the_gain_after_the_convolution():
    conv = torch.nn.Conv2d(16, 16, 3, 1, 1)
    gain = torch.rand(1, 16, 1, 1) + 0.5
    x = torch.rand(1, 16, 10, 12).contiguous(memory_format=torch.channels_last)
    quantizer = Quantizer.spanning(0.0, 1.0, int8.activation_top())
    q = kernels.quantize_u8(x, quantizer)
    folded = int8.Int8Conv2d(conv, gain=gain)(q, quantizer)
    dequantized = (q.float() - quantizer.zero_point) * quantizer.scale
    expected = F.conv2d(dequantized, conv.weight, conv.bias, 1, 1) * gain
    assert (folded - expected).abs().max() < 0.02 * expected.abs().max()  # int8 weights: ~1% per weight


@pytest.mark.parametrize(
    ("group", "name", "least_db"),
    [
        ("v4", "4.0", 38),  # conv + PReLU body with a skip (3.9-4.1)
        ("v4", "4.2", 45),  # conv + LeakyReLU body
        ("v4", "4.6", 20),  # ResConv units: synthetic weights let activations grow to ~200 over 8 units
        ("v4", "4.26", 25),
        ("paper", "rife-paper", 45),
    ],
)
def test_each_body_kind_runs_in_int8_close_to_the_reference(group, name, least_db):
    """Synthetic weights: the int8 network's frame against the float32 reference's (real weights, where
    they can be had, are held to the quality bar on real footage instead)."""
    net = synthetic_network(group, name)
    int8_path = Interpolator(net, precision="int8")
    assert any(isinstance(m, int8.Int8Conv2d) for m in int8_path.network.modules())
    reference = Interpolator(net, precision="fp32").interpolate(*inputs(), 0.5)
    assert psnr(int8_path.interpolate(*inputs(), 0.5), reference) > least_db


@pytest.mark.usefixtures("official_weights")
def test_grouped_bodies_of_the_older_models_run_in_int8():
    net = load_network("3.8")
    frame = Interpolator(net, precision="int8").interpolate(*inputs(), 0.5)
    assert psnr(frame, Interpolator(net, precision="fp32").interpolate(*inputs(), 0.5)) > 45


def test_int8_is_cpu_only():
    with pytest.raises(Exception, match="precision='int8' runs on CPU only"):
        Interpolator(synthetic_network("v4", "4.0"), precision="int8", device="cuda")


def test_the_study_options_choose_blocks_and_activation_bits():
    """vsrife.int8_study builds its variants with these: only the chosen blocks' bodies change."""
    net = precisions.get("fast32").apply(synthetic_network("v4", "4.0"))
    int8.quantize_network(net, top=127, blocks=(0, 2))
    quantized = [isinstance(block.convblock, int8.Int8Chain) for block in net.blocks]
    assert quantized == [True, False, True, False]
    assert net.blocks[0].convblock.top == 127


def test_the_study_simulates_the_int8_path_it_explains():
    """vsrife.int8_study's sim- variants say where int8 loses accuracy: with every rounding on, the float
    simulation computes what the int8 chain does; with none, the float body itself."""
    net = precisions.get("fast32").apply(synthetic_network("v4", "4.0"))
    layers = net.blocks[3].convblock
    top = int8.activation_top()
    torch.manual_seed(4)
    x = (torch.rand(1, layers[0][0].in_channels, 24, 32) * 3).contiguous(memory_format=torch.channels_last)
    chain = int8.Int8Chain(
        [int8.Int8Conv2d(pair[0]) for pair in layers],
        [int8.activation_slope(pair[1], pair[0].out_channels) for pair in layers],
        top,
    )
    with torch.inference_mode():
        real = chain(x)
        simulated = SimulatedBody(layers, Simulation("nearest", "tensor"), top)(x)
        weights_only = SimulatedBody(layers, Simulation("nearest", None), top)(x)
        exact = SimulatedBody(layers, Simulation(None, None), top)(x)
        reference = layers(x.clone())
    # measured: 0.3-0.5% of the mean magnitude apart (a few values a quantisation step apart), against
    # 1.4% for the weights' rounding alone
    error = (simulated - real).abs().mean()
    assert error < 0.008 * real.abs().mean() and (weights_only - real).abs().mean() > 2 * error
    assert torch.allclose(exact, reference, atol=1e-5)
    with pytest.raises(RifeError, match="bodies of convolution"):  # ResConv units: not simulated
        interpolator(synthetic_network("v4", "4.6"), VARIANTS["sim-weights"])


def test_gptq_rounds_to_the_grid_with_less_output_error(official_weights):
    """GPTQ, measured on a real frame pair's statistics of 3.9's finest body: every weight on the int8
    path's grid, and the layer's output error E|(W - Q) x|² below rounding each weight to nearest."""
    network = load_network("3.9")
    statistics = int8_calibration.collect(network, frames={"bikes.mp4": [20]}, positions=4000)
    name = "block3.convblock.2.0"
    conv = int8.body_convolutions(network)[name]
    moments = statistics[name].second_moments
    assert moments.shape == (conv.in_channels * 9,) * 2 and torch.allclose(moments, moments.T)
    weight = conv.weight.detach().float()
    values, scales = int8.round_weights(weight)
    nearest = values.float() * scales.reshape(-1, 1, 1, 1)
    gptq = int8_calibration.gptq_round(weight, moments)
    codes = gptq / scales.reshape(-1, 1, 1, 1)
    assert torch.allclose(codes, codes.round(), atol=1e-3) and codes.abs().max() <= 127 + 1e-3

    def output_error(rounded):
        delta = (weight - rounded).reshape(weight.shape[0], -1).double()
        return torch.einsum("oi,ij,oj->", delta, moments.double(), delta).item()

    # measured: 1.4% of nearest's error on this layer (in-sample: the statistics GPTQ was fitted to)
    assert output_error(gptq) < 0.5 * output_error(nearest)


def test_smoothing_alone_changes_nothing_but_the_rounding():
    """SmoothQuant's rescaling, simulated without rounding, is the float body itself: the scales divide the
    input and multiply the weights' columns."""
    net = precisions.get("fast32").apply(synthetic_network("v4", "4.0"))
    layers = net.blocks[2].convblock
    torch.manual_seed(5)
    x = torch.rand(1, layers[0][0].in_channels, 16, 24) * 3
    stats = [
        int8_calibration.InputStatistics(torch.eye(pair[0].in_channels * 9), torch.rand(pair[0].in_channels) + 0.1)
        for pair in layers
    ]
    with torch.inference_mode():
        smoothed = SimulatedBody(layers, Simulation(None, None, smoothing=0.5), 255, stats)(x)
        reference = layers(x.clone())
    assert torch.allclose(smoothed, reference, atol=1e-4)
    assert any(not torch.all(d == 1) for d in SimulatedBody(layers, Simulation(None, None, 0.5), 255, stats).divisors)


def test_calibration_frames_are_outside_the_quality_set():
    """The calibrated study variants are judged on the quality set: none of their frames may be in it."""
    from vsrife.benchmark import TRIPLETS

    for clip, centres in int8_calibration.CALIBRATION_FRAMES.items():
        used = {n + d for n in centres for d in (-1, 0, 1)}
        judged = {n + d for n in TRIPLETS.get(clip, []) for d in (-1, 0, 1)}
        assert not used & judged, clip


def test_the_study_widens_only_the_finest_blocks_activations():
    """The wide variants give the finest blocks 16-bit activation codes (two uint8 planes), simulated:
    those bodies come far closer to the float body than with 8-bit codes; the other blocks keep 8 bits."""
    net = synthetic_network("v4", "4.0")
    path = interpolator(net, Variant("test", 255, simulated=Simulation(None, "tensor"), wide_finest=1))
    assert [block.convblock.top for block in path.network.blocks] == [255, 255, 255, WIDE_TOP]
    layers = precisions.get("fast32").apply(synthetic_network("v4", "4.0")).blocks[3].convblock
    torch.manual_seed(6)
    x = torch.rand(1, layers[0][0].in_channels, 16, 24) * 3
    with torch.inference_mode():
        reference = layers(x.clone())
        errors = [
            (SimulatedBody(layers, Simulation(None, "tensor"), top)(x) - reference).abs().mean()
            for top in (255, WIDE_TOP)
        ]
    assert errors[1] < errors[0] / 50  # 256 times finer steps


def test_simulated_variants_leave_the_blocks_they_do_not_name_in_float32():
    net = synthetic_network("v4", "4.0")
    path = interpolator(net, Variant("test", 255, blocks=(0, 2), simulated=Simulation(None, "tensor")))
    simulated = [isinstance(block.convblock, SimulatedBody) for block in path.network.blocks]
    assert simulated == [True, False, True, False]


def test_block_variants_say_when_a_model_has_no_block_left_in_float32(official_weights):
    finest_float = VARIANTS["8bit-blocks012"]
    assert not finest_float.leaves_no_block_float(synthetic_network("v4", "4.0"))  # 4 blocks: block 3 stays
    three_blocks = load_network("3.8")
    assert len(three_blocks.blocks) == 3 and finest_float.leaves_no_block_float(three_blocks)
    assert not VARIANTS["8bit"].leaves_no_block_float(three_blocks)


@needs_kernels
@pytest.mark.parametrize("bits", [8, 7])
def test_wide_activation_planes_match_pytorch(build, bits):
    """Two planes, high * 2^bits + low, hold the wide code of the activated values (of the plain ones for a
    chain's input), to one code as the other activation kernels."""
    x = channels_last(1, 60, 23, 37)
    slope = torch.rand(60) * 0.5 - 0.1
    for values, given in ((F.prelu(x, slope), slope), (x, None)):
        quantizer = Quantizer.spanning(values.min().item(), values.max().item(), (1 << 2 * bits) - 1)
        high, low = kernels.quantize_planes(x, quantizer, bits, given)
        assert high.dtype == low.dtype == torch.uint8 and high.is_contiguous(memory_format=torch.channels_last)
        assert int(high.max()) < 1 << bits and int(low.max()) < 1 << bits
        codes = (high.int() << bits) + low.int()
        expected = torch.round(values / quantizer.scale + quantizer.zero_point).clamp(0, quantizer.top).int()
        assert (codes - expected).abs().max() <= 1 and (codes != expected).float().mean() < 1e-3
        planar = kernels.quantize_planes(x.contiguous(), quantizer, bits, given)  # the PyTorch fallback
        assert ((planar[0].int() << bits) + planar[1].int() - expected).abs().max() <= 1


def test_the_two_planes_dequantize_to_the_wide_value():
    quantizer = Quantizer.spanning(-1.7, 5.3, 65535)
    high_q, low_q = quantizer.planes(8)
    codes = torch.tensor([0, 1, 255, 256, quantizer.zero_point, 40000, 65535], dtype=torch.float64)
    high, low = torch.div(codes, 256, rounding_mode="floor"), codes % 256
    split = high_q.scale * (high - high_q.zero_point) + low_q.scale * (low - low_q.zero_point)
    assert torch.allclose(split, quantizer.scale * (codes - quantizer.zero_point), rtol=0, atol=1e-9)
    with pytest.raises(ValueError):
        Quantizer.spanning(-1.0, 1.0, 255).planes(8)


@needs_kernels
def test_a_wide_chain_follows_the_float_chain_far_closer_than_the_plain_one():
    """The real int8 convolutions on two planes (oneDNN's sum post-op adding the low plane's): against the
    same layers in float32 with the same int8 weights, the error of 8-bit (or 7-bit) activations shrinks
    by more than 20x, and nothing else changes. Widening only the first two layers' inputs lands between."""
    layers = precisions.get("fast32").apply(synthetic_network("v4", "4.0")).blocks[3].convblock
    convs = [int8.Int8Conv2d(pair[0]) for pair in layers]
    slopes = [int8.activation_slope(pair[1], pair[0].out_channels) for pair in layers]
    top = int8.activation_top()
    torch.manual_seed(7)
    x = (torch.rand(1, layers[0][0].in_channels, 16, 24) * 3).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        reference = x
        for conv, slope in zip(convs, slopes, strict=True):
            weight = conv.q_weight.float() * conv.weight_scales.reshape(-1, 1, 1, 1)
            reference = F.prelu(F.conv2d(reference, weight, conv.bias, padding=1), slope)
        chains = [int8.Int8Chain(convs, slopes, top, wide=wide, wide_layers=n) for wide, n in CHAIN_WIDTHS]
        plain, first_two, wide = [(chain(x) - reference).abs().mean() for chain in chains]
    assert wide < plain / 20 and wide < first_two < plain
    assert chains[1].wide_inputs == [True, True] + [False] * (len(convs) - 2) and chains[1].wide
    assert not chains[0].wide and all(chains[2].wide_inputs)


CHAIN_WIDTHS = [(False, None), (True, 2), (True, None)]  # plain, the first two layers' inputs wide, all wide


def test_the_finest_blocks_wide_layers_are_counted_across_its_pairs():
    """3.x's bodies are pairs of layers with a skip: ``finest_wide_layers`` counts the finest block's layers
    through its pairs in order; the other wide blocks keep every layer wide."""
    network = precisions.get("fast32").apply(build_network(get_spec("3.8")).eval())
    int8.quantize_network(network, top=int8.activation_top(), wide_finest=2, finest_wide_layers=3)
    finest, second = ([c for n, c in b.named_children() if n.startswith("convblock")] for b in network.blocks[:-3:-1])
    assert [flag for chain in finest for flag in chain.wide_inputs] == [True, True, True] + [False] * 5
    assert all(flag for chain in second for flag in chain.wide_inputs)


def test_coarser_wide_blocks_limit_their_wide_layers_each():
    """``coarser_wide_layers`` limits every wide block but the finest, each counted on its own; the finest
    keeps its own limit and the blocks that are not wide stay plain."""
    network = precisions.get("fast32").apply(build_network(get_spec("3.9")).eval())
    int8.quantize_network(
        network, top=int8.activation_top(), wide_finest=3, finest_wide_layers=4, coarser_wide_layers=1
    )
    widths = [block.convblock.wide_inputs for block in network.blocks]
    assert widths == [[False] * 8, [True] + [False] * 7, [True] + [False] * 7, [True] * 4 + [False] * 4]


def test_the_study_runs_wide_finest_blocks_on_the_real_path():
    net = synthetic_network("v4", "4.0")
    path = interpolator(net, Variant("test", int8.activation_top(), wide_finest=2))  # 7-bit planes without VNNI
    assert [block.convblock.wide for block in path.network.blocks] == [False, False, True, True]
    plain = Interpolator(net, precision="int8").interpolate(*inputs(), 0.5)
    reference = Interpolator(net, precision="fp32").interpolate(*inputs(), 0.5)
    assert psnr(path.interpolate(*inputs(), 0.5), reference) > psnr(plain, reference)


@needs_kernels
def test_each_blocks_conv0_runs_as_a_wide_int8_chain_when_asked():
    """The study's conv0 variants (measured and not taken: docs/performance.md) run both stride-2 layers of each
    block's conv0 on two planes: conv0's output shape, and within 0.1% of the same layers in float32 with the
    same int8 weights."""
    network = precisions.get("fast32").apply(synthetic_network("v4", "4.0"))
    float_layers = [block.conv0 for block in network.blocks]
    int8.quantize_network(network, wide_conv0=True)
    torch.manual_seed(9)
    for block, layers in zip(network.blocks, float_layers, strict=True):
        chain = block.conv0
        assert isinstance(chain, int8.Int8Chain) and chain.wide
        x = (torch.rand(1, layers[0][0].in_channels, 32, 48) * 3).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            reference = x
            for conv, pair in zip(chain.convs, layers, strict=True):
                weight = conv.q_weight.float() * conv.weight_scales.reshape(-1, 1, 1, 1)
                reference = pair[1](F.conv2d(reference, weight, conv.bias, stride=2, padding=1))
            out = chain(x)
        assert out.shape == reference.shape == (1, layers[1][0].out_channels, 8, 12)
        assert (out - reference).abs().mean() < 1e-3 * reference.abs().mean()


def test_the_real_path_takes_gptq_weights_exactly_as_the_simulation_rounds_them():
    """gptq_rounding hands quantize_network the int8 values of GPTQ's weights on the path's own grid: the
    convolutions compute with exactly the weights the simulated variants use."""
    network = precisions.get("fast32").apply(synthetic_network("v4", "4.0"))
    convs = int8.body_convolutions(network)
    names = [name for name in convs if name.startswith("block3.")]  # the finest block's: the cheapest to round
    torch.manual_seed(8)
    statistics = {}
    for name in names:
        columns = torch.randn(convs[name].in_channels * 9, 400).abs()
        statistics[name] = int8_calibration.InputStatistics(
            columns @ columns.T / 400, torch.ones(columns.shape[0] // 9)
        )
    expected = {
        name: int8_calibration.gptq_round(convs[name].weight.detach().float(), statistics[name].second_moments)
        for name in names
    }
    int8.quantize_network(network, blocks=(3,), rounding=gptq_rounding(network, statistics))
    chain = network.blocks[3].convblock
    for conv, name in zip(chain.convs, names, strict=True):
        assert torch.equal(conv.q_weight.float() * conv.weight_scales.reshape(-1, 1, 1, 1), expected[name])
        assert not torch.equal(conv.q_weight, int8.round_weights(convs[name].weight.detach().float())[0])


def test_wide_chains_are_refused_clearly_for_resconv_bodies():
    """4.5+'s ResConv bodies have no wide chain yet: the study says so before calibrating, the network code
    with a plain ValueError."""
    network = precisions.get("fast32").apply(synthetic_network("v4", "4.6"))
    with pytest.raises(RifeError, match="wide variants"):
        check_simulable(network)
    with pytest.raises(ValueError, match="ResConv"):
        int8.quantize_network(network, wide_finest=1)
