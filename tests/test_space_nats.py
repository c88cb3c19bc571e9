"""NATS-Bench TSS/SSS: index order, parameter counts vs the benchmark's own figures, ground truth."""

import bz2
import csv
import json
import pickle
import shutil

import pytest
import torch

from nasprox.core import SPACES, ArchRef, NasproxError

TSS_DIR = "nats_format_samples/NATS-tss-v1_0-3ffb9-simple"
SSS_DIR = "nats_format_samples/NATS-sss-v1_0-50262-simple"
GT_CSV = "nb201/nb201_test_acc_200ep.csv"
RECORDED = (0, 11, 284)  # archs with full records in the shared real-format samples
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


@pytest.fixture(scope="module")
def tss():
    return SPACES.get("nats-tss")()


@pytest.fixture(scope="module")
def sss():
    return SPACES.get("nats-sss")()


@pytest.fixture(scope="module")
def csv_rows():
    from conftest import shared_file

    with open(shared_file(GT_CSV)) as fh:
        return list(csv.DictReader(fh))


def n_params(model) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def raw_record(path, hp):
    """The record as plain pickle sees it (independent of nasprox's reader)."""
    with bz2.open(path, "rb") as fh:
        return pickle.load(fh)[hp]


def seed_mean(record, runs, eval_set):
    values = [
        r["eval_acc1es"][f"{eval_set}@{r['epochs'] - 1}"]
        for (name, _), r in record["all_results"].items()
        if name == runs
    ]
    return sum(values) / len(values)


# -- enumeration -------------------------------------------------------------------------------
def test_generated_index_order_matches_real_meta_files(tss, sss, shared):
    from nasprox.spaces.nats._nats_files import load_pbz2

    assert len(tss) == 15625 and len(sss) == 32768
    assert load_pbz2(shared(f"{TSS_DIR}/meta.pickle.pbz2"))["meta_archs"] == tss.all_keys()
    assert load_pbz2(shared(f"{SSS_DIR}/meta.pickle.pbz2"))["meta_archs"] == sss.all_keys()


def test_index_order_matches_ground_truth_csv_rows(tss, csv_rows):
    assert [row["ArchitectureString"] for row in csv_rows] == tss.all_keys()
    assert all(tss.index_of(tss.key(i)) == i for i in range(0, 15625, 97))


def test_neighbours_are_the_one_edge_edits(tss, sss):
    near = tss.neighbours(11)
    assert len(set(near)) == 24 and 11 not in near
    base = tss.key(11).split("|")
    assert all(sum(a != b for a, b in zip(base, tss.key(j).split("|"))) == 1 for j in near)
    assert len(set(sss.neighbours(0))) == 5 * 7


# -- models --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
def test_params_and_flops_equal_nats_records(shared, dataset):
    from nasprox.proxies.flops import count_macs

    # fresh spaces: one configured with a sample archive refuses the archs it lacks (not the shared fixtures)
    for space, folder in ((SPACES.get("nats-tss")(), TSS_DIR), (SPACES.get("nats-sss")(), SSS_DIR)):
        space.configure(benchmark=shared(folder))
        for i in RECORDED:
            arch = space.arch(i)
            truth = space.ground_truth(arch, dataset)
            model = space.build(arch, dataset)
            assert n_params(model) == pytest.approx(truth["params"], abs=1e-6), (space.name, i, dataset)
            c, h, w = space.input_spec(dataset).shape
            macs, unsupported = count_macs(model.eval(), torch.rand(1, c, h, w))
            assert not unsupported
            assert macs / 1e6 == pytest.approx(truth["flops"], abs=1e-6), (space.name, i)


def test_sss_network_uses_the_benchmarks_fixed_cell(sss, shared):
    from nasprox.spaces.nats.nats_sss import CELL

    record = raw_record(shared(f"{SSS_DIR}/000284.pickle.pbz2"), "90")
    for result in record["all_results"].values():
        assert result["arch_config"]["genotype"] == CELL
        assert result["arch_config"]["channels"] == sss.key(284)


def test_params_equal_naslib_for_every_sampled_arch(tss, shared):
    """NAS-Bench-Suite-Zero's `params` (NASLib, millions): all 491 cifar10 archs, 30 per other dataset."""
    data = json.loads(shared("naslib_suite_zero/zc_nasbench201.json").read_text())
    worst, checked = 0.0, 0
    for ds, per_arch in data["nasbench201"].items():
        items = sorted(per_arch.items())
        if ds != "cifar10":
            items = items[:30]  # the classifier is the only difference: a subset suffices
        with torch.device("meta"):
            for key, rec in items:
                model = tss.build(tss.parse(key), ds)
                worst = max(worst, abs(n_params(model) - float(rec["params"])))
                checked += 1
    assert checked == 491 + 60
    assert worst < 5e-7, worst  # NASLib stores 6 decimals


def test_imagenet16_models_take_16x16_and_give_120_logits(tss, sss):
    for space in (tss, sss):
        model = space.build(space.arch(5), "ImageNet16-120")
        assert model.training
        out = model(torch.randn(2, 3, 16, 16))
        assert isinstance(out, torch.Tensor) and out.shape == (2, 120)
    assert tss.build(tss.arch(5), "cifar100")(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_naswot_relevant_class_names_are_kept(tss):
    names = {type(m).__name__ for m in tss.build(tss.arch(11), "cifar10").modules()}
    assert {"TinyNetwork", "InferCell", "ReLUConvBN", "ResNetBasicblock", "POOLING", "Zero"} <= names


# -- ground truth ----------------------------------------------------------------------------------
def test_tss_archive_fields_follow_the_nats_api(shared, csv_rows):
    space = SPACES.get("nats-tss")()
    space.configure(benchmark=shared(TSS_DIR))
    record = raw_record(shared(f"{TSS_DIR}/000284.pickle.pbz2"), "200")
    arch = space.arch(284)
    c10 = space.ground_truth(arch, "cifar10")
    assert c10["test_acc"] == pytest.approx(seed_mean(record, "cifar10", "ori-test"))
    assert c10["valid_acc"] == pytest.approx(seed_mean(record, "cifar10-valid", "x-valid"))
    img = space.ground_truth(arch, "ImageNet16-120")
    assert img["valid_acc"] == pytest.approx(seed_mean(record, "ImageNet16-120", "x-valid"))
    for ds, col in zip(
        DATASETS, ("CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs", "ImageNetTestAccuracy200Epochs")
    ):
        for i in RECORDED:  # the archive reproduces the published CSV (survey convention)
            got = space.ground_truth(space.arch(i), ds)
            assert got["test_acc"] == pytest.approx(float(csv_rows[i][col]), abs=1e-9)
            assert set(got) == set(space.gt_fields)


def test_sss_archive_reads_hp_90(shared):
    space = SPACES.get("nats-sss")()
    space.configure(benchmark=shared(SSS_DIR))
    got = space.ground_truth(space.parse("8:8:8:16:32"), "cifar10")  # index 11
    assert got["test_acc"] == pytest.approx(85.77)  # cifar10 ori-test @ epoch 89, the only seed (777)
    assert got["valid_acc"] == pytest.approx(83.72400000976563)
    assert got["params"] == pytest.approx(0.049202) and got["flops"] == pytest.approx(6.84065)


def test_ground_truth_from_the_csv(csv_rows, shared):
    space = SPACES.get("nats-tss")()
    assert space.ground_truth(space.arch(7), "cifar10") == {}  # nothing configured
    space.configure(ground_truth=shared(GT_CSV))
    got = space.ground_truth(space.arch(7), "ImageNet16-120")
    assert got == {"test_acc": pytest.approx(float(csv_rows[7]["ImageNetTestAccuracy200Epochs"]))}
    c100 = space.ground_truth(space.parse(csv_rows[9000]["ArchitectureString"]), "cifar100")
    assert c100["test_acc"] == pytest.approx(float(csv_rows[9000]["CIFAR100TestAccuracy200Epochs"]))


def test_long_and_wide_csv_layouts(tmp_path):
    space = SPACES.get("nats-sss")()
    wide = tmp_path / "wide.csv"
    wide.write_text("Arch,CIFAR-10 valid acc,cifar100_test_acc,imagenet16_120_params\n8:8:8:8:16,70.5,40.25,0.05\n")
    long = tmp_path / "long.csv"
    long.write_text("arch_str,dataset,gt_test_acc,flops\n8:8:8:8:16,ImageNet16-120,20.5,1.5\n8:8:8:8:16,mnist,1,1\n")
    space.configure(ground_truth=wide)
    space.configure(ground_truth=long)
    arch = space.arch(1)
    assert space.ground_truth(arch, "cifar10") == {"valid_acc": 70.5}
    assert space.ground_truth(arch, "cifar100") == {"test_acc": 40.25}
    assert space.ground_truth(arch, "ImageNet16-120") == {"params": 0.05, "test_acc": 20.5, "flops": 1.5}


@pytest.mark.parametrize(
    "text",
    [
        "foo,bar\n1,2\n",  # no arch column
        "arch,notes\n8:8:8:8:8,hello\n",  # no metric column
        "arch,cifar10_test_acc\n8:8:8:8:8,high\n",  # not a number
        "arch,cifar10_test_acc\n8:8:8:8:9,1.0\n",  # not an architecture of the space
        "arch,cifar10_test_acc\n8:8:8:8:8,1.0,2.0\n",  # ragged row
        "",
    ],
)
def test_malformed_csv_raises_one_line(tmp_path, text):
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(NasproxError) as err:
        SPACES.get("nats-sss")().configure(ground_truth=bad)
    assert "\n" not in str(err.value)


def test_archive_errors(tmp_path, shared):
    space = SPACES.get("nats-tss")()
    with pytest.raises(NasproxError):
        space.configure(benchmark=tmp_path / "missing")
    with pytest.raises(NasproxError, match="not a NATS-Bench topology"):
        space.configure(benchmark=shared(SSS_DIR))  # the other space's archive
    copy = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    shutil.copytree(shared(TSS_DIR), copy)
    data = (copy / "000011.pickle.pbz2").read_bytes()
    (copy / "000011.pickle.pbz2").write_bytes(data[: len(data) // 2])  # truncated
    (copy / "000284.pickle.pbz2").write_bytes(b"not bz2 at all")  # corrupt
    space.configure(benchmark=tmp_path)  # a folder holding the -simple directory works
    assert space.ground_truth(space.arch(0), "cifar10")["test_acc"] > 0
    for index in (11, 284, 5):  # truncated, corrupt, absent
        with pytest.raises(NasproxError) as err:
            space.ground_truth(space.arch(index), "cifar10")
        assert "\n" not in str(err.value)
    with pytest.raises(NasproxError):
        space.ground_truth(ArchRef("nats-tss", 3, "|bogus~0|"), "cifar10")


def test_single_file_archive(tmp_path, shared):
    """The non-simple archive: the meta dict with arch2infos filled (built here from the sample records)."""
    meta = raw = pickle.load(bz2.open(shared(f"{TSS_DIR}/meta.pickle.pbz2")))
    meta["arch2infos"] = {i: pickle.load(bz2.open(shared(f"{TSS_DIR}/{i:06d}.pickle.pbz2"))) for i in RECORDED}
    target = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with bz2.open(target, "wb") as fh:
        pickle.dump(raw, fh, protocol=4)
    single, simple = SPACES.get("nats-tss")(), SPACES.get("nats-tss")()
    single.configure(benchmark=target)
    simple.configure(benchmark=shared(TSS_DIR))
    for i in RECORDED:
        assert single.ground_truth(single.arch(i), "cifar100") == simple.ground_truth(simple.arch(i), "cifar100")
    with pytest.raises(NasproxError):
        single.ground_truth(single.arch(1), "cifar100")


def test_parse_and_bad_input(tss, sss):
    key = tss.key(11)
    assert tss.parse(key).index == 11 and tss.parse(f"  {key} ").key == key
    assert tss.parse("(2, 2, 3, 4, 1, 0)").key == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"
    )
    assert sss.parse("64:64:64:64:64").index == 32767 and sss.parse("8:8:8:8:16").index == 1
    for bad in ("|conv~0|", "(9, 9, 9, 9, 9, 9)", "(1, 2, 3)", "junk", key.replace("~2", "~1")):
        with pytest.raises(NasproxError):
            tss.parse(bad)
    for bad in ("8:8:8:8:12", "8:8:8:8", "a:b:c:d:e", ""):
        with pytest.raises(NasproxError):
            sss.parse(bad)
    with pytest.raises(NasproxError):
        tss.arch(15625)
    with pytest.raises(NasproxError):
        tss.build(tss.arch(0), "mnist")
