"""Every command line explains itself: help text on every option, a useful bare `python -m vsrife`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from training.__main__ import build_parser as training_parser
from vsrife.__main__ import build_parser as vsrife_parser
from vsrife.benchmark import build_parser as benchmark_parser
from vsrife.dedup_study import build_parser as dedup_study_parser
from vsrife.int8_calibration import build_parser as int8_calibration_parser
from vsrife.int8_calibration import main as int8_calibration_main
from vsrife.int8_study import build_parser as int8_study_parser
from vsrife.int8_study import main as int8_study_main
from vsrife.quality_study import build_parser as quality_study_parser
from vsrife.scene import build_parser as scene_parser
from vsrife.soak import build_parser as soak_parser

from .conftest import ROOT


def script_parser(relative: str) -> argparse.ArgumentParser:
    """``build_parser()`` of a script that is not a package module (examples/, tools/)."""
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_").removesuffix(".py"), ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_parser()


PARSERS = {
    "python -m vsrife": vsrife_parser,
    "python -m training": training_parser,
    "python -m vsrife.benchmark": benchmark_parser,
    "python -m vsrife.scene": scene_parser,
    "python -m vsrife.soak": soak_parser,
    "python -m vsrife.dedup_study": dedup_study_parser,
    "python -m vsrife.int8_study": int8_study_parser,
    "python -m vsrife.int8_calibration": int8_calibration_parser,
    "python -m vsrife.quality_study": quality_study_parser,
    "examples/demo.py": lambda: script_parser("examples/demo.py"),
    "tools/compact_conformance.py": lambda: script_parser("tools/compact_conformance.py"),
}


def walk(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every option and positional of ``parser`` and of its subcommands, with the command it belongs to."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, f"{prefix} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield prefix, action


@pytest.mark.parametrize("command", PARSERS)
def test_every_option_has_help(command):
    actions = list(walk(PARSERS[command](), command))
    assert actions
    missing = [f"{where}: {'/'.join(a.option_strings) or a.dest}" for where, a in actions if not (a.help or "").strip()]
    assert not missing, missing


@pytest.mark.parametrize("command", PARSERS)
def test_help_renders(command):
    """Formatting the help of every (sub)command works (a stray % in a help text would raise here)."""

    def render(parser: argparse.ArgumentParser) -> None:
        assert parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    render(child)

    render(PARSERS[command]())


def test_training_options_show_their_defaults():
    text = training_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "(default: 300)" in " ".join(text.split())  # --epochs, from TrainConfig


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vsrife", *args], capture_output=True, text=True, cwd=ROOT)


def test_bare_command_lists_commands_and_the_next_step():
    result = run()
    assert result.returncode == 0, result.stderr
    assert "models" in result.stdout and "python -m vsrife models download 3.9" in result.stdout


@pytest.mark.parametrize("command", ["study", "calibration"])
def test_int8_study_and_calibration_refuse_models_they_cannot_take(
    official_weights, capsys, tmp_path, monkeypatch, command
):
    """3.1 has no IFBlock bodies (int8 would be fast32 there); missing weights name the download command.
    The calibration says so before its minute of work, and writes nothing."""
    out = tmp_path / "gptq.npz"
    main = int8_study_main if command == "study" else lambda a: int8_calibration_main([*a, "--out", str(out)])
    assert main(["--model", "3.1"]) == 2
    assert "model 3.1 has no int8 path" in capsys.readouterr().err
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))  # an empty store
    assert main(["--model", "4.22"]) == 2
    assert "models download 4.22" in capsys.readouterr().err
    assert not out.exists()


def test_path_of_a_missing_model_fails(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vsrife", "models", "path", "4.22"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "VSRIFE_MODEL_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "not downloaded" in result.stderr and "models download 4.22" in result.stderr


def test_precision_shows_the_verdict_and_measures_again_on_request(tmp_path):
    env = {**os.environ, "VSRIFE_CACHE_DIR": str(tmp_path)}

    def precision(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "vsrife", "precision", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)

    first = precision()  # nothing cached: measured now
    assert first.returncode == 0, first.stderr
    assert "default CPU path:" in first.stdout and "measured now" in first.stdout
    for _ in range(3):  # a verdict taken while other processes were busy is provisional: measured again
        cache = json.loads((tmp_path / "precision.json").read_text())
        second = precision()
        if "(cached)" in second.stdout:
            break
    assert "(cached)" in second.stdout and str(tmp_path) in second.stdout, (first.stdout, second.stdout)
    again = precision("--measure")
    assert "measured now" in again.stdout
    assert json.loads((tmp_path / "precision.json").read_text()) != cache  # a new measurement replaced it
