"""NAS-Bench-NLP space and PTB token batches, checked against the 345 real WikiText-2 training logs."""

import json
import math
import zipfile

import pytest
import torch

from nasprox.core import SPACES, NasproxError
from nasprox.data.text import load_corpus, token_batches
from nasprox.spaces.nlp._nlp_logs import read_logs

LOGS = "nasbench_nlp/train_logs_wikitext-2_logs.zip"


@pytest.fixture(scope="module")
def logs_zip():
    from conftest import shared_file

    return shared_file(LOGS)


@pytest.fixture(scope="module")
def space(logs_zip):
    s = SPACES.get("nb-nlp")()
    s.configure(benchmark=logs_zip)
    return s


@pytest.fixture(scope="module")
def ptb_dir():
    from conftest import shared_file

    return shared_file("ptb/ptb.valid.txt").parent


def _raw_logs(path):
    with zipfile.ZipFile(path) as zf:
        return [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]


def test_parameter_counts_match_all_logs(logs_zip):
    """Every logged architecture, built by the space (on the meta device: no memory, same modules),
    has exactly the log's num_params (WikiText-2: vocab 33,278, emsize 400, nhid 600, 3 layers, tied)."""
    raw = _raw_logs(logs_zip)
    assert len(raw) == 345
    nb = SPACES.get("nb-nlp")()
    diffs = []
    with torch.device("meta"):
        for log in raw:
            model = nb.build(nb.parse(log["recepie"]), "wikitext-2")
            diffs.append(abs(sum(p.numel() for p in model.parameters()) - log["num_params"]))
    assert max(diffs) == 0


def test_enumeration_from_logs(space, logs_zip):
    raw = _raw_logs(logs_zip)
    ids = sorted({r["recepie_id"] % 1_000_000 for r in raw})
    assert len(space) == len(ids) == 344  # one id was logged twice
    assert [space.benchmark_id(i) for i in range(len(space))] == ids
    first = next(r for r in raw if r["recepie_id"] == 1_000_000)  # the plain tanh RNN
    assert space.key(0) == json.dumps(json.loads(first["recepie"]), sort_keys=True, separators=(",", ":"))
    assert space.index_of(first["recepie"]) == 0
    assert space.parse(json.dumps(json.loads(first["recepie"]), indent=2)).index == 0  # formatting-insensitive


def test_ground_truth_lookup(space, logs_zip):
    raw = _raw_logs(logs_zip)
    assert space.default_target == "val_loss"
    assert {"val_loss", "test_loss", "val_loss_best"} <= space.lower_is_better_targets
    by_id = {}
    for r in raw:
        by_id.setdefault(r["recepie_id"] % 1_000_000, []).append(r)
    for i in (0, 1, 100, len(space) - 1):
        runs = by_id[space.benchmark_id(i)]
        gt = space.ground_truth(space.arch(i), "wikitext-2")
        assert gt["params"] == runs[0]["num_params"]
        if all(r["status"] == "OK" for r in runs) and len(runs) == 1:
            assert gt["val_loss"] == pytest.approx(runs[0]["val_losses"][-1])
            assert gt["test_loss"] == pytest.approx(runs[0]["test_losses"][-1])
            assert gt["val_loss_best"] == pytest.approx(min(runs[0]["val_losses"]))
    twice = by_id[2429]  # the id with two OK runs: mean of their final validation losses
    gt = space.ground_truth(space.arch(space.index_of(twice[0]["recepie"])), "wikitext-2")
    assert gt["val_loss"] == pytest.approx(sum(r["val_losses"][-1] for r in twice) / 2)
    diverged = by_id[9182]  # status 'loss is nan!': no losses, parameters still known
    assert diverged[0]["status"] != "OK"
    gt = space.ground_truth(space.arch(space.index_of(diverged[0]["recepie"])), "wikitext-2")
    assert "val_loss" not in gt and gt["params"] == diverged[0]["num_params"]
    assert space.ground_truth(space.arch(0), "ptb") == {}  # no PTB logs configured


def test_forward_on_real_ptb_batches(ptb_dir, shared):
    recipes = json.loads(shared("nasbench_nlp/recepies_example.json").read_text())
    nb = SPACES.get("nb-nlp")()
    spec = nb.input_spec("ptb")
    assert (spec.kind, spec.shape, spec.num_classes, spec.task) == ("tokens", (70,), 10_000, "language_model")
    x, y = token_batches("ptb", 2, seed=0, seq_len=12, data_root=ptb_dir, vocab_size=spec.num_classes).next()
    for recipe in recipes[:3]:  # RNN, LSTM, GRU cells
        model = nb.build(nb.parse(json.dumps(recipe)), "ptb")
        assert model.training
        with torch.no_grad():
            logits = model(x)
            again = model(x)
        assert logits.shape == (2, 12, 10_000)
        torch.testing.assert_close(logits, again)  # no dropout by default: deterministic
        loss = nb.loss_fn("ptb")(logits, y).item()
        assert abs(loss - math.log(10_000)) < 0.5  # untrained: close to uniform over the vocabulary


def test_dropout_option_uses_benchmark_rates(ptb_dir, shared):
    recipe = json.loads(shared("nasbench_nlp/recepies_example.json").read_text())[0]
    nb = SPACES.get("nb-nlp")(dropout=True)
    model = nb.build(nb.parse(json.dumps(recipe)), "ptb")
    x = torch.randint(0, 10_000, (2, 5))
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
        model.eval()
        torch.testing.assert_close(model(x), model(x))


def test_recipe_list_gives_benchmark_index(tmp_path, shared):
    recipes = json.loads(shared("nasbench_nlp/recepies_example.json").read_text())
    (tmp_path / "models_recepies.json").write_text(json.dumps(recipes))
    nb = SPACES.get("nb-nlp")()
    nb.configure(benchmark=tmp_path)
    assert len(nb) == len(recipes)
    assert [nb.index_of(json.dumps(r)) for r in recipes[:3]] == [0, 1, 2]


def test_ptb_tokenisation_and_batches(ptb_dir):
    corpus = load_corpus("ptb", ptb_dir)
    assert corpus.words[:3] == ("aer", "banknote", "berlitz")  # Mikolov train file starts with these
    assert "<eos>" in corpus.words and "<unk>" in corpus.words and corpus.vocab_size <= 10_000
    with open(ptb_dir / "ptb.valid.txt") as fh:
        lines = fh.readlines()
    assert len(corpus.valid) == sum(len(ln.split()) + 1 for ln in lines)
    a = token_batches("ptb", 4, seed=3, seq_len=70, data_root=ptb_dir, vocab_size=10_000)
    b = token_batches("ptb", 4, seed=3, seq_len=70, data_root=ptb_dir, vocab_size=10_000)
    (xa, ya), (xb, _) = a.next(), b.next()
    assert xa.shape == ya.shape == (4, 70) and xa.dtype == torch.int64
    assert torch.equal(xa, xb) and torch.equal(xa[:, 1:], ya[:, :-1])
    assert not torch.equal(xa, a.next()[0])
    xs, ys = token_batches("ptb", 3, seed=1, seq_len=8, synthetic=True, vocab_size=50).next()
    assert xs.shape == (3, 8) and int(xs.max()) < 50 and torch.equal(xs[:, 1:], ys[:, :-1])


def test_bad_inputs(ptb_dir, tmp_path):
    nb = SPACES.get("nb-nlp")()
    with pytest.raises(NasproxError, match="without benchmark files"):
        len(nb)
    bad = {
        "{not json": "invalid JSON",
        '{"a": {"op": "conv", "input": ["x"]}, "h_new_0": {"op": "activation_tanh", "input": ["a"]}}': "unknown op",
        '{"a": {"op": "linear", "input": ["x", "h_prev_0"]}}': "h_new_0",
        '{"h_new_0": {"op": "activation_tanh", "input": ["b"]}, "b": {"op": "activation_sigm", "input": ["h_new_0"]}}': "cycle",
        '{"h_new_0": {"op": "linear", "input": ["x", "h_prev_1"]}}': "h_prev_1",
        '{"h_new_0": {"op": "blend", "input": ["x", "h_prev_0"]}}': "3 inputs",
    }
    for text, message in bad.items():
        with pytest.raises(NasproxError, match=message):
            nb.parse(text)
    with pytest.raises(NasproxError, match="no dataset"):
        nb.input_spec("cifar10")
    with pytest.raises(NasproxError, match="no NAS-Bench-NLP training logs"):
        nb.configure(benchmark=tmp_path)
    with pytest.raises(NasproxError, match="exceeds the model"):
        token_batches("ptb", 2, seed=0, data_root=ptb_dir, vocab_size=100)
    with pytest.raises(NasproxError, match="no ptb training text"):
        token_batches("ptb", 2, seed=0, data_root=tmp_path, vocab_size=10_000)
    with pytest.raises(NasproxError, match="--data-root"):
        token_batches("ptb", 2, seed=0, vocab_size=10_000)


def test_log_reader_on_single_files(tmp_path, logs_zip):
    with zipfile.ZipFile(logs_zip) as zf:
        name = sorted(zf.namelist())[0]
        (tmp_path / name).write_bytes(zf.read(name))
    runs = read_logs(tmp_path)
    assert len(runs) == 1 and runs[0].dataset == "wikitext-2" and runs[0].benchmark_id == 0
