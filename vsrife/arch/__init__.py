"""Network definitions for the whole RIFE family, shared by the plugin and `training/`."""

from .ifnet import IFNet, IFNet31, build_network
from .specs import SPECS, ArchSpec, get_spec

__all__ = ["SPECS", "ArchSpec", "IFNet", "IFNet31", "build_network", "get_spec"]
