"""Keep freed CPU buffers for reuse instead of returning them to the system after every frame.

Each interpolated HD frame allocates and frees a few hundred MB of temporaries. glibc's malloc hands blocks
above an adaptive threshold (at most 32 MiB) back to the kernel with munmap, so the next frame touches fresh
pages again: page faults, and the kernel zeroing every page, are slow in virtual machines (``getrusage``'s
``ru_minflt`` shows them per frame). :func:`tune_allocator` therefore

* turns off malloc's use of mmap for large blocks (``M_MMAP_MAX = 0``): every block, however large, comes
  from the heap and goes back to it. Measured with ``getrusage`` in-process: 2,000-6,000 faults per frame
  become 0-100, and 1080p frames got 20-28% faster (4.22 on the main thread, 3.9 on a worker thread as in
  VapourSynth);
* raises the trim threshold (1 GiB), so that the heap keeps its freed top instead of shrinking every frame;
* makes threads that allocate for the first time from now on share the existing arenas (``M_ARENA_MAX =
  1``) instead of each getting its own. A thread's own arena grows in heaps of at most 64 MiB, and glibc
  maps a larger block with mmap whatever ``M_MMAP_MAX`` says, then unmaps it when it is freed. The network
  runs on a thread of its own (:func:`vsrife.filter._workers`; the filter tunes before starting it), and
  at 1080p two of its blocks are larger (3.9: the finest block's 12-channel input, 101 MB, and its first
  convolution's output, 67 MB): strace showed both mapped and unmapped in every frame, ~1,300 faults a
  frame. From the main heap they are reused: 0 faults, and through ``vspipe`` (AMX Xeon, ``bf16``, three
  rounds in turns) 0.354 -> 0.277 s per frame at 1080p, unchanged at 720p (docs/performance.md). Threads
  that allocated before keep their arenas; many threads allocating at once could contend for the shared
  ones (``VSRIFE_MALLOC_TUNING=0`` opts out).

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
M_ARENA_MAX = -8
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
        settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_ARENA_MAX, 1))
        _done = all(mallopt(option, value) for option, value in settings)
        return _done


def request_huge_pages() -> bool:
    """Set ``THP_MEM_ALLOC_ENABLE=1`` for PyTorch's CPU allocator unless it is too late (torch imported),
    already decided (the variable is set) or opted out of; returns whether it is now requested."""
    if os.environ.get("VSRIFE_MALLOC_TUNING", "1") == "0" or "torch" in sys.modules:
        return os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    return os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
