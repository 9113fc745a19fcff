"""The RIFE model family as data: one :class:`ArchSpec` per released network.

Upstream ships one near-identical Python file per version. Everything that actually differs between them is
captured here, and :class:`vsrife.arch.ifnet.IFNet` builds any of them from its spec. The table was derived
from the original implementations (ECCV2022-RIFE, the ``vsrife`` 1.0.0 / 2.0.0 / 5.6.0 packages) and is
pinned down numerically by the conformance fixtures in ``tests/test_conformance.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Body(Enum):
    """How an IFBlock refines its features between the stride-4 encoder and the output head."""

    GROUPED_RESIDUAL = "grouped_residual"  # 3.x: `convblock0..k`, each two conv+PReLU with a skip connection
    RESIDUAL = "residual"  # 3.9, 4.0, 4.1, paper: eight conv+PReLU in `convblock`, one skip around them
    PLAIN = "plain"  # 4.2-4.4: eight conv+LeakyReLU, no skip
    RESCONV = "resconv"  # 4.5+: eight ResConv units (learned `beta`, LeakyReLU)


class Head(Enum):
    """How an IFBlock turns features back into flow (and mask, and hidden features)."""

    FLOW_HALF = "flow_half"  # 3.1: `conv1` deconv to 4 channels at half resolution, no mask
    SPLIT = "split"  # 3.5: `conv1` (flow) and `conv2` (mask) deconvs, then x2 bilinear
    SPLIT_DEEP = "split_deep"  # 3.8: two deconvs each for flow and mask, full resolution
    DECONV = "deconv"  # 3.9-4.4, paper: `lastconv` deconv to 5 channels, then x2 bilinear
    PIXEL_SHUFFLE = "pixel_shuffle"  # 4.5+: `lastconv` deconv to 4*k channels + PixelShuffle(2)

    @property
    def upsample(self) -> int:
        """Extra bilinear up-sampling the head needs to reach the block's input resolution."""
        return 2 if self in (Head.SPLIT, Head.DECONV) else 1


class Wiring(Enum):
    """What each IFBlock receives."""

    V3 = "v3"  # 3.5, 3.8: (warped0, warped1, mask) + flow, starting from zero flow and mask
    # 3.9, 4.x: block 0 (img0, img1, [feat0, feat1], t),
    # then (warped0, warped1, [warped feat0, warped feat1], t, mask, [hidden]) + flow
    V4 = "v4"
    PAPER = "paper"  # ECCV 2022: block 0 (img0, img1, [t]); then (img0, img1, [t], warped0, warped1, mask) + flow
    V31 = "v31"  # 3.1: flows at half resolution, no mask, FusionNet refinement (own forward)


class Adaptive(Enum):
    """Data-dependent changes of the flow resolution that some upstream versions make at run time."""

    NONE = "none"
    PROBE = "probe"  # 3.8: probe block 0 at half resolution; large motion doubles every block's scale
    RERUN = "rerun"  # 3.9, 4.0, 4.1: large flow from block 1 doubles every scale and re-runs blocks 0 and 1


class Ensemble(Enum):
    """Whether each block is also run on the time-reversed input and the two answers averaged."""

    NO = "no"
    OPTIONAL = "optional"
    ALWAYS = "always"  # 3.5 always does it


@dataclass(frozen=True)
class EncoderSpec:
    """The per-frame feature encoder of v4.7+ (``encode.*`` keys).

    ``names`` are the state-dict names of its layers: ``("0", "1")`` and ``("0", "2", "4", "6")`` for the
    ``nn.Sequential`` versions (activations take the odd indices), ``("cnn0", ...)`` for the ``Head`` class.
    """

    hidden: int
    out_channels: int
    names: tuple[str, ...]
    activation: bool = True
    clamp_input: bool = False


PLAIN_ENCODER = EncoderSpec(16, 4, ("0", "1"), activation=False)


def sequential_encoder(hidden: int, out_channels: int) -> EncoderSpec:
    return EncoderSpec(hidden, out_channels, ("0", "2", "4", "6"))


def head_encoder(hidden: int, out_channels: int) -> EncoderSpec:
    return EncoderSpec(hidden, out_channels, ("cnn0", "cnn1", "cnn2", "cnn3"), clamp_input=True)


@dataclass(frozen=True)
class ArchSpec:
    """Everything that distinguishes one RIFE network from another.

    ``widths`` are the IFBlocks' feature channels, ``scales`` the down-sampling factor each block works at
    (divided by the user's ``scale``). ``pad_multiple`` is the size both image sides are zero-padded to a
    multiple of (itself divided by ``scale`` when that is larger).
    """

    name: str
    widths: tuple[int, ...]
    scales: tuple[float, ...]
    wiring: Wiring
    body: Body
    head: Head
    activation: str = "prelu"  # of the two strided input convolutions (and of PLAIN/RESIDUAL bodies)
    head_channels: int = 5  # channels per output pixel: 4 flow, 1 mask, then unused or hidden features
    body_groups: int = 1  # GROUPED_RESIDUAL: number of groups; RESCONV: convolution groups
    encoder: EncoderSpec | None = None
    hidden_channels: int = 0  # features passed from block to block (4.21+)
    timestep: bool = True
    ensemble: Ensemble = Ensemble.OPTIONAL
    mask_accumulates: bool = True  # 4.7+ replace the mask with each block's output instead of adding
    adaptive: Adaptive = Adaptive.NONE
    clamp_inputs: bool = False
    resize_input: bool = False  # 3.1, 3.5: resize the frames by `scale` instead of dividing block scales
    refine: bool = False  # Contextnet + U-Net residual refinement, run at inference
    refine_modules: bool = False  # the network owns Contextnet + U-Net (3.9 carries them but never runs them)
    teacher: bool = False  # the privileged-distillation teacher block is part of the network
    pad_multiple: int = 32
    ignored_keys: tuple[str, ...] = ()  # prefixes of keys official files carry that inference does not use
    notes: str = ""

    @property
    def num_blocks(self) -> int:
        return len(self.widths)

    @property
    def feature_channels(self) -> int:
        return self.encoder.out_channels if self.encoder else 0

    def block_in_channels(self, index: int) -> int:
        """Input channels of IFBlock ``index`` (``-1`` for the teacher), flow included."""
        t = 1 if self.timestep else 0
        if self.wiring is Wiring.V31:
            return 6 if index == 0 else 6 + 4
        if self.wiring is Wiring.V3:
            return 3 + 3 + 1 + 4 + (3 if index == -1 else 0)
        if self.wiring is Wiring.PAPER:
            if index == 0:
                return 6 + t
            return 12 + t + 1 + 4 + (3 if index == -1 else 0)
        feats = 2 * self.feature_channels
        if index == 0:
            return 6 + feats + t
        return 6 + feats + t + 1 + self.hidden_channels + 4

    @property
    def can_ensemble(self) -> bool:
        return self.ensemble is not Ensemble.NO

    def padded_multiple(self, scale: float) -> int:
        """The multiple both sides are padded to at this ``scale`` (upstream: ``max(m, int(m / scale))``)."""
        return max(self.pad_multiple, int(self.pad_multiple / scale))


def _v4(
    name: str,
    widths: tuple[int, ...] = (192, 128, 96, 64),
    scales: tuple[float, ...] = (8, 4, 2, 1),
    **kw,
) -> ArchSpec:
    """A v4.5+ network: ResConv body, pixel-shuffle head, LeakyReLU."""
    defaults = dict(
        wiring=Wiring.V4,
        body=Body.RESCONV,
        head=Head.PIXEL_SHUFFLE,
        activation="leaky",
        head_channels=6,
        clamp_inputs=True,
        mask_accumulates=False,
    )
    defaults.update(kw)
    return ArchSpec(name, widths, scales, **defaults)  # type: ignore[arg-type]


def _v4_hidden(name: str, widths: tuple[int, ...], encoder: EncoderSpec, **kw) -> ArchSpec:
    """4.21+: 8 hidden channels passed between blocks, no ensemble."""
    return _v4(name, widths, encoder=encoder, head_channels=13, hidden_channels=8, ensemble=Ensemble.NO, **kw)


HEAD8 = head_encoder(32, 8)
HEAD4 = head_encoder(16, 4)
FIVE_BLOCKS = (16, 8, 4, 2, 1)

_V4_EARLY = dict(wiring=Wiring.V4, body=Body.RESIDUAL, head=Head.DECONV, clamp_inputs=True)

SPECS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in [
        # --- RIFE 3.x (vsrife 1.0.0 / 2.0.0): real weights on the package registry -----------------------
        ArchSpec(
            "3.1",
            (160, 160, 160),
            (4, 2, 1),
            Wiring.V31,
            Body.GROUPED_RESIDUAL,
            Head.FLOW_HALF,
            body_groups=3,
            head_channels=4,
            timestep=False,
            ensemble=Ensemble.NO,
            resize_input=True,
            notes="IFNet flows at half resolution + ContextNet/FusionNet refinement",
        ),
        ArchSpec(
            "3.5",
            (90, 90, 90),
            (4, 2, 1),
            Wiring.V3,
            Body.GROUPED_RESIDUAL,
            Head.SPLIT,
            body_groups=4,
            timestep=False,
            ensemble=Ensemble.ALWAYS,
            resize_input=True,
            teacher=True,
            notes="always ensembled; with scale != 1 reproduces upstream's flow normalisation",
        ),
        ArchSpec(
            "3.8",
            (90, 90, 90),
            (4, 2, 1),
            Wiring.V3,
            Body.GROUPED_RESIDUAL,
            Head.SPLIT_DEEP,
            body_groups=4,
            timestep=False,
            adaptive=Adaptive.PROBE,
            ignored_keys=("block_tea.",),
            notes="probes motion size first and doubles the flow scales for large motion",
        ),
        ArchSpec(
            "3.9",
            (192, 128, 96, 64),
            (8, 4, 2, 1),
            Wiring.V4,
            Body.RESIDUAL,
            Head.DECONV,
            adaptive=Adaptive.RERUN,
            refine_modules=True,
            pad_multiple=128,
            ignored_keys=("block_tea.",),
            notes="first model with a timestep input; carries an unused Contextnet/U-Net",
        ),
        # --- RIFE 4.x (Practical-RIFE, as packaged by vs-rife 5.6.0) -----------------------------------------
        ArchSpec("4.0", (192, 128, 96, 64), (8, 4, 2, 1), **_V4_EARLY, adaptive=Adaptive.RERUN),
        ArchSpec("4.1", (192, 128, 96, 64), (8, 4, 2, 1), **_V4_EARLY, adaptive=Adaptive.RERUN),
        *[
            ArchSpec(
                v,
                (192, 128, 96, 64),
                (8, 4, 2, 1),
                Wiring.V4,
                Body.PLAIN,
                Head.DECONV,
                activation="leaky",
                clamp_inputs=True,
            )
            for v in ("4.2", "4.3", "4.4")
        ],
        _v4("4.5", head_channels=5, mask_accumulates=True),
        _v4("4.6", mask_accumulates=True),
        *[_v4(v, encoder=PLAIN_ENCODER) for v in ("4.7", "4.8", "4.9")],
        *[_v4(v, encoder=sequential_encoder(32, 8)) for v in ("4.10", "4.11", "4.12")],
        _v4("4.12.lite", (128, 96, 64, 48), encoder=sequential_encoder(32, 4)),
        _v4("4.13", encoder=HEAD8),
        _v4("4.13.lite", (128, 96, 64, 48), encoder=sequential_encoder(32, 4)),
        _v4("4.14", encoder=HEAD8),
        _v4("4.14.lite", encoder=HEAD8, body_groups=2),
        _v4("4.15", encoder=HEAD8),
        *[_v4(v, (128, 96, 64, 48), encoder=HEAD4) for v in ("4.15.lite", "4.16.lite", "4.17.lite")],
        *[_v4(v, encoder=HEAD8) for v in ("4.17", "4.18", "4.19")],
        _v4("4.20", (384, 192, 96, 48), encoder=HEAD8),
        *[_v4_hidden(v, (256, 192, 96, 48), HEAD8) for v in ("4.21", "4.22", "4.23")],
        _v4_hidden("4.22.lite", (192, 128, 64, 32), HEAD4),
        _v4("4.24", encoder=HEAD8),
        _v4_hidden("4.25", (192, 128, 96, 64, 32), HEAD4, scales=FIVE_BLOCKS, pad_multiple=64),
        _v4_hidden("4.25.lite", (192, 128, 96, 64, 24), HEAD4, scales=(32, 16, 8, 4, 1), pad_multiple=128),
        _v4_hidden("4.25.heavy", (384, 256, 192, 128, 64), HEAD4, scales=FIVE_BLOCKS, pad_multiple=64),
        _v4_hidden("4.26", (192, 128, 96, 64, 32), HEAD4, scales=FIVE_BLOCKS, pad_multiple=64),
        _v4_hidden("4.26.heavy", (192, 128, 96, 64, 32), head_encoder(16, 16), scales=FIVE_BLOCKS, pad_multiple=64),
        # --- ECCV 2022 paper networks (ECCV2022-RIFE `model/IFNet.py`, `IFNet_m.py`) ---------------------------
        ArchSpec(
            "rife-paper",
            (240, 150, 90),
            (4, 2, 1),
            Wiring.PAPER,
            Body.RESIDUAL,
            Head.DECONV,
            timestep=False,
            ensemble=Ensemble.NO,
            refine=True,
            refine_modules=True,
            teacher=True,
            notes="RIFE (Vimeo90K): 3 student blocks, privileged teacher, Contextnet + U-Net",
        ),
        ArchSpec(
            "rife-paper-m",
            (240, 150, 90),
            (4, 2, 1),
            Wiring.PAPER,
            Body.RESIDUAL,
            Head.DECONV,
            ensemble=Ensemble.NO,
            refine=True,
            refine_modules=True,
            teacher=True,
            notes="RIFEm: the paper network with a timestep input (arbitrary-time interpolation)",
        ),
    ]
}


def get_spec(name: str) -> ArchSpec:
    """Look up an architecture by version name (``"4.25"``, ``"3.9"``, ``"rife-paper"`` ...)."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown RIFE architecture {name!r}; known: {', '.join(SPECS)}") from None
