"""Resampling shortcuts of the fast path: the same function as upstream's sequence, up to float rounding."""

from __future__ import annotations

import pytest
import torch

from vsrife.arch import SPECS
from vsrife.arch.layers import resize, resize_twice

from .test_conformance import inputs, synthetic_network


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
    net = synthetic_network("v4", name)
    img0, img1 = inputs()
    hidden_sizes = []
    net.block0.register_forward_hook(lambda module, args, out: hidden_sizes.append(tuple(out[2].shape[-2:])))
    with torch.inference_mode():
        reference = net(img0, img1, 0.5)
        net.reference_resampling = False
        shorter = net(img0, img1, 0.5)
    height, width = img0.shape[-2:]
    following = net.spec.scales[1]
    assert hidden_sizes == [(height, width), (height // following, width // following)]
    assert (shorter - reference).abs().max() < 1e-4
