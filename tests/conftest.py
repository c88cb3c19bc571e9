import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# pytest-xdist runs one test process per core: each gets its share of the cores as torch intra-op threads (and
# passes it on to the CLI subprocesses it starts), or two processes of two threads each on two cores slow every
# in-process proxy many-fold (the oversubscription the README warns about for --workers)
if os.environ.get("PYTEST_XDIST_WORKER"):
    _share = max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ["OMP_NUM_THREADS"] = str(_share)
    torch.set_num_threads(_share)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NASPROX_SHARED_DATA", REPO.parent / "shared" / "data"))


def plugin_env(plugins: str, **extra: str) -> dict[str, str]:
    """Environment of a ``python -m nasprox`` subprocess that loads test plugins (``toy_plugin,fault_plugin``)
    from this folder; a PYTHONPATH already set is kept, so the subprocess imports the nasprox the tests do."""
    path = os.pathsep.join(p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "NASPROX_PLUGINS": plugins, "PYTHONPATH": path, **extra}


def nasprox_cli(*args, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m nasprox ARGS`` in a subprocess with one intra-op thread (text output captured)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nasprox", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """The bytes of every file directly in ``folder``, by name (to check a refused command changed nothing)."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def shared_file(rel: str) -> Path:
    """Path of a file under ../shared/data, or skip the test with a clear reason."""
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"shared data file {path} is absent (set NASPROX_SHARED_DATA to the shared/data folder)")
    return path


def pytest_collection_modifyitems(config, items) -> None:
    """Modules marked ``expensive`` first (a stable sort: the order is otherwise the files'). Under
    ``--dist loadscope --no-loadscope-reorder`` each test process takes the next module in this order when it
    runs dry, so a long module collected last would run alone at the end while the other process idles."""
    items.sort(key=lambda item: item.get_closest_marker("expensive") is None)


@pytest.fixture
def shared():
    return shared_file


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One intra-op thread: on a busy shared CPU, oversubscribed OpenMP threads slow runs many-fold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
