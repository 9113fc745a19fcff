"""Exceptions with messages a user can act on. The VapourSynth layer re-raises them as ``vs.Error``."""

from __future__ import annotations


class RifeError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class UnknownModelError(RifeError, KeyError):
    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class WeightsMissingError(RifeError, FileNotFoundError):
    pass


class HashMismatchError(RifeError):
    pass


class ArchitectureMismatchError(RifeError):
    pass


class DownloadError(RifeError):
    pass
