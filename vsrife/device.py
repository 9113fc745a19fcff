"""Moving frames between VapourSynth and the device the network runs on.

On CUDA, frames go host -> device on a background stream from pinned buffers with non-blocking copies,
inference runs on its own stream, and results come back on a third, so copies of one frame overlap the
compute of another; each stage is serialised by its own lock, as in vs-rife. On the CPU the same calls
reduce to plain copies (the streams become no-ops): that is the path the tests exercise, since no GPU is
available where this is developed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor


def parse_device(device: str | int | None) -> torch.device:
    """``None`` -> CUDA if available else CPU; an int is a CUDA index; strings as torch understands them."""
    if device is None:
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if isinstance(device, int):
        return torch.device("cuda", device)
    return torch.device(device)


class DeviceIO:
    """Upload RGBS frames as ``1 x 3 x H x W`` tensors, run work on the compute stream, download results."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._locks = {name: threading.Lock() for name in ("upload", "compute", "download")}
        if self.cuda:
            self._streams = {name: torch.cuda.Stream(device) for name in self._locks}

    def upload(self, frame: vs.VideoFrame) -> Tensor:
        planes = [np.asarray(frame[p]) for p in range(frame.format.num_planes)]
        host = torch.empty((1, len(planes), frame.height, frame.width), dtype=torch.float32, pin_memory=self.cuda)
        for i, plane in enumerate(planes):  # also drops VapourSynth's row padding (strides)
            host[0, i].numpy()[...] = plane
        if not self.cuda:
            return host
        with self._locks["upload"], torch.cuda.stream(self._streams["upload"]):
            tensor = host.to(self.device, non_blocking=True)
            self._streams["upload"].synchronize()  # `host` may be freed once we return
        return tensor

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        """Run the body on the compute stream (CUDA) and wait for it to finish."""
        if not self.cuda:
            yield
            return
        with self._locks["compute"], torch.cuda.stream(self._streams["compute"]):
            yield
            self._streams["compute"].synchronize()

    def download(self, tensor: Tensor, like: vs.VideoFrame) -> vs.VideoFrame:
        """A new RGBS frame with ``like``'s format, size and props holding ``1 x C x H x W`` ``tensor``.

        A fresh frame rather than ``like.copy()``: the copy would duplicate every plane only to overwrite it.
        The planes are written by torch, whose copies run on all its threads (VapourSynth's rows are padded,
        so each plane is a strided view)."""
        if self.cuda:
            with self._locks["download"], torch.cuda.stream(self._streams["download"]):
                host = torch.empty(tensor.shape, dtype=torch.float32, pin_memory=True)
                host.copy_(tensor, non_blocking=True)
                self._streams["download"].synchronize()
        else:
            host = tensor.float()
        frame = vs.core.create_video_frame(like.format, like.width, like.height)
        for key, value in like.props.items():
            frame.props[key] = value
        for p in range(frame.format.num_planes):
            torch.from_numpy(np.asarray(frame[p])).copy_(host[0, p])
        return frame
