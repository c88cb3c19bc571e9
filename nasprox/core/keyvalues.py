"""``KEY=VALUE`` command-line items (``--data-root cifar10=PATH``), parsed once for the CLI and the scripts."""

from __future__ import annotations

from nasprox.core.types import NasproxError


def parse_key_values(
    items: list[str], flag: str, *, bare_key: str | None = None, form: str = "KEY=VALUE"
) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict; a later item overrides an earlier one with the same key.

    With ``bare_key``, an item without ``=`` is a VALUE stored under that key (a ground-truth file for every
    space); without it, such an item is an error. An empty key or value is an error either way, which names
    ``form``, the flag's own words for its items (``SPACE=CSV``).
    """
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if eq and key and value:
            out[key] = value
        elif not eq and bare_key is not None and key:
            out[bare_key] = key
        else:
            raise NasproxError(f"{flag} '{item}' must look like {form}")
    return out
