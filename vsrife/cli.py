"""What every command line of the project shares: help that shows defaults, and lists of names."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends ``(default: X)`` to an option's help when it has a default
    worth showing (not a flag's, not ``None`` or empty) and the help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        flag = action.nargs == 0  # --x / --no-x: the help says what giving it does
        hidden = flag or default is None or default is argparse.SUPPRESS or default in ("", [])
        if "%(default)" in text or "default:" in text or hidden:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            shown = " ".join(default) if isinstance(default, list) else "%(default)s"
            return f"{text} (default: {shown})"
        return text


def parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """An argument parser with :class:`HelpFormatter`."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)


def subcommand(sub: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` repeats its one-line summary and shows defaults."""
    return sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
