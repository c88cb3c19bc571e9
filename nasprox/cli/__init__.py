"""The ``nasprox`` command. Each module here with ``register(app)`` adds its subcommand(s)."""

from __future__ import annotations

import importlib
import pkgutil
import signal
import sys
import threading

import typer

from nasprox.core import NasproxError, RegistryError

EXAMPLES = """
Examples:

  nasprox score --space nats-tss --proxy near,synflow --archs 0:50 \\
      --data-root cifar10.npz --ground-truth nb201_test_acc_200ep.csv \\
      --out results/tss.csv

  nasprox correlate results/tss.csv --top 10% --format markdown

  nasprox report results/*.csv --out report/

Each command has its own examples: nasprox COMMAND --help. Data: docs/data.md.
"""

app = typer.Typer(
    name="nasprox",
    help="Benchmark harness for zero-cost NAS proxies: score search spaces, correlate with ground truth.",
    epilog=EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        if hasattr(_module, "register"):
            _module.register(app)


def _stop_as_on_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback. SIGTERM (a cluster
    scheduler's stop, ``kill``) ends a command as Ctrl-C does: a run closes its CSV, records ``interrupted`` and
    says what it kept (exit 130); the default action would end it without a word."""
    # only the main thread may set a handler; a caller's own handler comes back when the command ends
    previous = (
        signal.signal(signal.SIGTERM, _stop_as_on_ctrl_c)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        app(args=argv, standalone_mode=True)
    except (NasproxError, RegistryError) as exc:
        typer.echo(f"nasprox: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("nasprox: interrupted; rows written so far are kept (run the same command to resume)", err=True)
        sys.exit(130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
