"""Resampling shortcuts of the fast path: the same function as upstream's sequence, up to float rounding."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F

from vsrife.arch import SPECS, kernels
from vsrife.arch.layers import PReLU, ResConv, resize, resize_twice, warp_pair, warp_pair_resized
from vsrife.weights import load_network

from .reference import inputs
from .test_conformance import synthetic_network

KERNELS_MISSING = "the kernel library is built by setup.py (make venv)"
needs_kernels = pytest.mark.skipif(not kernels.available(), reason=KERNELS_MISSING)


def hidden_transitions() -> set[tuple[float, float]]:
    """(up-sampling of block i's output, down-sampling of block i+1) for every version with hidden features."""
    pairs = set()
    for spec in SPECS.values():
        if spec.hidden_channels:
            for scale, following in zip(spec.scales, spec.scales[1:], strict=False):
                pairs.add((float(scale * spec.head.upsample), float(following)))
    return pairs


@pytest.mark.parametrize("up, down", sorted(hidden_transitions() | {(8.0, 8.0), (6.0, 2.0), (4.0, 4.0), (3.0, 1.0)}))
def test_resize_twice_equals_the_two_resizes(up, down):
    torch.manual_seed(0)
    x = torch.randn(1, 8, 24, 40) * 10
    direct = resize_twice(x, up, down)
    in_turn = resize(resize(x, up), 1.0 / down)
    assert direct.shape == in_turn.shape
    assert (direct - in_turn).abs().max() < 1e-5  # float rounding of values up to ~40


def test_the_shortcut_is_taken_between_blocks():
    """Every hidden-feature transition of the zoo qualifies: no full-size intermediate is ever built."""
    assert hidden_transitions()
    for up, down in hidden_transitions():
        ratio = up / down
        assert down == 1 or (ratio.is_integer() and int(ratio) % 2 == 0), (up, down)


@pytest.mark.parametrize("name", ["4.22", "4.25"])
def test_shorter_resampling_matches_upstream_order_in_float32(name):
    net = copy.deepcopy(synthetic_network("v4", name))  # the fixture's network is shared: don't change it
    img0, img1 = inputs()
    hidden_sizes = []
    predict = net.block0.predict

    def recording_predict(*args, **kwargs):
        out = predict(*args, **kwargs)
        hidden_sizes.append(tuple(out[2].shape[-2:]))
        return out

    net.block0.predict = recording_predict
    with torch.inference_mode():
        reference = net(img0, img1, 0.5)
        net.reference_resampling = False
        shorter = net(img0, img1, 0.5)
    height, width = img0.shape[-2:]
    following = net.spec.scales[1]
    assert hidden_sizes == [(height, width), (height // following, width // following)]
    assert (shorter - reference).abs().max() < 1e-4


@needs_kernels
@pytest.mark.parametrize("factor", [2.0, 4.0, 16.0])
def test_fused_upsample_accumulate_matches_pytorch(factor):
    torch.manual_seed(1)
    n, h, w = 2, 12, 20
    update = torch.randn(n, 5, h, w) * 3
    flow = torch.randn(n, 4, int(h * factor), int(w * factor))
    mask = torch.randn(n, 1, int(h * factor), int(w * factor))
    scaled = resize(torch.cat((update[:, :4] * factor, update[:, 4:]), 1), factor)
    cases = {
        "flow and mask": ([flow, mask], scaled + torch.cat((flow, mask), 1)),
        "mask replaced": ([flow], scaled + torch.cat((flow, torch.zeros_like(mask)), 1)),
        "first block": ([], scaled),
        "strided base": ([torch.cat((flow, mask), 1)[:, :4], mask], scaled + torch.cat((flow, mask), 1)),
    }
    for name, (bases, expected) in cases.items():
        out = kernels.upsample_accumulate(update, factor, 4, bases)
        assert out.shape == expected.shape, name
        assert (out - expected).abs().max() < 1e-4, name


@needs_kernels
def test_fused_kernels_reject_what_they_cannot_take():
    with pytest.raises(ValueError, match="float32 CPU"):
        kernels.upsample_accumulate(torch.zeros(1, 5, 4, 4, dtype=torch.float64), 2.0, 4, [])
    with pytest.raises(ValueError, match="does not match"):
        kernels.upsample_accumulate(torch.zeros(1, 5, 4, 4), 2.0, 4, [torch.zeros(1, 4, 4, 4)])


@pytest.mark.parametrize("use_kernels", [True, False])
def test_fast_path_with_and_without_kernels_matches_reference_in_float32(official_weights, monkeypatch, use_kernels):
    """The fast path's update step, fused or with the PyTorch fallback, against upstream's order (3.9, real
    weights: deconv heads, adaptive re-run check; 4.25: hidden features)."""
    if not use_kernels:
        monkeypatch.setattr(kernels, "usable", lambda x: False)
    elif not kernels.available():
        pytest.skip(KERNELS_MISSING)
    img0, img1 = inputs()
    moved = torch.roll(img0, shifts=70, dims=3)  # 70 px: 3.9 re-runs its coarse blocks (> 32 px both ways)
    cases = [
        (load_network("3.9"), img1),
        (load_network("3.9"), moved),
        (copy.deepcopy(synthetic_network("v4", "4.25")), img1),
    ]
    for net, other in cases:
        with torch.inference_mode():
            reference = net(img0, other, 0.5)
            net.reference_resampling = False
            fast = net(img0, other, 0.5)
        assert (fast - reference).abs().max() < 1e-4, net.spec.name


@needs_kernels
def test_fused_prelu_and_packing_are_bit_exact():
    torch.manual_seed(2)
    for dtype in (torch.bfloat16, torch.float32):
        for channels in (48, 75):  # 75 (3.9's conv0): not a whole number of vectors per pixel
            x = (torch.randn(1, channels, 30, 50) * 4).to(dtype).contiguous(memory_format=torch.channels_last)
            x[0, 0, 0, 0] = float("nan")
            slope = (torch.rand(channels) - 0.2).to(dtype)
            expected = F.prelu(x, slope)
            assert torch.equal(kernels.prelu_(x.clone(), slope).nan_to_num(7.0), expected.nan_to_num(7.0))
    assert not kernels.bf16_usable(x) and not kernels.bf16_usable(x.contiguous())
    assert not kernels.prelu_usable(x.contiguous()) and not kernels.prelu_usable(x.double())
    assert not kernels.prelu_usable(x.clone().requires_grad_())  # training keeps autograd's PReLU

    full = torch.randn(1, 6, 30, 50) * 100
    parts = [full[:, 1:4], torch.randn(1, 1, 30, 50), torch.rand(1, 4, 30, 50)]  # a strided view among them
    packed = kernels.pack_channels_last(parts)
    assert packed.is_contiguous(memory_format=torch.channels_last) and packed.dtype == torch.float32
    assert torch.equal(packed, torch.cat(parts, 1).contiguous(memory_format=torch.channels_last))
    assert not kernels.pack_usable([*parts, torch.rand(1, 1, 15, 25)])

    # into some channels of a wider channels-last image: the rest untouched
    wide = torch.full((1, 13, 30, 50), -5.0).contiguous(memory_format=torch.channels_last)
    into = kernels.pack_channels_last(parts, out=wide[:, 2:10])
    assert into.data_ptr() == wide[:, 2:10].data_ptr()
    assert torch.equal(wide[:, 2:10], packed)
    assert (wide[:, :2] == -5).all() and (wide[:, 10:] == -5).all()
    for wrong in (wide[:, 2:9], torch.empty(1, 8, 30, 50)):  # too few channels; planar
        with pytest.raises(ValueError, match="channels-last view"):
            kernels.pack_channels_last(parts, out=wrong)


@needs_kernels
def test_prelu_and_resconv_follow_every_change_of_their_weights():
    """They keep their per-channel weights tiled for the kernels between calls; each way a weight can change
    must show in the next output."""
    torch.manual_seed(9)
    prelu, resconv = PReLU(32), ResConv(32)
    x = torch.randn(1, 32, 10, 14).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)

    def check() -> None:
        with torch.no_grad():
            assert torch.equal(prelu(x.clone()), F.prelu(x, prelu.weight))
            y = resconv.conv(x)
            assert torch.equal(resconv(x), F.leaky_relu(y * resconv.beta + x, 0.2))

    for module in (prelu, resconv):
        module.to(torch.bfloat16, memory_format=torch.channels_last)  # new .data under the same Parameter
    check()
    with torch.no_grad():  # in place, as an optimiser step
        prelu.weight.mul_(-3)
        resconv.beta.add_(0.5)
    check()
    prelu.load_state_dict({"weight": torch.rand(32).to(torch.bfloat16)})
    resconv.beta = torch.nn.Parameter(torch.rand(1, 32, 1, 1).to(torch.bfloat16))  # another tensor
    check()


@needs_kernels
def test_weights_made_in_inference_mode_are_followed_too():
    """A network built under ``torch.inference_mode`` has weights without version counters (this crashed the
    path probe on CPUs where bfloat16 is timed whole); an in-place change there must still show."""
    torch.manual_seed(10)
    x = torch.randn(1, 32, 10, 14).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        prelu, resconv = PReLU(32).to(torch.bfloat16), ResConv(32).to(torch.bfloat16)
        assert torch.equal(prelu(x.clone()), F.prelu(x, prelu.weight))
        prelu.weight.mul_(-3)
        resconv.beta.add_(0.5)
        assert torch.equal(prelu(x.clone()), F.prelu(x, prelu.weight))
        assert torch.equal(resconv(x), F.leaky_relu(resconv.conv(x) * resconv.beta + x, 0.2))


@needs_kernels
def test_prelu_shared_by_threads_from_its_first_call():
    """Streams share one network: threads that call a fresh PReLU at once must each get the right output."""
    torch.manual_seed(11)
    x = torch.randn(1, 32, 10, 14).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)

    def call(prelu: PReLU, start: threading.Barrier) -> torch.Tensor:
        start.wait()
        with torch.no_grad():
            return prelu(x.clone())

    for _ in range(50):
        prelu = PReLU(32).to(torch.bfloat16)
        start = threading.Barrier(4)
        with ThreadPoolExecutor(4) as pool:
            outputs = list(pool.map(call, [prelu] * 4, [start] * 4))
        assert all(torch.equal(out, F.prelu(x, prelu.weight)) for out in outputs)


@pytest.mark.parametrize("down", [2.0, 4.0, 8.0, 16.0])
def test_warping_only_what_the_down_sampling_reads(down):
    torch.manual_seed(3)
    pair = torch.rand(2, 3, 128, 192)
    flow = resize(torch.randn(1, 4, 8, 12) * 12, 16.0).contiguous()
    direct = warp_pair_resized(pair, flow, down)
    full = [resize(w, 1.0 / down) for w in warp_pair(pair, flow)]
    for a, b in zip(direct, full, strict=True):
        assert a.shape == b.shape
        assert (a - b).abs().max() < 1e-6


@needs_kernels
@pytest.mark.parametrize("down", [1, 2, 4, 16])
def test_fused_warp_and_down_sampling_match_pytorch(down):
    """Frames (3 channels, padded) and features (8, channels-last as the encoder leaves them) in one pass."""
    torch.manual_seed(4)
    height, width = 96, 160
    frames = resize(torch.rand(2, 3, 12, 20), 8.0)  # smooth, like video
    features = resize(torch.randn(2, 8, 12, 20), 8.0).contiguous(memory_format=torch.channels_last)
    flow = (resize(torch.randn(1, 4, 3, 5), 32.0) * 15).contiguous()  # up to ~50 px, off the edges too
    flow[:, :, :4, :4] = float(width)  # clamped to the border
    layouts = [kernels.warp_layout(x[i : i + 1]) for x in (frames, features) for i in range(2)]
    assert layouts[0].shape == (1, 4, height, width) and layouts[0].data_ptr() % 16 == 0
    assert layouts[2].data_ptr() == features[0:1].data_ptr()  # already in the layout: not copied
    fused = kernels.warp_sources([(*layouts[:2], 3), (*layouts[2:], 8)], flow, down)
    expected = [resize(w, 1.0 / down) for x in (frames, features) for w in warp_pair(x, flow)]
    assert fused.shape == (1, 22, height // down, width // down)
    # the sampling point is pixel + flow here, grid_sample's is normalised and back: ~1e-5 px apart
    assert (fused - torch.cat(expected, 1)).abs().max() < 1e-4
    # written straight into the leading channels of a block's channels-last input: the same numbers
    block_input = torch.full((1, 25, height // down, width // down), 7.0).contiguous(memory_format=torch.channels_last)
    kernels.warp_sources([(*layouts[:2], 3), (*layouts[2:], 8)], flow, down, out=block_input[:, :22])
    assert torch.equal(block_input[:, :22], fused) and (block_input[:, 22:] == 7).all()
    with pytest.raises(ValueError, match="channels-last view"):
        kernels.warp_sources([(*layouts[:2], 3)], flow, down, out=block_input[:, :7])
    with pytest.raises(ValueError, match="does not fit"):
        kernels.warp_sources([(*layouts[:2], 3)], flow[..., :-4].contiguous(), down)
    with pytest.raises(ValueError, match="power-of-two"):
        kernels.warp_sources([(*layouts[:2], 3)], flow, 3)
    with pytest.raises(ValueError, match="warp_layout"):
        kernels.warp_sources([(torch.rand(1, 4, height, width), layouts[1], 3)], flow, down)


@needs_kernels
def test_fused_warp_and_blend_match_pytorch():
    """The result of versions without refinement: both warps and the blend by the mask in one pass."""
    torch.manual_seed(10)
    height, width = 96, 152  # 152: not a whole number of 16-point vectors
    frames = resize(torch.rand(2, 3, 12, 19), 8.0)
    flow = (resize(torch.randn(1, 4, 3, 5), 32.0)[:, :, :height, :width] * 15).contiguous()
    flow[:, :, :4, :4] = float(width)  # clamped to the border
    alpha = torch.sigmoid(torch.randn(1, 1, height, width) * 3)
    layouts = [kernels.warp_layout(frames[i : i + 1]) for i in range(2)]
    warped0, warped1 = warp_pair(frames, flow)
    fused = kernels.warp_blend(*layouts, 3, flow, alpha)
    assert fused.shape == (1, 3, height, width)
    assert (fused - (warped0 * alpha + warped1 * (1 - alpha))).abs().max() < 1e-4
    with pytest.raises(ValueError, match="does not fit"):
        kernels.warp_blend(*layouts, 3, flow, alpha[..., :-1].contiguous())
    with pytest.raises(ValueError, match="warp_layout"):
        kernels.warp_blend(frames[:1], layouts[1], 3, flow, alpha)


@needs_kernels
@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() != "AVX512", reason="this CPU runs only the baseline")
def test_baseline_and_avx512_builds_of_every_kernel_agree():
    """Each kernel is built for x86-64-v4 and for the baseline; CPUs without AVX-512 run the second, which the
    other tests never reach here. Sizes with no multiple of 16 anywhere, so that every tail loop runs. The
    bfloat16 kernels must agree bit for bit; the float32 ones up to rounding (the AVX-512 build fuses
    multiply-adds)."""
    torch.manual_seed(8)

    def bf16(c: int, h: int = 37, w: int = 53) -> torch.Tensor:
        x = (torch.randn(1, c, h, w) * 3).to(torch.bfloat16)
        return x.contiguous(memory_format=torch.channels_last)

    x, y, shuffled = bf16(60), bf16(60), bf16(52)
    slope, gain = torch.rand(60), (torch.rand(1, 60, 1, 1) * 2 - 0.5).to(torch.bfloat16)
    parts = [torch.rand(1, 3, 37, 53), torch.randn(1, 5, 37, 53)]
    update, bases = torch.randn(1, 5, 9, 13), [torch.randn(1, 4, 36, 52), torch.randn(1, 1, 36, 52)]
    height, width = 64, 104
    frames = [kernels.warp_layout(resize(torch.rand(1, 3, 8, 13), 8.0)) for _ in range(2)]
    features = [resize(torch.randn(1, 8, 8, 13), 8.0).contiguous(memory_format=torch.channels_last) for _ in range(2)]
    flow = (resize(torch.randn(1, 4, 2, 4), 32.0)[:, :, :height, :width] * 20).contiguous()
    alpha = torch.rand(1, 1, height, width)

    def run() -> dict[str, torch.Tensor]:
        out = {
            "prelu": kernels.prelu_(x.clone(), slope),
            "residual": kernels.residual_leaky_(y.clone(), gain, x, 0.2),
            "pack": kernels.pack_channels_last(list(parts)),
            "shuffle": kernels.pixel_shuffle_to_float(shuffled),
            "upsample": kernels.upsample_accumulate(update, 4.0, 4, bases),
        }
        for down in (1, 2, 4, 8):
            out[f"warp {down}"] = kernels.warp_sources([(*frames, 3), (*features, 8)], flow, down)
        out["warp and blend"] = kernels.warp_blend(*frames, 3, flow, alpha)
        return out

    avx512 = run()
    with kernels.baseline_build():
        baseline = run()
    for name in ("prelu", "residual", "pack", "shuffle"):
        assert torch.equal(avx512[name], baseline[name]), name
    for name in avx512.keys() - {"prelu", "residual", "pack", "shuffle"}:
        assert (avx512[name] - baseline[name]).abs().max() < 1e-4, name


@needs_kernels
def test_fused_pixel_shuffle_is_bit_exact():
    torch.manual_seed(5)
    x = (torch.randn(1, 52, 18, 30) * 10).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    out = kernels.pixel_shuffle_to_float(x)
    assert out.dtype == torch.float32 and out.is_contiguous() and out.shape == (1, 13, 36, 60)
    assert torch.equal(out, F.pixel_shuffle(x, 2).float())
    assert not kernels.shuffle_usable(x.contiguous()) and not kernels.shuffle_usable(x[:, :50])


@needs_kernels
@pytest.mark.parametrize("name", ["4.6", "4.26"])  # frames only; frames and encoder features
def test_warp_layouts_prepared_once_per_frame_give_the_same_frames(name):
    """The inference core lays each source frame out for the fused warp once (PreparedFrame.layout); the
    network given those gives exactly what it gives when it lays the pair out itself."""
    from vsrife.inference import Interpolator

    interpolator = Interpolator(synthetic_network("v4", name), device="cpu", precision="bf16")
    img0, img1 = inputs()
    p0, p1 = interpolator.prepare(img0), interpolator.prepare(img1)
    assert p0.layout is not None and p0.layout.is_contiguous(memory_format=torch.channels_last)
    prepared = interpolator.interpolate(p0, p1, 0.5)
    features = (p0.features, p1.features) if p0.features is not None else None
    with torch.inference_mode():
        laid_out_per_pair = interpolator.network(p0.image, p1.image, 0.5, 1.0, False, features)
    assert torch.equal(prepared, laid_out_per_pair[:, :, : p0.height, : p0.width])
    assert Interpolator(synthetic_network("v4", name), device="cpu", precision="fp32").prepare(img0).layout is None


@needs_kernels
@pytest.mark.parametrize("channels", [64, 60])
def test_fused_residual_leaky_relu_is_bit_exact(channels):
    """v4.5+'s ResConv tail, leaky_relu(conv(x) * beta + x), in one pass: PyTorch's three roundings."""
    torch.manual_seed(6)
    y, x = ((torch.randn(1, channels, 30, 50) * 3).to(torch.bfloat16) for _ in range(2))
    y, x = y.contiguous(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    beta = (torch.rand(1, channels, 1, 1) * 2 - 0.5).to(torch.bfloat16)
    expected = F.leaky_relu(y * beta + x, 0.2)
    assert torch.equal(kernels.residual_leaky_(y, beta, x, 0.2), expected)
    with pytest.raises(ValueError, match="one shape"):
        kernels.residual_leaky_(y, beta, x[:, :, :20], 0.2)
