"""Memory settings for speed: PyTorch's huge-page switch is requested on import, before torch allocates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")

PROBE = """
import os, sys
{before}
import vsrife
import torch
big = torch.ones(64 * 2**20 // 4)  # 64 MiB: mapped fresh, the case huge pages are for
huge_kb = sum(int(line.split()[1]) for line in open("/proc/self/smaps") if line.startswith("AnonHugePages:"))
print(os.environ.get("THP_MEM_ALLOC_ENABLE"), huge_kb)
"""


def probe(before: str = "", **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE", "VSRIFE_MALLOC_TUNING")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before)],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1])


def huge_pages_possible() -> bool:
    return THP_SETTING.exists() and ("[always]" in THP_SETTING.read_text() or "[madvise]" in THP_SETTING.read_text())


def test_huge_pages_are_requested_when_vsrife_comes_first():
    setting, huge_kb = probe()
    assert setting == "1"
    if huge_pages_possible():
        assert huge_kb >= 2048, "torch's large buffers should sit on transparent huge pages"


def test_opt_out_and_too_late_leave_torch_alone():
    assert probe(VSRIFE_MALLOC_TUNING="0")[0] == "None"
    assert probe(before="import torch")[0] == "None"  # torch already decided: nothing half-applied
    assert probe(THP_MEM_ALLOC_ENABLE="0")[0] == "0"  # the user's choice stands


@pytest.mark.skipif(not huge_pages_possible(), reason="this kernel has transparent huge pages disabled")
def test_without_the_switch_there_are_no_huge_pages():
    """The control for the first test: the huge pages come from the switch, not from the system's default."""
    assert probe(VSRIFE_MALLOC_TUNING="0")[1] == 0 or "[always]" in THP_SETTING.read_text()


FAULTS_PROBE = """
import resource, threading
import vsrife
import torch
from vsrife.allocator import tune_allocator
tuned = tune_allocator()
faults = []

def frames():  # on a thread started after tuning, as the filter runs the network; buffers freed after each use
    torch.empty({floats}).fill_(1.0)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        torch.empty({floats}).fill_(1.0)
    faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / 10)

worker = threading.Thread(target=frames)
worker.start()
worker.join()
print(tuned, faults[0])
"""


def faults_per_buffer(mib: int = 48, **env: str) -> tuple[str, float]:
    """Page faults per use of a ``mib`` MiB buffer, allocated and freed ten times on a worker thread."""
    environment = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE", "VSRIFE_MALLOC_TUNING")}
    script = FAULTS_PROBE.format(floats=mib * 2**20 // 4)
    out = subprocess.run(
        [sys.executable, "-c", script], env={**environment, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], float(out[1])


def test_large_buffers_are_reused_not_mapped_fresh():
    """A buffer above glibc's 32 MiB mmap ceiling, freed and allocated again on a worker thread: without the
    settings each use maps it fresh (one fault per 4 KiB page, ~12,000); with them the heap keeps its pages
    (seen here: ~50 faults a use, one per 2 MiB huge page where torch's aligned block does not fit the hole
    the last one left)."""
    untuned, control = faults_per_buffer(VSRIFE_MALLOC_TUNING="0")
    assert untuned == "False" and control > 5000
    tuned, faults = faults_per_buffer()
    assert tuned == "True" and faults < control / 10


def test_blocks_beyond_a_threads_own_heap_are_reused_too():
    """100 MiB, more than the 64 MiB heaps of a thread's own arena, which glibc maps fresh for every such
    block whatever M_MMAP_MAX says (3.9 at 1080p has two): the thread shares the main heap instead. Seen
    here: 25,600 faults a use untuned, ~560 with every setting but the shared arena, ~56 with it."""
    untuned, control = faults_per_buffer(100, VSRIFE_MALLOC_TUNING="0")
    assert untuned == "False" and control > 5000
    tuned, faults = faults_per_buffer(100)
    assert tuned == "True" and faults < control / 100
