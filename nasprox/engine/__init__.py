"""The engine: seeding, device choice, OOM back-off, the (arch x proxy) scoring loop."""

from nasprox.engine.runner import RunConfig, Scorer, make_space, parse_proxy_options, parse_space_options
from nasprox.engine.selection import select_archs

__all__ = ["RunConfig", "Scorer", "make_space", "parse_proxy_options", "parse_space_options", "select_archs"]
