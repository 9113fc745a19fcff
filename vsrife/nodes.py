"""VapourSynth frame caching for the nodes the filter builds around the network.

Every VapourSynth node has a frame cache that, in its automatic mode, grows when frames are asked for again
after being dropped, up to the core's limit (``core.max_cache_size``: R81's default is half the machine's
memory). The filter's RGB float frames (25 MB each at 1080p) pass through a chain of its own nodes (the
conversion to RGB, the shifts and spreads onto the output timeline, the network's ``ModifyFrame`` and the
conversion back), each asked for by one consumer of the filter's: caches there only keep frames alive. Measured
at 1080p, 3.9, 40 output frames: the caches held 1 GB after 36 frames, growing by one RGB frame per output
frame (``docs/performance.md``, "Memory over a long run"). Those nodes are built :func:`uncached`; the
filter's output node keeps VapourSynth's automatic cache, so that a script asking for an output frame twice
does not run the network twice.
"""

from __future__ import annotations

import vapoursynth as vs

core = vs.core


def uncached(node: vs.VideoNode) -> vs.VideoNode:
    """``node``, its frame cache turned off (changed in place, returned for chaining)."""
    node.std.SetVideoCache(mode=0)
    return node


def shifted(clip: vs.VideoNode, offset: int) -> vs.VideoNode:
    """``clip`` with frame ``s`` showing frame ``s + offset``, clamped to the clip; nothing cached."""
    if offset > 0:
        parts = [clip[offset:], clip[-1] * offset]
    elif offset < 0:
        parts = [clip[0] * -offset, clip[:offset]]
    else:
        return clip
    return uncached(core.std.Splice([uncached(part) for part in parts]))
