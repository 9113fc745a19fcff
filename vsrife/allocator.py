"""Keep freed CPU buffers for reuse instead of returning them to the system after every frame.

Each interpolated HD frame allocates and frees a few hundred MB of temporaries. glibc's malloc hands blocks
above an adaptive threshold (at most 32 MiB) back to the kernel with munmap, so the next frame touches fresh
pages again: page faults, and the kernel zeroing every page, are slow in virtual machines (``getrusage``'s
``ru_minflt`` shows them per frame). :func:`tune_allocator` therefore

* turns off malloc's use of mmap for large blocks (``M_MMAP_MAX = 0``): every block, however large, comes
  from the heap and goes back to it. Blocks of threads other than the main one, which glibc serves from
  per-thread heaps of at most 64 MiB, fall back to the main heap when they do not fit. Measured with
  ``getrusage`` in-process: 2,000-6,000 faults per frame become 0-100, and 1080p frames got 20-28% faster
  (4.22 on the main thread, 3.9 on a worker thread as in VapourSynth);
* raises the trim threshold (1 GiB), so that the heap keeps its freed top instead of shrinking every frame.

The heap then stays at the process's peak, which a video filter reaches on its first frames anyway.
PyTorch's own switch ``THP_MEM_ALLOC_ENABLE`` asks for transparent huge pages for its large buffers (one
fault per 2 MiB instead of per 4 KiB when a buffer is new). PyTorch reads it once, at its first allocation,
so :func:`request_huge_pages` sets it when vsrife is imported, if torch is not imported yet and the
variable is not set.
This is process-wide, which suits a video filter's process; set ``VSRIFE_MALLOC_TUNING=0`` to leave the
allocators alone. It does nothing outside glibc (huge pages: outside Linux).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1024 * 1024 * 1024

_done = False
_lock = threading.Lock()


def tune_allocator() -> bool:
    """Apply the settings once per process; returns whether they are in effect."""
    global _done
    with _lock:
        if _done:
            return True
        if os.environ.get("VSRIFE_MALLOC_TUNING", "1") == "0":
            return False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            mallopt = libc.mallopt if libc is not None else None
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is None:
            return False
        # with mmap off, the mmap threshold decides nothing (and glibc stops adapting it)
        settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        _done = all(mallopt(option, value) for option, value in settings)
        return _done


def request_huge_pages() -> bool:
    """Set ``THP_MEM_ALLOC_ENABLE=1`` for PyTorch's CPU allocator unless it is too late (torch imported),
    already decided (the variable is set) or opted out of; returns whether it is now requested."""
    if os.environ.get("VSRIFE_MALLOC_TUNING", "1") == "0" or "torch" in sys.modules:
        return os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    return os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
