"""Every "file not found" error names the file's source and docs/data.md; sample NATS archives are
reported up front (which architectures they hold) instead of failing at the first absent record."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import SPACES, NasproxError
from nasprox.core.sources import DATASET_SOURCES, DOCS, SOURCES

REPO = Path(__file__).resolve().parents[1]
SAMPLES = {
    "nats-sss": "nats_format_samples/NATS-sss-v1_0-50262-simple",
    "nats-tss": "nats_format_samples/NATS-tss-v1_0-3ffb9-simple",
}
SAMPLE_CSV = {"nats-sss": "nats_sss/sss_test_acc_90ep.csv", "nats-tss": "nb201/nb201_test_acc_200ep.csv"}
HELD = (0, 11, 284)
runner = CliRunner()
# the package's own spaces: test plug-ins (tests/toy_plugin.py, imported by test_engine_storage at
# collection) register spaces with no upstream files in the same process
PACKAGE_SPACES = [n for n in SPACES.names() if SPACES.get(n).__module__.startswith("nasprox.spaces.")]


def assert_names_a_source(message: str, *keys: str) -> None:
    assert "\n" not in message, message
    assert DOCS in message, message
    assert re.search(r"https?://", message), message
    for key in keys:
        assert SOURCES[key].url in message and SOURCES[key].flag in message, (key, message)


# -- every space, every missing file ---------------------------------------------------------------
@pytest.mark.parametrize("name", PACKAGE_SPACES)
@pytest.mark.parametrize("flag", ["benchmark", "ground_truth"])
@pytest.mark.parametrize("what", ["absent path", "empty folder"])
def test_every_missing_file_error_names_its_source(name, flag, what, tmp_path):
    path = tmp_path / ("nothing-here" if what == "absent path" else "empty")
    if what == "empty folder":
        path.mkdir()
    with pytest.raises(NasproxError) as err:
        SPACES.get(name)().configure(**{flag: path})
    assert_names_a_source(str(err.value))


@pytest.mark.parametrize("name", ["nb101", "nb-nlp"])
def test_spaces_that_need_files_to_enumerate_name_the_source(name):
    with pytest.raises(NasproxError) as err:
        len(SPACES.get(name)())
    assert_names_a_source(str(err.value), name)


def test_files_help_of_every_space_names_its_sources():
    for name in PACKAGE_SPACES:
        assert_names_a_source(SPACES.get(name).files_help)


def test_every_missing_file_raise_formats_its_source():
    """Statically: a NasproxError in spaces/ or data/ whose text says a file is missing is built with
    the sources helpers (so new loaders cannot forget to say where the file comes from)."""
    wording = re.compile(r"not found|does not exist|missing|no such|cannot find|is not a folder|no input")
    helpers = {"missing", "hint", "dataset_hint", "missing_record"}
    offenders = []
    for path in sorted((REPO / "nasprox" / "spaces").rglob("*.py")) + sorted((REPO / "nasprox" / "data").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "NasproxError"):
                continue
            text = " ".join(c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str))
            called = {
                getattr(c.func, "id", getattr(c.func, "attr", "")) for c in ast.walk(node) if isinstance(c, ast.Call)
            }
            if wording.search(text.lower()) and not (called & helpers):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


# -- the data layer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "ImageNet16-120"])
def test_image_data_errors_name_the_source(dataset, tmp_path):
    from nasprox.data.images import image_batches, load_image_source

    for root in (tmp_path / "absent", tmp_path):  # absent root; a folder without the files
        with pytest.raises(NasproxError) as err:
            load_image_source(dataset, root)
        assert_names_a_source(str(err.value), DATASET_SOURCES[dataset])
    with pytest.raises(NasproxError) as err:
        image_batches(dataset, 4, 0)
    assert_names_a_source(str(err.value), DATASET_SOURCES[dataset])


def test_taskonomy_tasks_point_to_their_images(tmp_path):
    from nasprox.data.images import load_image_source

    with pytest.raises(NasproxError) as err:
        load_image_source("class_object", tmp_path)
    assert_names_a_source(str(err.value), "taskonomy")


@pytest.mark.parametrize("dataset", ["ptb", "wikitext-2"])
def test_text_data_errors_name_the_source(dataset, tmp_path):
    from nasprox.data.text import load_corpus, token_batches

    for root in (tmp_path / "absent", tmp_path):
        with pytest.raises(NasproxError) as err:
            load_corpus(dataset, root)
        assert_names_a_source(str(err.value), dataset)
    with pytest.raises(NasproxError) as err:
        token_batches(dataset, 2, 0, vocab_size=10)
    assert_names_a_source(str(err.value), dataset)


def test_docs_list_every_source():
    text = (REPO / DOCS).read_text()
    for key, source in SOURCES.items():
        assert source.url in text, (key, source.url)
        assert source.get.split(" ")[0] in text or source.made, (key, source.get)


# -- sample NATS archives ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nats-sss", "nats-tss"])
def test_sample_archive_is_reported_before_the_run(name, shared, tmp_path):
    """`score --archs 0:3` on a 3-record sample archive: one line naming the held archs and the CSV
    alternative, exit 2, and no result file or sidecar written."""
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "score",
            "--space",
            name,
            "--proxy",
            "params",
            "--synthetic",
            "--device",
            "cpu",
            "--benchmark",
            str(shared(SAMPLES[name])),
            "--archs",
            "0:3",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nasprox: error: "), result.output
    message = lines[0]
    assert "(0, 11, 284)" in message and "not of architecture 1" in message
    assert "--ground-truth takes a CSV" in message and Path(SAMPLE_CSV[name]).name in message
    assert_names_a_source(message, f"{name}-csv", name)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("name", ["nats-sss", "nats-tss"])
def test_sample_archive_serves_the_archs_it_holds(name, shared):
    space = SPACES.get(name)()
    space.configure(benchmark=shared(SAMPLES[name]))
    assert set(space._archive.held) == set(HELD) and space._archive.partial
    for index in HELD:
        assert space.ground_truth(space.arch(index), "cifar10")["test_acc"] > 0
    with pytest.raises(NasproxError, match=r"holds the records of 3 of .* \(0, 11, 284\), not of architecture 5"):
        space.arch(5)


def test_sample_archive_with_a_csv_covers_the_rest(shared):
    space = SPACES.get("nats-sss")()
    space.configure(benchmark=shared(SAMPLES["nats-sss"]), ground_truth=shared(SAMPLE_CSV["nats-sss"]))
    truth = space.ground_truth(space.arch(1), "cifar100")  # not in the archive: from the CSV
    assert set(truth) == {"test_acc", "params"}
    assert set(space.ground_truth(space.arch(11), "cifar100")) == {"test_acc", "valid_acc", "params", "flops"}


def test_sample_archive_score_runs_on_held_archs(shared, tmp_path):
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "score",
            "--space",
            "nats-sss",
            "--proxy",
            "params",
            "--synthetic",
            "--device",
            "cpu",
            "--benchmark",
            str(shared(SAMPLES["nats-sss"])),
            "--archs",
            "0,11",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    rows = pd.read_csv(out)
    assert rows["arch_index"].tolist() == [0, 11] and rows["gt_test_acc"].notna().all()
