"""The one place plug-ins are loaded: a researcher's proxies and spaces beside the package's own.

Three ways, all ending in the same registries (``PROXIES``, ``SPACES``):

1. a file, ``--plugin path/to/my_proxy.py`` on any command (``load_file``); spawned workers load it again
   from ``RunConfig.plugins``;
2. an installed package declaring the entry-point group ``nasprox.plugins`` (``[project.entry-points.
   "nasprox.plugins"] my_proxies = "my_pkg.proxies"``), loaded with the package's own modules on the
   registries' first lookup (``load_entry_points``);
3. ``NASPROX_PLUGINS=module,other.module`` (importable module names; also on first lookup).

Every loaded plug-in is recorded (``loaded()``) for the provenance sidecar: a file's path and sha256, an
entry point's package name and version, a module's file and sha256. The proxies a file or an entry point
registers get that identity folded into their version (``1+sha256.0a1b2c3d4e5f``, ``1+my-pkg-0.2.0``), which
is part of the resume key: editing the file (or upgrading the package) makes its finished rows another
result instead of mixing old and new scores. A plug-in that fails to import is a one-line ``NasproxError``
naming its file and line. Reading a plug-in file is the only I/O of ``core``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasprox.core.types import NasproxError

ENTRY_POINT_GROUP = "nasprox.plugins"
ENV_VAR = "NASPROX_PLUGINS"


@dataclass(frozen=True)
class Plugin:
    """One loaded plug-in and what it registered."""

    kind: str  # file | entry-point | module
    source: str  # the file path, the entry point "name = value", or the module name
    module: str
    sha256: str = ""  # of the file (file plug-ins and modules with a source file)
    package: str = ""  # entry point: the distribution's name and version
    package_version: str = ""
    proxies: tuple[str, ...] = ()
    spaces: tuple[str, ...] = ()

    @property
    def version_tag(self) -> str:
        """What is folded into the version of its proxies ("" for NASPROX_PLUGINS modules)."""
        if self.kind == "file":
            return f"sha256.{self.sha256[:12]}"
        if self.kind == "entry-point":
            return f"{self.package}-{self.package_version}"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items() if v}


_LOADED: dict[str, Plugin] = {}  # by source identity (resolved file path, entry point, module name)
_entry_points_done = False


def loaded() -> list[Plugin]:
    """Every plug-in loaded in this process, in load order."""
    return list(_LOADED.values())


def loaded_files() -> list[str]:
    """The files loaded with ``--plugin`` (a RunConfig carries them to worker processes)."""
    return [p.source for p in _LOADED.values() if p.kind == "file"]


def provenance() -> list[dict[str, Any]]:
    """The provenance sidecar's ``plugins`` entry."""
    return [p.to_dict() for p in _LOADED.values()]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _registries():
    from nasprox.core import PROXIES, SPACES

    return PROXIES, SPACES


def _where(exc: BaseException, files: dict[str, str]) -> str:
    """``file:line`` of the innermost traceback frame in one of ``files`` (resolved path -> name shown), else
    of the innermost frame outside nasprox and importlib, for a one-line error."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{files.get(str(Path(exc.filename).resolve()), exc.filename)}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = Path(__file__).resolve().parents[1]
    for frame in reversed(frames):
        shown = files.get(str(Path(frame.filename).resolve()))
        if shown:
            return f"{shown}:{frame.lineno}"
    for frame in reversed(frames):
        name = frame.filename
        if not name.startswith("<") and own not in Path(name).resolve().parents and "importlib" not in name:
            return f"{name}:{frame.lineno}"
    return "?"


def _message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        text = f"SyntaxError: {exc.msg}"
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text


def _import(what: str, run, files: dict[str, str]) -> tuple[Any, tuple[str, ...], tuple[str, ...]]:
    """Run ``run()`` (an import); return (its result, proxies added, spaces added), or a one-line NasproxError."""
    proxies, spaces = _registries()
    proxies.names(), spaces.names()  # the package's own items first: a clash is then the plug-in's
    before_p, before_s = proxies.registered(), spaces.registered()
    try:
        result = run()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of foreign code becomes one line
        for registry, before in ((proxies, before_p), (spaces, before_s)):  # nothing half-loaded stays registered
            for name in registry.registered() - before:
                registry.unregister(name)
        where = _where(exc, files)
        text = str(exc) if isinstance(exc, NasproxError) else _message(exc)
        if where.startswith(f"{what}:"):  # a file plug-in: its own file and line
            raise NasproxError(f"plug-in {where}: {text}") from None
        raise NasproxError(f"plug-in {what} failed at {where}: {text}") from None
    new_p = tuple(sorted(proxies.registered() - before_p))
    new_s = tuple(sorted(spaces.registered() - before_s))
    return result, new_p, new_s


def _fold_versions(plugin: Plugin) -> None:
    proxies, _ = _registries()
    tag = plugin.version_tag
    for name in plugin.proxies if tag else ():
        spec = proxies.get(name)
        proxies.replace(name, dataclasses.replace(spec, version=f"{spec.version}+{tag}"))


def load_file(path: str | Path) -> Plugin:
    """Import a plug-in file (once per process): its ``@proxy`` / ``@space`` definitions register themselves."""
    given = Path(path).expanduser()
    resolved = given.resolve()
    key = str(resolved)
    if key in _LOADED:
        return _LOADED[key]
    if not resolved.is_file():
        raise NasproxError(f"plug-in {given}: no such file")
    digest = sha256_of(resolved)
    stem = re.sub(r"\W", "_", resolved.stem)
    module_name = f"nasprox_plugin_{stem}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise NasproxError(f"plug-in {given}: not a Python file")
    module = importlib.util.module_from_spec(spec)

    def run():
        sys.modules[module_name] = module  # dataclasses, pickling and relative lookups need it there
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr, unused-ignore]
        except BaseException:
            sys.modules.pop(module_name, None)
            raise

    _, new_p, new_s = _import(str(given), run, {key: str(given)})
    if not new_p and not new_s:
        raise NasproxError(f"plug-in {given} registers no proxy and no space (decorate with @proxy or @space)")
    plugin = Plugin("file", key, module_name, sha256=digest, proxies=new_p, spaces=new_s)
    _fold_versions(plugin)
    _LOADED[key] = plugin
    return plugin


def load_files(paths) -> list[Plugin]:
    """``load_file`` for each path (``--plugin``, ``RunConfig.plugins``); None or empty loads nothing."""
    return [load_file(p) for p in paths or ()]


def load_entry_points() -> list[Plugin]:
    """Load every ``nasprox.plugins`` entry point of the installed packages (once per process)."""
    global _entry_points_done
    if _entry_points_done:
        return []
    _entry_points_done = True
    from importlib.metadata import entry_points

    out = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        package = dist.name if dist is not None else ep.value.split(".")[0]
        version = dist.version if dist is not None else "unknown"
        source = f"{ep.name} = {ep.value}"
        if source in _LOADED:
            continue
        what = f"{ep.value} (entry point '{ep.name}' of {package} {version})"
        _, new_p, new_s = _import(what, ep.load, {})
        module_name = ep.value.partition(":")[0]
        plugin = Plugin(
            "entry-point",
            source,
            module_name,
            sha256=_module_sha256(sys.modules.get(module_name)),
            package=package,
            package_version=version,
            proxies=new_p,
            spaces=new_s,
        )
        _fold_versions(plugin)
        _LOADED[source] = plugin
        out.append(plugin)
    return out


def _module_sha256(module: object) -> str:
    """sha256 of an imported module's source file ('' when it has none on disk, e.g. a namespace package)."""
    file = getattr(module, "__file__", None) or ""
    return sha256_of(Path(file)) if file and os.path.isfile(file) else ""


def load_env_modules() -> list[Plugin]:
    """Import the modules named in ``NASPROX_PLUGINS`` (comma-separated); versions are left as declared."""
    proxies, spaces = _registries()
    proxies.names(), spaces.names()  # both packages first (a nested call, from the other registry, loads them)
    out = []
    for name in filter(None, (m.strip() for m in os.environ.get(ENV_VAR, "").split(","))):
        if name in _LOADED:
            continue
        if name in sys.modules:  # imported before (tests import their fixtures): record it, nothing new
            module = sys.modules[name]
            new_p: tuple[str, ...] = ()
            new_s: tuple[str, ...] = ()
        else:
            try:
                found = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                found = None
            if found is None:
                raise NasproxError(f"cannot import plug-in module '{name}' from {ENV_VAR}: no module named '{name}'")
            module, new_p, new_s = _import(
                f"module '{name}' (from {ENV_VAR})", functools.partial(importlib.import_module, name), {}
            )
        plugin = Plugin(
            "module",
            name,
            name,
            sha256=_module_sha256(module),
            proxies=new_p,
            spaces=new_s,
        )
        _LOADED[name] = plugin
        out.append(plugin)
    return out
