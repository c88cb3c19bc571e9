"""YAML documents (configs/published, configs/reproduce, explained differences, protocol files), parsed by
libyaml's C parser where PyYAML was built with it.

The documents are those of ``yaml.safe_load`` (tests/test_yamldoc.py compares every committed config), parsed 8x
faster: every report reads all published tables, and the pure-Python parser spent 0.9 s on them.
"""

from __future__ import annotations

from typing import Any

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The document in ``text``, as ``yaml.safe_load`` reads it (plain data only; ``yaml.YAMLError`` if malformed)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  # a safe loader, C or Python
