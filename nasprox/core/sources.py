"""Where every upstream file nasprox reads comes from: the one table behind "file not found" messages.

Each :class:`Source` says what to download (the name the benchmark authors publish), from where (the
authors' own project page or repository) and which flag takes it. Loaders keep their own lists of
the names they look for; when one is missing they append :func:`hint` to their one-line message, e.g.

    NB101 benchmark file not found: x.tfrecord; --benchmark takes nasbench_only108.tfrecord (or
    nasbench_full.tfrecord) from https://github.com/google-research/nasbench; see docs/data.md

(shown wrapped here; messages stay on one line). ``docs/data.md`` lists the same sources with sizes,
checksums and how to verify a download. Pure data, no I/O, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCS = "docs/data.md"


@dataclass(frozen=True)
class Source:
    what: str  # what the user gives nasprox, as the benchmark authors call it
    get: str  # the file(s) to download or make
    url: str  # the official project page / repository
    flag: str  # the nasprox flag that takes it
    made: bool = False  # True: a file the user makes from the data published at ``url``


NATS_URL = "https://github.com/D-X-Y/NATS-Bench"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

SOURCES: dict[str, Source] = {
    "nats-tss": Source(
        "the NATS-Bench topology (TSS) archive",
        "NATS-tss-v1_0-3ffb9-simple.tar (unpacked) or NATS-tss-v1_0-3ffb9.pickle.pbz2",
        NATS_URL,
        "--benchmark",
    ),
    "nats-sss": Source(
        "the NATS-Bench size (SSS) archive",
        "NATS-sss-v1_0-50262-simple.tar (unpacked) or NATS-sss-v1_0-50262.pickle.pbz2",
        NATS_URL,
        "--benchmark",
    ),
    "nats-tss-csv": Source(
        "a NATS-Bench TSS ground-truth CSV",
        "a CSV of arch strings and per-dataset accuracies (e.g. nb201_test_acc_200ep.csv)",
        NATS_URL,
        "--ground-truth",
        made=True,
    ),
    "nats-sss-csv": Source(
        "a NATS-Bench SSS ground-truth CSV",
        "a CSV of channel strings and per-dataset accuracies (e.g. sss_test_acc_90ep.csv)",
        NATS_URL,
        "--ground-truth",
        made=True,
    ),
    "nb101": Source(
        "the NAS-Bench-101 dataset",
        "nasbench_only108.tfrecord (or nasbench_full.tfrecord)",
        "https://github.com/google-research/nasbench",
        "--benchmark",
    ),
    "transnas": Source(
        "the TransNAS-Bench-101 API file",
        "transnas-bench_v10141024.pth",
        "https://github.com/yawen-d/TransNASBench",
        "--benchmark",
    ),
    "transnas-csv": Source(
        "a TransNAS-Bench-101 ground-truth CSV",
        (
            "a CSV with tnb_arch_str and val_<task> columns (e.g. tnb101_micro_valmetric_zen.csv or the macro one), "
            "or <task>.<split>_<metric> best-epoch columns (e.g. tnb101_micro_best_epoch_metrics.csv)"
        ),
        "https://github.com/automl/NASLib",
        "--ground-truth",
        made=True,
    ),
    "nb-nlp": Source(
        "the NAS-Bench-NLP training logs",
        "train_logs_single_run/logs.zip or train_logs_wikitext-2/logs.zip (log_stats_model_*.json)",
        "https://github.com/fmsnew/nas-bench-nlp-release",
        "--benchmark",
    ),
    "cifar10": Source(
        "CIFAR-10 (python version)", "cifar-10-python.tar.gz (unpacked: cifar-10-batches-py/)", CIFAR_URL, "--data-root"
    ),
    "cifar100": Source(
        "CIFAR-100 (python version)", "cifar-100-python.tar.gz (unpacked: cifar-100-python/)", CIFAR_URL, "--data-root"
    ),
    "ImageNet16-120": Source(
        "ImageNet16 (16x16 downsampled ImageNet, as used by NATS-Bench)",
        "the ImageNet16/ folder with train_data_batch_1..10 and val_data",
        "https://github.com/D-X-Y/AutoDL-Projects",
        "--data-root",
    ),
    "ptb": Source(
        "Penn Treebank (Mikolov)",
        "simple-examples.tgz (data/ptb.train.txt, ptb.valid.txt, ptb.test.txt)",
        "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz",
        "--data-root",
    ),
    "wikitext-2": Source(
        "WikiText-2 (v1)",
        "wikitext-2-v1.zip (wikitext-2/wiki.train.tokens, ...)",
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
        "--data-root",
    ),
    "taskonomy": Source(
        "Taskonomy RGB images (the TransNAS-Bench-101 inputs)",
        "images saved as an .npz with x (N x H x W x 3 uint8) and y",
        "https://github.com/StanfordVL/taskonomy",
        "--data-root",
    ),
}

# dataset (as spaces name it) -> key of its input data in SOURCES
DATASET_SOURCES = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "ImageNet16-120": "ImageNet16-120",
    "ptb": "ptb",
    "wikitext-2": "wikitext-2",
    **{
        task: "taskonomy"
        for task in ("class_object", "class_scene", "room_layout", "jigsaw", "segmentsemantic", "normal", "autoencoder")
    },
}


def hint(*keys: str) -> str:
    """``"--flag takes FILES from URL; ...; see docs/data.md"`` for the given SOURCES keys (one line)."""
    parts = [f"{SOURCES[k].flag} takes {SOURCES[k].get} {_origin(SOURCES[k])}" for k in keys]
    return "; ".join(parts + [f"see {DOCS}"])


def _origin(source: Source) -> str:
    return f"{'made from the data of' if source.made else 'from'} {source.url}"


def missing(message: str, *keys: str) -> str:
    """A loader's one-line message about a missing file, followed by where that file comes from."""
    return f"{message}; {hint(*keys)}"


def dataset_hint(dataset: str) -> str:
    """Where the input data of ``dataset`` comes from (generic .npz advice for datasets not in the table)."""
    key = DATASET_SOURCES.get(dataset)
    if key is None:
        return f"--data-root takes a folder of the dataset's files or an .npz with x (N x H x W x C uint8) and y; see {DOCS}"
    return hint(key)


def describe_files(*keys: str, note: str = "") -> str:
    """A space's ``files_help`` built from its sources: ``--flag FILES, from URL`` per source, then ``note``."""
    parts = [f"{SOURCES[k].flag} {SOURCES[k].get}, {_origin(SOURCES[k])}" for k in keys]
    return "; ".join(parts + ([note] if note else []) + [f"see {DOCS}"])
