"""Conversion between the user's format and the RGB float the network sees, and back.

Per frame, the colorimetry comes from the frame's props (``_Matrix``, ``_Transfer``, ``_Primaries``,
``_Range``, ``_ChromaLocation``; mpv's ``_ColorSpace`` when ``_Matrix`` is absent, and the pre-R81
``_ColorRange``, whose 0/1 mean the opposite of ``_Range``'s, when ``_Range`` is) and, where a prop is
missing or unspecified, from the usual defaults: BT.709 above 1279x576, BT.601 below (470bg for 576-line,
170m otherwise), limited range for YUV and full for RGB, left-sited chroma. The same rule picks the
parameters of the conversion to RGB and of the one back, so interpolated frames land exactly where their
neighbours are: a mismatch between the two directions is what makes other tools' interpolated frames
brighter or tinted every other frame.

VapourSynth's resizers take colorimetry as filter arguments, not per frame, so :class:`Converter` keeps one
resize node per distinct colorimetry and picks it per frame with ``std.FrameEval``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import vapoursynth as vs

from .nodes import uncached

core = vs.core

UNSPECIFIED = 2  # _Matrix/_Transfer/_Primaries value meaning "not known"


@dataclass(frozen=True)
class Colorimetry:
    """The conversion-relevant description of a frame; ``None`` means "not needed / keep"."""

    matrix: int | None
    range: int  # as R81's _Range and the resizers' `range`: 1 full, 0 limited (vs.RANGE_FULL, vs.RANGE_LIMITED)
    chromaloc: int | None
    transfer: int | None
    primaries: int | None

    def resize_args(self, direction: str) -> dict[str, int]:
        """Arguments for ``resize.*`` between this YUV/gray colorimetry and full-range RGB (``direction``:
        ``"in"`` from this to RGB, ``"out"`` back). Both sides are given: the frames' props are removed
        before the resizers, which otherwise prefer them to these arguments."""
        suffix, rgb_side = ("_in", "range") if direction == "in" else ("", "range_in")
        args: dict[str, int] = {f"range{suffix}": self.range, rgb_side: int(vs.RANGE_FULL)}
        if self.matrix is not None:
            args[f"matrix{suffix}"] = self.matrix
        if self.chromaloc is not None:
            args[f"chromaloc{suffix}"] = self.chromaloc
        # matrices such as 2020cl need the transfer; give it on both sides so nothing gets converted
        for name in ("transfer", "primaries"):
            value = getattr(self, name)
            if value is not None:
                args[f"{name}_in"] = value
                args[name] = value
        return args


def default_matrix(width: int, height: int) -> int:
    if width > 1279 or height > 576:
        return 1  # BT.709
    return 5 if height == 576 else 6  # BT.470bg (PAL) / SMPTE 170M: the same BT.601 coefficients


# The values zimg (VapourSynth's resizers) accepts for each prop, as H.273 numbers them.
VALID = {
    "_Matrix": frozenset({0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}),
    "_ColorSpace": frozenset({0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}),
    "_Transfer": frozenset({1, 2, 4, 5, 6, 7, 8, 11, 13, 14, 15, 16, 18}),
    "_Primaries": frozenset({1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 22}),
    "_Range": frozenset({0, 1}),
    "_ColorRange": frozenset({0, 1}),
    "_ChromaLocation": frozenset({0, 1, 2, 3, 4, 5}),
}
COLORIMETRY_PROPS = tuple(VALID)

Complain = Callable[[str], None]


def int_prop(props: Mapping[str, Any], key: str, complain: Complain | None = None) -> int | None:
    """An integer frame prop read as VapourSynth's own filters read it: ``None`` when absent, and also when
    it holds another type (text, a float, a list) or a value outside :data:`VALID`, which ``complain`` is
    told about (real files carry such props; the documented default then applies)."""
    if key not in props:
        return None
    value = props[key]
    if isinstance(value, int) and not isinstance(value, bool) and value in VALID.get(key, (value,)):
        return value
    if complain is not None:
        complain(f"ignoring {key}={value!r} (not a valid value); using the default instead")
    return None


def _specified(props: Mapping[str, Any], key: str, complain: Complain | None) -> int | None:
    value = int_prop(props, key, complain)
    return None if value == UNSPECIFIED else value


def colorimetry_of(
    props: Mapping[str, Any], fmt: vs.VideoFormat, width: int, height: int, complain: Complain | None = None
) -> Colorimetry:
    """The colorimetry of a frame with these props, defaults filled in as the module docstring says; invalid
    props count as absent (``complain`` hears about each)."""
    rgb = fmt.color_family == vs.RGB
    matrix = None
    if not rgb:
        matrix = _specified(props, "_Matrix", complain)
        if matrix is None:
            matrix = _specified(props, "_ColorSpace", complain)  # what mpv sets (libav numbering = H.273)
        if matrix == 0 and complain is not None:
            complain(f"ignoring _Matrix=0 (RGB) on a {fmt.name} clip; using the default for its size instead")
        if matrix is None or matrix == 0:
            matrix = default_matrix(width, height)
    color_range = _range_of(props, complain)
    if color_range is None:
        color_range = vs.RANGE_FULL if rgb else vs.RANGE_LIMITED
    chromaloc = None
    if fmt.color_family == vs.YUV and fmt.subsampling_w:
        chromaloc = int_prop(props, "_ChromaLocation", complain) or 0  # left-sited, the usual default
    transfer = _specified(props, "_Transfer", complain) if matrix in (11, 12, 13, 14) else None
    primaries = _specified(props, "_Primaries", complain) if matrix in (11, 12, 13, 14) else None
    return Colorimetry(matrix, int(color_range), chromaloc, transfer, primaries)


def _range_of(props: Mapping[str, Any], complain: Complain | None) -> int | None:
    value = int_prop(props, "_Range", complain)
    if value is not None:
        return value
    if "_Range" not in props and "_ColorRange" in props:  # older writers, e.g. mpv: 0 full, 1 limited
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = int_prop(props, "_ColorRange", complain)
        if old is not None:
            return vs.RANGE_FULL if old == 0 else vs.RANGE_LIMITED
    return None


class Converter:
    """Per-frame, prop-driven conversion of ``clip`` to ``RGBS`` and of RGBS clips back to its format."""

    def __init__(self, clip: vs.VideoNode, complain: Complain | None = None) -> None:
        self.clip = clip
        self.format = clip.format
        self.width, self.height = clip.width, clip.height
        self._lock = threading.Lock()
        self._complain = complain
        self._heard: set[str] = set()

    def colorimetry(self, frame: vs.VideoFrame) -> Colorimetry:
        return colorimetry_of(frame.props, self.format, self.width, self.height, self.complain_once)

    def complain_once(self, message: str) -> None:
        """Each distinct complaint once per filter: a bad prop is usually on every frame."""
        if self._complain is not None and message not in self._heard:
            self._heard.add(message)
            self._complain(message)

    def to_rgb(self, clip: vs.VideoNode | None = None) -> vs.VideoNode:
        """``clip`` (default: the source) as RGBS, each frame converted with its own colorimetry."""
        clip = clip or self.clip
        nodes: dict[Colorimetry, vs.VideoNode] = {}
        # The resizers prefer a frame's colorimetry props to their arguments, and invalid ones stop them (a
        # YUV frame with _Matrix=0): they convert frames without those props, everything given as arguments
        # read from the props of the frames as they are (the FrameEval's prop source).
        bare = uncached(clip.std.RemoveFrameProps(COLORIMETRY_PROPS))

        def convert(c: Colorimetry) -> vs.VideoNode:
            if self.format.color_family == vs.GRAY:
                gray = bare.resize.Point(format=vs.GRAYS, range_in=c.range, range=vs.RANGE_FULL)
                rgb = core.std.ShufflePlanes([gray, gray, gray], [0, 0, 0], vs.RGB)
                return rgb.std.SetFrameProps(_Matrix=0)  # RGB now: the gray frame's matrix no longer applies
            if self.format.color_family == vs.RGB:
                return bare.resize.Point(format=vs.RGBS, range_in=c.range, range=vs.RANGE_FULL)
            return bare.resize.Bicubic(format=vs.RGBS, **c.resize_args("in"))

        template = clip.std.BlankClip(format=vs.RGBS, keep=True)
        return self._per_frame(template, clip, nodes, convert, extra_src=bare)

    def from_rgb(self, rgb: vs.VideoNode, props_src: vs.VideoNode) -> vs.VideoNode:
        """RGBS ``rgb`` back in the source format, with the colorimetry of the matching ``props_src`` frame."""
        nodes: dict[Colorimetry, vs.VideoNode] = {}
        rgb = uncached(rgb.std.RemoveFrameProps(COLORIMETRY_PROPS))  # the left frame's, as RGB: see to_rgb

        def convert(c: Colorimetry) -> vs.VideoNode:
            if self.format.color_family == vs.RGB:
                return rgb.resize.Point(format=self.format.id, range_in=vs.RANGE_FULL, range=c.range)
            if self.format.color_family == vs.GRAY:
                # the three channels are (nearly) equal for gray input; the luma weights average them
                return rgb.resize.Point(format=self.format.id, matrix=1, range_in=vs.RANGE_FULL, range=c.range)
            return rgb.resize.Bicubic(format=self.format.id, **c.resize_args("out"))

        template = props_src
        return self._per_frame(template, props_src, nodes, convert, extra_src=rgb)

    def _per_frame(
        self,
        template: vs.VideoNode,
        props_src: vs.VideoNode,
        nodes: dict[Colorimetry, vs.VideoNode],
        convert: Callable[[Colorimetry], vs.VideoNode],
        extra_src: vs.VideoNode | None = None,
    ) -> vs.VideoNode:
        def pick(n: int, f: vs.VideoFrame) -> vs.VideoNode:
            c = self.colorimetry(f)
            node = nodes.get(c)
            if node is None:
                with self._lock:
                    node = nodes.setdefault(c, uncached(convert(c)))
            return node

        sources = [props_src] if extra_src is None else [props_src, extra_src]
        return uncached(core.std.FrameEval(template, pick, prop_src=props_src, clip_src=sources))
