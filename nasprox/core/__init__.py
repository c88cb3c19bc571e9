"""Core types and registries. Importing this imports no torch."""

import dataclasses
import functools

from nasprox.core.keyvalues import parse_key_values
from nasprox.core.registry import Registry, RegistryError
from nasprox.core.topology import CellTopology, dag_topology
from nasprox.core.types import (
    BATCH_SIZE_OPTION,
    BN_MODES,
    COST_CLASSES,
    FAILED_STATUSES,
    OPTION_TYPES,
    SETTING_SEPARATOR,
    STATUSES,
    ArchRef,
    InputSpec,
    NasproxError,
    ProxyContext,
    ProxyOption,
    ProxySpec,
    ProxyUndefined,
    ResultKey,
    ScoreRecord,
    SearchSpace,
    batch_setting_column,
    logits_of,
    proxy_of_column,
    validate_proxy_options,
)
from nasprox.core.yamldoc import load_yaml

SPACES: Registry = Registry("space", package="nasprox.spaces")
PROXIES: Registry = Registry("proxy", package="nasprox.proxies")


_SPEC_FIELDS = frozenset(f.name for f in dataclasses.fields(ProxySpec)) - {"name", "fn", "description"}


def register_proxy(spec: ProxySpec) -> ProxySpec:
    PROXIES.register(spec.name, spec, aliases=spec.aliases)
    return spec


def proxy(name: str, description: str, **meta):
    """Decorator: ``@proxy("snip", "...", needs_labels=True, cost="backward", options=(ProxyOption(...),))``
    above ``def snip(ctx)`` (the entry function is named after the proxy).

    Registers and returns an entry function that binds the ProxySpec to ``ctx.spec`` for the call, so
    ``ctx.opt(name)`` returns the declared, typed option (the registry's ``spec.fn`` is that function).
    """

    unknown = sorted(set(meta) - _SPEC_FIELDS)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(_SPEC_FIELDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"proxy {name}: unknown metadata field '{unknown[0]}'{hint} (allowed fields: {', '.join(sorted(_SPEC_FIELDS))})"
        )

    def wrap(fn):
        @functools.wraps(fn)
        def entry(ctx):
            previous = getattr(ctx, "spec", None)
            ctx.spec = spec
            try:
                return fn(ctx)
            finally:
                ctx.spec = previous

        spec = ProxySpec(name=name, fn=entry, description=description, **meta)
        register_proxy(spec)
        return entry

    return wrap


def space(name: str, *, aliases=()):
    """Class decorator: registers a zero-argument SearchSpace factory under ``name``."""

    def wrap(cls):
        cls.name = name
        SPACES.register(name, cls, aliases=aliases)
        return cls

    return wrap


__all__ = [
    "BATCH_SIZE_OPTION",
    "BN_MODES",
    "COST_CLASSES",
    "OPTION_TYPES",
    "ProxyOption",
    "validate_proxy_options",
    "ArchRef",
    "CellTopology",
    "dag_topology",
    "InputSpec",
    "NasproxError",
    "ProxyContext",
    "ProxySpec",
    "ProxyUndefined",
    "ResultKey",
    "SearchSpace",
    "ScoreRecord",
    "FAILED_STATUSES",
    "STATUSES",
    "SETTING_SEPARATOR",
    "batch_setting_column",
    "logits_of",
    "proxy_of_column",
    "parse_key_values",
    "load_yaml",
    "Registry",
    "RegistryError",
    "SPACES",
    "PROXIES",
    "register_proxy",
    "proxy",
    "space",
]
