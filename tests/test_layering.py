"""search/ and report/ reach spaces and proxies only through the registry (DESIGN: "Imports of the
registry are the only way up"): no import of a space or proxy module, statically."""

import ast
from pathlib import Path

import nasprox
from nasprox.core import PROXIES

PACKAGE = Path(nasprox.__file__).parent


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def test_search_and_report_import_no_space_or_proxy_module():
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for layer in ("search", "report")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("nasprox.spaces", "nasprox.proxies"))
    ]
    assert not offenders, offenders


def test_near_exports_its_tool_functions():
    from nasprox.proxies import near

    exports = PROXIES.get("near").exports
    assert exports["layer_scores"] is near.near_layer_scores
    assert exports["hooked_modules"] is near.hooked_modules
    assert exports["fit_layer_size"] is near.fit_layer_size
    assert exports["power_law"] is near.power_law
