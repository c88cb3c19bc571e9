"""The Python API scores a user's own module and a space with the same engine as the CLI."""

import math
import subprocess
import sys

import torch
from torch import nn

import nasprox


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_score_model_on_a_user_module_leaves_it_untouched(one_thread):
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, labels = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 10
    scores = nasprox.score_model(
        model, images, labels, proxies=["near", "synflow", "snip", "params"], proxy_options={"near": {"repetitions": 2}}
    )
    assert set(scores) == {"near", "synflow", "snip", "params"} and all(math.isfinite(v) for v in scores.values())
    assert scores["params"] == sum(p.numel() for p in model.parameters()) / 1e6
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    again = nasprox.score_model(
        model, images, labels, proxies=["near", "snip"], proxy_options={"near": {"repetitions": 2}}
    )
    assert again == {k: scores[k] for k in again}  # seeded like the engine: the same call, the same scores


def test_score_space_equals_the_cli_rows(tmp_path, one_thread):
    frame = nasprox.score_space("nats-tss", ["params", "synflow"], archs="0:3", synthetic=True)
    out = tmp_path / "cli.csv"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nasprox",
            "score",
            "--space",
            "nats-tss",
            "--proxy",
            "params,synflow",
            "--archs",
            "0:3",
            "--synthetic",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    import pandas as pd

    cli = pd.read_csv(out)
    key = ["arch", "proxy"]
    merged = frame[key + ["score", "data_config"]].merge(cli[key + ["score", "data_config"]], on=key)
    assert len(merged) == 6 and (merged["score_x"] == merged["score_y"]).all()
    assert (merged["data_config_x"] == merged["data_config_y"]).all()


def test_import_nasprox_loads_no_torch():
    code = "import sys, nasprox; assert 'torch' not in sys.modules; print(nasprox.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_score_space_takes_an_arch_list_like_the_cli(tmp_path, one_thread):
    from nasprox.core import SPACES

    space = SPACES.get("nats-tss")()
    strings = [space.key(i) for i in (7, 3)]
    listed = tmp_path / "archs.txt"
    listed.write_text("# two cells, in the order to score them\n" + "\n".join(strings) + "\n")
    frame = nasprox.score_space("nats-tss", ["params"], arch_list=listed, synthetic=True)
    by_index = nasprox.score_space("nats-tss", ["params"], archs="7,3", synthetic=True)
    assert list(frame["arch"]) == strings
    assert list(frame["score"]) == list(by_index.set_index("arch").loc[strings, "score"])
