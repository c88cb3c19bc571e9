"""Declared, validated proxy options (``--proxy-opt proxy.name=value``).

Registry-wide checks run through ``validate_proxy_options`` (fast, no torch work); the real CLI runs
only for a few representative cases: a misspelt or ill-typed option exits 2 with one stderr line
before any file is opened, an old alias is accepted with one warning line.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from nasprox.core import (
    BATCH_SIZE_OPTION,
    PROXIES,
    NasproxError,
    ProxyContext,
    ProxyOption,
    ProxySpec,
    validate_proxy_options,
)
from nasprox.engine import parse_proxy_options

PACKAGE = Path(__file__).resolve().parents[1] / "nasprox"
# the package's own proxies (other test modules may register test plug-ins in this process)
NAMES = sorted(n for n in PROXIES.names() if PROXIES.get(n).fn.__module__.startswith("nasprox.proxies."))
OPTIONS = [(n, o.name) for n in NAMES for o in PROXIES.get(n).all_options.values()]
ALIASES = [(n, o.name, a) for n in NAMES for o in PROXIES.get(n).all_options.values() for a in o.aliases]


def _misspell(name: str) -> str:
    """Two neighbouring letters swapped (or one doubled): close enough for a "did you mean"."""
    for i in range(len(name) - 1):
        if name[i] != name[i + 1] and name[i].isalpha() and name[i + 1].isalpha():
            return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name + name[-1]


def _bad_value(option: ProxyOption) -> str | None:
    if option.type in (int, float):
        return "abc"
    if option.type is bool:
        return "maybe"
    return "no-such-choice" if option.choices else None  # a free string has no ill-typed value


def _good_text(option: ProxyOption) -> str:
    if option.default is not None:
        return str(option.default)
    return {int: "1", float: "1.5", bool: "true", str: "x"}[option.type]


# -- ProxyOption --------------------------------------------------------------------------------
def test_option_parse_types_and_errors():
    flag = ProxyOption("strict", bool, True, "h")
    assert [flag.parse(t) for t in ("true", "1", "YES", "false", "0", " no ")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    reps = ProxyOption("repetitions", "int", 32, "h", minimum=1)
    assert reps.type is int and reps.parse(" 8 ") == 8
    temp = ProxyOption("temperature", float, 1.0, "h", above=0.0)
    assert temp.parse("200") == 200.0 and isinstance(temp.parse("2"), float)
    mode = ProxyOption("input", str, "data", "h", choices=("data", "gaussian"))
    assert mode.parse("gaussian") == "gaussian"
    for option, text, expected in [
        (flag, "maybe", "bool"),
        (reps, "abc", "int"),
        (reps, "1.5", "int"),
        (reps, "0", ">= 1"),
        (temp, "nan", "float"),
        (temp, "0", "> 0"),
        (mode, "images", "data, gaussian"),
    ]:
        with pytest.raises(NasproxError) as err:
            option.parse(text, "p")
        message = str(err.value)
        assert f"p.{option.name}" in message and repr(text) in message and expected in message, message
        assert "\n" not in message
    with pytest.raises(ValueError):
        ProxyOption("x", list, None, "h")
    with pytest.raises(NasproxError):
        ProxyOption("x", int, 0, "h", minimum=1)  # a default that fails its own bounds is a bug


def test_optional_option_defaults_to_none():
    mu = ProxyOption("mu", float, None, "h")
    assert mu.default is None and mu.coerce(None) is None and mu.parse("0.3") == 0.3


def _bare_context(**fields) -> ProxyContext:
    """A context with no model or data: enough for option lookups."""
    empty = dict.fromkeys(
        ("model", "build_model", "inputs", "targets", "input_spec", "loss_fn", "next_batch", "device")
    )
    return ProxyContext(**empty, seed=0, **fields)


def test_ctx_opt_returns_declared_typed_values_and_refuses_undeclared():
    spec = ProxySpec(
        "toy_opts",
        fn=lambda ctx: 0.0,
        description="test",
        options=(
            ProxyOption("repetitions", int, 32, "h", minimum=1, aliases=("repeats",)),
            ProxyOption("log", bool, False, "h"),
        ),
    )
    ctx = _bare_context(options={"repeats": "4", "log": "yes"}, spec=spec)
    assert ctx.opt("repetitions") == 4  # found under the old alias, parsed
    assert ctx.opt("log") is True
    assert ctx.opt("batch_size") is None  # engine-level, declared for every proxy
    assert ctx.opt("repetitions", 99) == 4  # the declared value wins over a call-site default
    with pytest.raises(KeyError, match="does not declare"):
        ctx.opt("repetitons")
    ctx.options = {}
    assert ctx.opt("repetitions") == 32 and ctx.opt("log") is False  # declared defaults


def test_proxy_decorator_binds_the_spec_for_the_call():
    from nasprox.core import proxy

    ctx = _bare_context()
    seen = []

    @proxy("toy_bind_check", "test", options=(ProxyOption("k", int, 3, "h"),))
    def toy_bind_check(c):
        seen.append(c.opt("k"))
        return 0.0

    try:
        assert toy_bind_check(ctx) == 0.0 and seen == [3] and ctx.spec is None  # bound only during the call
        assert PROXIES.get("toy_bind_check").fn is toy_bind_check
    finally:
        PROXIES._items.pop("toy_bind_check", None)


# -- the whole registry -------------------------------------------------------------------------
def test_entry_functions_are_named_after_their_proxy():
    assert len(NAMES) >= 32
    assert [n for n in NAMES if PROXIES.get(n).fn.__name__ != n] == []


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_one_line_with_the_valid_options(name):
    spec = PROXIES.get(name)
    with pytest.raises(NasproxError) as err:
        validate_proxy_options(spec, {"zzz_no_such_option": "1"})
    message = str(err.value)
    assert "\n" not in message and f"proxy {name}" in message and "'zzz_no_such_option'" in message
    assert all(o in message for o in spec.all_options)


@pytest.mark.parametrize("name, option", OPTIONS)
def test_misspelt_option_suggests_the_right_name(name, option):
    with pytest.raises(NasproxError, match=f"did you mean '{option}'"):
        validate_proxy_options(PROXIES.get(name), {_misspell(option): "1"})


@pytest.mark.parametrize("name, option", OPTIONS)
def test_ill_typed_value_is_refused_and_valid_text_round_trips(name, option):
    spec = PROXIES.get(name)
    declared = spec.option(option)
    assert declared.help.strip(), f"{name}.{option} has no help text"
    assert validate_proxy_options(spec, {option: _good_text(declared)}) == {
        option: declared.parse(_good_text(declared))
    }
    bad = _bad_value(declared)
    if bad is None:
        pytest.skip(f"{name}.{option} is a free string")
    with pytest.raises(NasproxError) as err:
        validate_proxy_options(spec, {option: bad})
    message = str(err.value)
    assert "\n" not in message and f"{name}.{option}" in message and repr(bad) in message


@pytest.mark.parametrize("name, option, alias", ALIASES)
def test_alias_maps_to_the_new_name_with_one_warning(name, option, alias):
    spec = PROXIES.get(name)
    text = _good_text(spec.option(option))
    messages: list[str] = []
    assert validate_proxy_options(spec, {alias: text}, warn=messages.append) == {
        option: spec.option(option).parse(text)
    }
    assert len(messages) == 1 and f"{name}.{alias}" in messages[0] and f"{name}.{option}" in messages[0]
    with pytest.warns(FutureWarning, match="deprecated"):  # without a callback: a FutureWarning
        validate_proxy_options(spec, {alias: text})
    with pytest.raises(NasproxError, match="same option"):
        validate_proxy_options(spec, {alias: text, option: text}, warn=messages.append)


def test_the_new_vocabulary():
    def opts(name):
        return {o.name: o.aliases for o in PROXIES.get(name).all_options.values()}

    for name in ("swap", "reg_swap", "zen"):
        assert opts(name)["repetitions"] == ("repeats",)
    assert opts("near")["repetitions"] == ()
    assert opts("zen")["batch_size"] == ("batch",)
    assert opts("zico")["num_batches"] == ("batches",)
    assert PROXIES.get("reg_swap").option("mu").default is None
    for name in NAMES:
        assert "batch_size" in opts(name) and PROXIES.get(name).option("batch_size").minimum == 1


def _opt_calls_by_entry() -> dict[str, list[ast.Call]]:
    """Every ``ctx.opt(...)`` call reachable from each proxy entry function, following calls to
    functions of nasprox.proxies modules (same module or ``from nasprox.proxies.X import f``)."""
    funcs: dict[tuple[str, str], ast.FunctionDef] = {}
    imports: dict[str, dict[str, tuple[str, str]]] = {}
    for path in sorted((PACKAGE / "proxies").glob("*.py")):
        mod = path.stem
        tree = ast.parse(path.read_text())
        imports[mod] = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                funcs[(mod, node.name)] = node
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nasprox.proxies."):
                for alias in node.names:
                    imports[mod][alias.asname or alias.name] = (node.module.rsplit(".", 1)[1], alias.name)

    def reachable(key, seen):
        if key in seen or key not in funcs:
            return []
        seen.add(key)
        calls = []
        for node in ast.walk(funcs[key]):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if (
                isinstance(f, ast.Attribute)
                and f.attr == "opt"
                and isinstance(f.value, ast.Name)
                and f.value.id == "ctx"
            ):
                calls.append(node)
            elif isinstance(f, ast.Name):
                calls += reachable(imports[key[0]].get(f.id, (key[0], f.id)), seen)
        return calls

    out = {}
    for name in NAMES:
        fn = PROXIES.get(name).fn
        out[name] = reachable((fn.__module__.rsplit(".", 1)[1], fn.__name__), set())
    return out


def test_every_ctx_opt_is_declared_by_its_proxy_and_every_option_is_read():
    by_entry = _opt_calls_by_entry()
    all_calls = [c for calls in by_entry.values() for c in calls]
    assert len(all_calls) >= 20  # the walk found the proxies' option reads
    problems = []
    for name, calls in by_entry.items():
        spec = PROXIES.get(name)
        read = set()
        for call in calls:
            if not (call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
                problems.append(f"{name}: ctx.opt with a non-literal name (line {call.lineno})")
                continue
            option = call.args[0].value
            read.add(option)
            if option not in spec.all_options:
                problems.append(f"{name}: reads undeclared option '{option}'")
            elif len(call.args) > 1 and ast.literal_eval(call.args[1]) != spec.option(option).default:
                problems.append(f"{name}: call-site default of '{option}' differs from the declared one")
        unread = set(spec.all_options) - read - {BATCH_SIZE_OPTION.name}
        if unread:
            problems.append(f"{name}: declares options it never reads: {sorted(unread)}")
    assert problems == []


def test_no_ctx_opt_outside_the_walk():
    """Every ``ctx.opt(`` in the package sits in nasprox/proxies (the walk above covers those)."""

    def opt_calls(path):
        return [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "opt"
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == "ctx"
        ]

    hits = [p for p in PACKAGE.rglob("*.py") if p.parent.name != "proxies" and opt_calls(p)]
    assert hits == []


# -- flag parsing -------------------------------------------------------------------------------
def test_parse_proxy_options_types_and_scopes():
    assert parse_proxy_options([], ["near", "snip"]) == {}  # no options: resume keys unchanged
    messages: list[str] = []
    got = parse_proxy_options(
        ["batch_size=32", "near.repetitions=8", "repeats=2", "zen.batch=4", "zico.batches=3", "flops.strict=no"],
        ["near", "snip", "swap", "zen", "zico", "flops"],
        warn=messages.append,
    )
    assert got == {
        "near": {"batch_size": 32, "repetitions": 8},
        "snip": {"batch_size": 32},
        "swap": {"batch_size": 32, "repetitions": 2},
        "zen": {"batch_size": 4, "repetitions": 2},
        "zico": {"batch_size": 32, "num_batches": 3},
        "flops": {"batch_size": 32, "strict": False},
    }
    assert json.loads(json.dumps(got)) == got
    assert len(messages) == 4 and all("deprecated" in m for m in messages)  # swap/zen repeats, zen.batch, zico.batches
    for bad, match in [
        (["near.repetitons=1"], "did you mean 'repetitions'"),
        (["near.repetitions=abc"], "'abc'"),
        (["repetitons=1"], "no selected proxy"),
        (["near.repetitions"], "proxy.option=value"),
        (["nera.repetitions=1"], "did you mean"),
        (["batch_size=0"], ">= 1"),
    ]:
        with pytest.raises((NasproxError, KeyError), match=match):
            parse_proxy_options(bad, ["near", "snip"])


# -- the real CLI (a few representative cases) --------------------------------------------------
def _nasprox(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "NASPROX_PLUGINS"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "nasprox", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


SCORE = ["score", "--space", "nats-tss", "--synthetic", "--archs", "0", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    """A finished result CSV and its provenance sidecar (params: no scoring work)."""
    folder = tmp_path_factory.mktemp("existing")
    out = folder / "run.csv"
    res = _nasprox(*SCORE, "--proxy", "params", "--out", str(out), cwd=folder)
    assert res.returncode == 0, res.stderr
    side = out.with_name(out.name + ".provenance.json")
    assert side.exists()
    return out, side


@pytest.mark.parametrize(
    "opt, message",
    [
        ("near.repetitons=1", "did you mean 'repetitions'"),
        ("near.repetitions=abc", "near.repetitions: 'abc' is not valid (expected an int"),
        ("flops.strict=maybe", "flops.strict: 'maybe' is not valid (expected a bool"),
    ],
)
def test_cli_bad_option_exits_2_with_one_line_and_touches_nothing(existing_run, opt, message):
    out, side = existing_run
    before = (out.read_bytes(), side.read_bytes(), sorted(p.name for p in out.parent.iterdir()))
    res = _nasprox(*SCORE, "--proxy", "params,near,flops", "--proxy-opt", opt, "--out", str(out), cwd=out.parent)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasprox: error: ") and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert (out.read_bytes(), side.read_bytes(), sorted(p.name for p in out.parent.iterdir())) == before


def test_cli_alias_is_accepted_with_one_warning_line(tmp_path):
    out = tmp_path / "zen.csv"
    res = _nasprox(
        *SCORE,
        "--proxy",
        "zen",
        "--proxy-opt",
        "zen.repeats=1",
        "--proxy-opt",
        "zen.batch=4",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    warned = [ln for ln in res.stderr.splitlines() if "deprecated" in ln]
    assert warned == [
        "nasprox: warning: zen.repeats is deprecated, use zen.repetitions (the old name is accepted "
        "for one more release)",
        "nasprox: warning: zen.batch is deprecated, use zen.batch_size (the old name is accepted for one more release)",
    ], res.stderr
    from nasprox.storage.provenance import read_provenance

    assert read_provenance(out)[-1]["config"]["proxy_options"] == {"zen": {"repetitions": 1, "batch_size": 4}}
    with open(out, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["proxy"], row["status"], row["batch_size"]) == ("zen", "ok", "4")


@pytest.mark.parametrize(
    "name, exit_code, needles",
    [
        pytest.param(
            "near",
            0,
            (
                "repetitions",
                "max_batches",
                "max_columns",
                "batch_size",
                "64 (run default)",
                "forward",
                "higher is better",
                "version",
            ),
            id="near",
        ),
        pytest.param("zen", 0, ("repeats", "16"), id="zen-old-name-and-default"),
        pytest.param("nera", 2, ("did you mean 'near'",), id="misspelt-name"),
    ],
)
def test_cli_proxies_details_lists_the_options(name, exit_code, needles):
    from typer.testing import CliRunner

    from nasprox.cli import app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(app, ["proxies", "--details", name])
    assert result.exit_code == exit_code, result.output
    text = result.output if exit_code == 0 else result.stderr  # an error goes to stderr alone
    for needle in needles:
        assert needle in text, needle
