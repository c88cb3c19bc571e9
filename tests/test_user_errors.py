"""Bad input found by trying nasprox as a new user: one stderr line, exit 2, no traceback, and the
existing result CSV and its provenance sidecar byte-identical afterwards (subprocess, real CLI)."""

import csv
import os

import numpy as np
import pytest
from conftest import nasprox_cli as _cli
from conftest import snapshot as _snapshot

pytestmark = pytest.mark.expensive  # collected first (tests/conftest.py)


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    """A finished run: results.csv + its sidecar, scored with params on 3 NATS-TSS cells."""
    folder = tmp_path_factory.mktemp("user")
    res = _cli(
        "score",
        "--space",
        "nats-tss",
        "--proxy",
        "params",
        "--archs",
        "0:3",
        "--synthetic",
        "--out",
        str(folder / "results.csv"),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    return folder


def _bad_inputs(folder):
    (folder / "latin1.txt").write_bytes(
        "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2| é".encode("latin-1")
    )
    (folder / "header_only.csv").write_text((folder / "results.csv").read_text().splitlines()[0] + "\n")
    (folder / "existing_file.txt").write_text("not a folder\n")
    (folder / "text.npz").write_text("this is not an npz\n")
    (folder / "corrupt.npz").write_bytes(b"PK\x03\x04" + os.urandom(64))
    (folder / "empty_dir").mkdir(exist_ok=True)
    (folder / "out_dir").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    np.savez(folder / "labels_500.npz", x=pixels, y=np.array([0, 1, 2, 3, 4, 5, 6, 500]))
    np.savez(folder / "normalised.npz", x=(pixels / 255.0 - 0.5) / 0.25, y=np.arange(8))
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    (folder / "gt_conflict.csv").write_text(f"arch,cifar10_test_acc\n{arch},93.66\n{arch},91.2\n")


SCORE = ["score", "--space", "nats-tss", "--no-progress"]
CASES = {
    "arch list not UTF-8": (
        SCORE + ["--proxy", "params", "--synthetic", "--arch-list", "{d}/latin1.txt", "--out", "{d}/results.csv"],
        "not UTF-8",
    ),
    "correlate a header-only CSV": (["correlate", "{d}/header_only.csv"], "no result rows"),
    "report into an existing file": (["report", "{d}/results.csv", "--out", "{d}/existing_file.txt"], "is a file"),
    "ill-typed proxy option": (
        SCORE
        + [
            "--proxy",
            "near",
            "--synthetic",
            "--archs",
            "0:3",
            "--proxy-opt",
            "near.repetitions=abc",
            "--out",
            "{d}/results.csv",
        ],
        "repetitions",
    ),
    "misspelt proxy option": (
        SCORE
        + [
            "--proxy",
            "near",
            "--synthetic",
            "--archs",
            "0:3",
            "--proxy-opt",
            "near.repetitons=1",
            "--out",
            "{d}/results.csv",
        ],
        "did you mean 'repetitions'",
    ),
    "merge into a folder": (["merge", "{d}/results.csv", "--out", "{d}/out_dir"], "is a directory"),
    "data root is a text file": (
        SCORE + ["--proxy", "snip", "--archs", "0:3", "--data-root", "{d}/text.npz", "--out", "{d}/results.csv"],
        "cannot read images",
    ),
    "data root is a corrupt npz": (
        SCORE + ["--proxy", "snip", "--archs", "0:3", "--data-root", "{d}/corrupt.npz", "--out", "{d}/results.csv"],
        "corrupt.npz",
    ),
    "data root is an empty folder": (
        SCORE + ["--proxy", "snip", "--archs", "0:3", "--data-root", "{d}/empty_dir", "--out", "{d}/results.csv"],
        "docs/data.md",
    ),
    "space option with a bad value": (
        [
            "score",
            "--space",
            "transnas-micro",
            "--dataset",
            "class_object",
            "--proxy",
            "params",
            "--synthetic",
            "--archs",
            "0",
            "--space-opt",
            "resolution=abc",
            "--out",
            "{d}/results.csv",
        ],
        "resolution='abc' is not a valid int",
    ),
    "ground truth with an empty path": (
        ["correlate", "{d}/results.csv", "--ground-truth", "nats-tss="],
        "--ground-truth 'nats-tss=' must look like NAME=PATH or PATH",
    ),
    "ground truth with an empty space": (
        ["correlate", "{d}/results.csv", "--ground-truth", "=gt.csv"],
        "--ground-truth '=gt.csv' must look like NAME=PATH or PATH",
    ),
    "reversed range": (
        SCORE + ["--proxy", "params", "--synthetic", "--archs", "5:2", "--out", "{d}/results.csv"],
        "empty range",
    ),
    "negative seed": (
        SCORE + ["--proxy", "params", "--synthetic", "--archs", "0:3", "--seed", "-1", "--out", "{d}/results.csv"],
        "--seed must be an integer between 0 and",
    ),
    "ground truth giving one arch two values": (
        SCORE
        + ["--proxy", "params", "--synthetic", "--archs", "0:3", "--ground-truth", "{d}/gt_conflict.csv"]
        + ["--out", "{d}/results.csv"],
        "has cifar10 test_acc 93.66 on line 2 and 91.2 on line 3",
    ),
    "npz labels outside the dataset's classes": (
        SCORE + ["--proxy", "snip", "--archs", "0:3", "--data-root", "{d}/labels_500.npz", "--out", "{d}/results.csv"],
        "labels range 0..500, but cifar10 has classes 0..9",
    ),
    "npz images normalised already": (
        SCORE + ["--proxy", "snip", "--archs", "0:3", "--data-root", "{d}/normalised.npz", "--out", "{d}/results.csv"],
        "not images normalised already",
    ),
    "batch larger than the image set": (
        SCORE
        + [
            "--proxy",
            "naswot",
            "--archs",
            "0",
            "--data-root",
            "{imagenet}",
            "--dataset",
            "ImageNet16-120",
            "--out",
            "{d}/results.csv",
        ],
        "holds 120 images",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(existing, case, shared):
    _bad_inputs(existing)
    before = _snapshot(existing)
    args, expected = CASES[case]
    imagenet = shared("inputs/imagenet16_120_val_1perclass.npz") if "{imagenet}" in " ".join(args) else ""
    res = _cli(*[a.format(d=existing, imagenet=imagenet) for a in args])
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasprox: error: ") and "Traceback" not in res.stderr, res.stderr
    assert expected in lines[0], lines[0]
    assert _snapshot(existing) == before  # results, sidecar, inputs: byte-identical; no stray temporary file


def _with_setting(path, out, **changes):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.update(changes)
        r["gt_test_acc"] = str(np.random.default_rng(int(r["arch_index"])).uniform(80, 95))
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_rows_under_different_settings_are_never_averaged(existing):
    a = _with_setting(existing / "results.csv", existing / "a.csv")
    b = _with_setting(existing / "results.csv", existing / "b.csv", data_config="0123456789", score="1.0")
    res = _cli("correlate", str(a), str(b))
    assert res.returncode == 2 and "different settings" in res.stderr and "data_config" in res.stderr
    res = _cli("correlate", str(a), str(b), "--split-settings", "--format", "csv")
    assert res.returncode == 0, res.stderr
    assert "params@data_config=0123456789" in res.stdout
    same = _cli("correlate", str(a), str(a))  # the same rows twice: one setting, fine
    assert same.returncode == 0, same.stderr


def test_nan_correlations_say_why(existing):
    res = _cli("correlate", str(existing / "results.csv"))
    assert res.returncode == 0
    assert "no ground truth 'test_acc'" in res.stderr and "--ground-truth" in res.stderr
