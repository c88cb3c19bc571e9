"""One typed registry class for every kind of pluggable item (spaces, proxies).

Items register themselves next to their definition (``@PROXIES.register("snip")``).
A registry can also hold lazy ``"module:attr"`` entries, and discovers the public modules of its
package (and of its public subpackages, e.g. one per benchmark family) on first lookup, so adding a
proxy or space is one new file.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown or duplicate registry name; the message is user-facing (one line)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self._package = package  # modules of this package are imported on first lookup
        self._discovered = package is None
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._aliases: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, obj: T | None = None, *, aliases: Iterable[str] = ()):
        """Register ``obj`` under ``name``; used bare or as a decorator."""

        def add(item: T) -> T:
            self._check_free(name)
            self._items[name] = item
            for alias in aliases:
                self._check_free(alias)
                self._aliases[alias] = name
            return item

        return add(obj) if obj is not None else add

    def register_lazy(self, name: str, target: str, *, aliases: Iterable[str] = ()) -> None:
        """Register ``"package.module:attr"``, imported only when first used."""
        self._check_free(name)
        self._lazy[name] = target
        for alias in aliases:
            self._check_free(alias)
            self._aliases[alias] = name

    def replace(self, name: str, obj: T) -> None:
        """Put ``obj`` in place of the registered item ``name`` (a plug-in's proxy with its version folded in)."""
        if name not in self._items:
            raise RegistryError(f"no {self.kind} '{name}' to replace")
        self._items[name] = obj

    def unregister(self, name: str) -> None:
        """Take ``name`` (and its aliases) out; for temporary items such as the contract checks' spy proxy."""
        self._items.pop(name, None)
        self._lazy.pop(name, None)
        self._aliases = {a: n for a, n in self._aliases.items() if n != name}

    def registered(self) -> set[str]:
        """The names registered so far, without importing anything (the plug-in loader's before/after)."""
        return set(self._items) | set(self._lazy)

    def _check_free(self, name: str) -> None:
        if name in self._items or name in self._lazy or name in self._aliases:
            raise RegistryError(f"duplicate {self.kind} name '{name}'")

    # -- lookup -------------------------------------------------------------------------------
    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        assert self._package is not None  # _discovered starts True when there is no package
        self._import_public(self._package)
        # third-party plug-ins: installed packages' `nasprox.plugins` entry points, then NASPROX_PLUGINS modules
        # (files given with --plugin are loaded by the commands, nasprox.core.plugins.load_file)
        from nasprox.core import plugins

        plugins.load_entry_points()
        plugins.load_env_modules()

    @staticmethod
    def _import_public(package: str) -> None:
        """Import every public (not ``_``-prefixed) module of ``package``, recursing into public
        subpackages (``nasprox.spaces.nats.nats_tss``); private modules and packages are left alone."""
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                continue
            importlib.import_module(f"{package}.{info.name}")
            if info.ispkg:
                Registry._import_public(f"{package}.{info.name}")

    def names(self) -> list[str]:
        self._discover()
        return sorted(set(self._items) | set(self._lazy))

    def canonical(self, name: str) -> str:
        self._discover()
        name = name.strip()
        name = self._aliases.get(name, name)
        if name in self._items or name in self._lazy:
            return name
        choices = self.names() + sorted(self._aliases)
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise RegistryError(f"unknown {self.kind} '{name}'{hint} (known: {', '.join(self.names())})")

    def get(self, name: str) -> T:
        name = self.canonical(name)
        if name not in self._items:
            module, _, attr = self._lazy.pop(name).partition(":")
            self._items[name] = getattr(importlib.import_module(module), attr)
        return self._items[name]

    def __contains__(self, name: str) -> bool:
        try:
            self.canonical(name)
        except RegistryError:
            return False
        return True

    def select(self, patterns: str | Iterable[str]) -> list[str]:
        """Resolve comma-separated names/aliases/globs (``'grad*'``) to canonical names, in order."""
        if isinstance(patterns, str):
            patterns = [patterns]
        parts = [p.strip() for raw in patterns for p in raw.split(",") if p.strip()]
        if not parts:
            raise RegistryError(f"no {self.kind} given")
        chosen: list[str] = []
        for part in parts:
            if any(ch in part for ch in "*?["):
                hits = fnmatch.filter(self.names(), part)
                if not hits:
                    raise RegistryError(f"no {self.kind} matches '{part}' (known: {', '.join(self.names())})")
            else:
                hits = [self.canonical(part)]
            chosen.extend(h for h in hits if h not in chosen)
        return chosen

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]
