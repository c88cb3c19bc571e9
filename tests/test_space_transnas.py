"""TransNAS-Bench-101 micro/macro spaces: enumeration order, models for all 7 tasks, losses, targets,
ground truth from the NASLib CSV exports and from a .pth in the official API structure."""

import csv
import math

import pytest
import torch
import torch.nn.functional as F

from nasprox.core import SPACES, NasproxError
from nasprox.spaces.transnas._transnas_common import TASKS

RES = 64  # reduced resolution: the layer structure (and parameter count) does not depend on it


def _csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def micro():
    return SPACES.get("transnas-micro")(resolution=RES)


@pytest.fixture(scope="module")
def macro():
    return SPACES.get("transnas-macro")(resolution=RES)


@pytest.mark.parametrize("name,size", [("transnas-micro", 4096), ("transnas-macro", 3256)])
def test_enumeration_matches_benchmark_export(shared, name, size):
    tag = name.split("-")[1]
    rows = _csv_rows(shared(f"transnas/tnb101_{tag}_valmetric_zen.csv"))
    space = SPACES.get(name)()  # generated without any file
    assert len(space) == size == len(rows)
    assert [space.key(i) for i in range(len(space))] == [r["tnb_arch_str"] for r in rows]
    for i in (0, 1, size // 2, size - 1):  # NASLib op tuples resolve to the same index
        assert space.parse(rows[i]["op_indices"]).index == i
        assert space.index_of(rows[i]["tnb_arch_str"]) == i


def test_macro_space_constraints(macro):
    keys = [macro.key(i) for i in range(len(macro))]
    assert len(set(keys)) == len(keys)
    digits = [k.split("-")[1] for k in keys]
    assert {len(d) for d in digits} == {4, 5, 6}
    assert all(1 <= sum(c in "34" for c in d) <= 4 and 1 <= sum(c in "24" for c in d) <= 3 for d in digits)


def _check_task(space, ref, task, gen, backward=False):
    spec = space.input_spec(task)
    model = space.build(ref, task)
    assert model.training
    x = torch.randn(2, *spec.shape, generator=gen)
    with torch.set_grad_enabled(backward):
        y = model(x)
        targets = space.make_targets(task, x, torch.tensor([3, 1077]), gen)
        if spec.task == "classification":
            assert y.shape == (2, TASKS[task].outputs)
            assert targets.tolist() == [3 % spec.num_classes, 1077 % spec.num_classes]
        elif spec.task.startswith("dense"):  # decoders restore the input resolution
            assert tuple(y.shape[1:]) == (spec.num_classes, *spec.target_shape[-2:]) == (spec.num_classes, RES, RES)
        else:
            assert tuple(y.shape[1:]) == spec.target_shape
        assert tuple(targets.shape[1:]) == spec.target_shape
        loss = space.loss_fn(task)(y, targets)
        assert loss.ndim == 0 and math.isfinite(loss.item())
    if backward:
        loss.backward()
        assert all(p.grad is not None for p in model.decoder.parameters())


def test_forward_shapes_and_losses_all_tasks(micro):
    ref = micro.parse("64-41414-1_02_333")  # skip across a stride (FactorizedReduce), none, convs
    gen = torch.Generator().manual_seed(0)
    for task in micro.datasets:
        _check_task(micro, ref, task, gen, backward=task == "room_layout")


@pytest.mark.parametrize(
    "arch,tasks",
    [
        ("64-1132-basic", ("segmentsemantic", "class_scene")),  # one halving: 3 upsampling layers
        ("64-3444-basic", ("normal", "jigsaw")),  # four halvings: 6 upsampling layers
    ],
)
def test_macro_decoders(macro, arch, tasks):
    gen = torch.Generator().manual_seed(1)
    for task in tasks:
        _check_task(macro, macro.parse(arch), task, gen)


def test_input_specs_follow_benchmark_configs():
    space = SPACES.get("transnas-micro")()  # full 256 resolution
    spec = space.input_spec("segmentsemantic")
    assert (spec.shape, spec.num_classes, spec.task, spec.target_shape) == (
        (3, 256, 256),
        17,
        "dense_classification",
        (256, 256),
    )
    spec = space.input_spec("jigsaw")  # nine 64x64 tiles as one 3x3 grid
    assert (spec.shape, spec.num_classes, spec.task) == ((3, 192, 192), 1000, "classification")
    assert space.input_spec("class_object").num_classes == 75
    assert space.input_spec("class_scene").num_classes == 47
    spec = space.input_spec("room_layout")
    assert (spec.task, spec.target_shape, spec.norm) == ("regression", (9,), "taskonomy")
    spec = space.input_spec("normal")
    assert (spec.task, spec.target_shape, spec.norm) == ("dense_regression", (3, 256, 256), "half")


def test_stem_only_cell_parameter_count_by_hand(micro):
    """All-'none' cell: only the stem and the head have weights.
    stem conv 3*32*9 + BN 2*32 + conv 32*64*9 + BN 2*64 = 19,488; head 512*75 + 75 = 38,475."""
    model = micro.build(micro.parse("64-41414-0_00_000"), "class_object")
    assert sum(p.numel() for p in model.parameters()) == 19_488 + 38_475
    model = micro.build(micro.parse("64-41414-0_00_000"), "jigsaw")  # 9 tiles concatenated
    assert sum(p.numel() for p in model.parameters()) == 19_488 + 512 * 9 * 1000 + 1000


def test_jigsaw_tiles_image_equals_explicit_tiles(macro):
    model = macro.build(macro.parse("64-1234-basic"), "jigsaw").eval()
    image = torch.randn(2, *macro.input_spec("jigsaw").shape)
    t = RES // 4
    tiles = torch.stack([image[:, :, r * t : (r + 1) * t, c * t : (c + 1) * t] for r in range(3) for c in range(3)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(image), model(tiles))


def test_loss_functions(micro):
    logits, labels = torch.randn(4, 75), torch.tensor([0, 5, 74, 3])
    assert micro.loss_fn("class_object")(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())
    pred, target = torch.randn(4, 9), torch.randn(4, 9)
    assert micro.loss_fn("room_layout")(pred, target).item() == pytest.approx(((pred - target) ** 2).mean().item())
    pred, target = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    assert micro.loss_fn("autoencoder")(pred, target).item() == pytest.approx((pred - target).abs().mean().item())
    seg, seg_t = torch.randn(2, 17, 8, 8), torch.randint(0, 17, (2, 8, 8))
    manual = -torch.log_softmax(seg, 1).gather(1, seg_t[:, None]).mean()
    assert micro.loss_fn("segmentsemantic")(seg, seg_t).item() == pytest.approx(manual.item(), rel=1e-5)


def test_make_targets_documented_behaviour(micro):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, RES, RES)
    assert torch.equal(micro.make_targets("autoencoder", x, torch.zeros(2), gen), x)
    seg = micro.make_targets("segmentsemantic", x, torch.zeros(2), gen)
    assert seg.dtype == torch.int64 and seg.min() == 0 and seg.max() == 16
    normal = micro.make_targets("normal", x, torch.zeros(2), gen)
    torch.testing.assert_close(normal.norm(dim=1), torch.ones(2, RES, RES))


@pytest.mark.parametrize("name", ["transnas-micro", "transnas-macro"])
def test_ground_truth_from_naslib_csv(shared, name):
    tag = name.split("-")[1]
    path = shared(f"transnas/tnb101_{tag}_valmetric_zen.csv")
    rows = _csv_rows(path)
    space = SPACES.get(name)()
    assert space.ground_truth(space.arch(0), "jigsaw") == {}  # nothing configured yet
    space.configure(ground_truth=path)
    assert space.default_target == "valid_metric" and "valid_metric" not in space.lower_is_better_targets
    for i in (0, 777, len(rows) - 1):
        for task in TASKS:
            gt = space.ground_truth(space.arch(i), task)
            assert gt["valid_metric"] == pytest.approx(float(rows[i][f"val_{task}"]))
    room = [space.ground_truth(space.arch(i), "room_layout")["valid_metric"] for i in range(0, len(rows), 97)]
    assert max(room) < 0  # negative loss: higher is better


def test_csv_of_the_other_space_is_refused(shared):
    with pytest.raises(NasproxError, match="no transnas-micro architecture"):
        SPACES.get("transnas-micro")().configure(ground_truth=shared("transnas/tnb101_macro_valmetric_zen.csv"))


def test_official_pth_structure(tmp_path):
    """A .pth in the structure api/api.py reads (the real release is not in the shared data)."""
    data = {
        "micro": {
            "64-41414-1_02_333": {
                "class_object": {
                    "total_epochs": 3,
                    "model_info": {"model_params": 1.0},
                    "metrics": {
                        "valid_top1": [10.0, 30.0, 25.0],
                        "test_top1": [9.0, 28.0, 24.0],
                        "valid_loss": [3.0, 2.0, 2.1],
                        "test_loss": [3.1, 2.2, 2.3],
                    },
                },
                "room_layout": {
                    "total_epochs": 2,
                    "metrics": {
                        "valid_neg_loss": [-1.0, -0.7],
                        "test_neg_loss": [-1.1, -0.8],
                        "valid_loss": [1.0, 0.7],
                        "test_loss": [1.1, 0.8],
                    },
                },
                "autoencoder": {
                    "total_epochs": 2,
                    "metrics": {
                        "valid_ssim": [0.4, 0.5],
                        "test_ssim": [0.41, 0.52],
                        "valid_l1_loss": [0.3, 0.2],
                        "test_l1_loss": [0.31, 0.21],
                    },
                },
            }
        },
        "macro": {"64-1234-basic": {}},
    }
    db = {"data": data, "task_list": list(TASKS), "metrics_dict": {}, "info_names": ["model_params"]}
    torch.save(db, tmp_path / "transnas-bench_v10141024.pth")
    space = SPACES.get("transnas-micro")()
    space.configure(benchmark=tmp_path)
    ref = space.parse("64-41414-1_02_333")
    assert space.ground_truth(ref, "class_object") == {
        "valid_metric": 25.0,
        "test_metric": 24.0,
        "valid_loss": 2.1,
        "test_loss": 2.3,
    }
    assert space.ground_truth(ref, "room_layout")["valid_metric"] == -0.7
    assert space.ground_truth(ref, "autoencoder") == {
        "valid_metric": 0.5,
        "test_metric": 0.52,
        "valid_loss": 0.2,
        "test_loss": 0.21,
    }
    assert space.ground_truth(ref, "jigsaw") == {}
    with pytest.raises(NasproxError, match="API file"):
        torch.save({"nothing": 1}, tmp_path / "bad.pth")
        space.configure(benchmark=tmp_path / "bad.pth")


@pytest.mark.parametrize(
    "name,text",
    [
        ("transnas-micro", "64-41414-4_00_000"),
        ("transnas-micro", "64-1234-basic"),
        ("transnas-micro", "(1, 2, 3)"),
        ("transnas-macro", "64-1111-basic"),  # no halving: outside the space
        ("transnas-macro", "64-2222222-basic"),
        ("transnas-macro", "(1, 0, 3, 4)"),
    ],
)
def test_bad_architectures(name, text):
    with pytest.raises(NasproxError):
        SPACES.get(name)().parse(text)


def test_bad_dataset_and_resolution(micro):
    with pytest.raises(NasproxError, match="no dataset"):
        micro.input_spec("cifar10")
    with pytest.raises(NasproxError, match="multiple of 64"):
        SPACES.get("transnas-macro")(resolution=100)
    with pytest.raises(NasproxError, match="not found"):
        micro.configure(ground_truth="/nonexistent/file.csv")


def test_best_epoch_metrics_file(shared):
    """tnb101_micro_best_epoch_metrics.csv: every best-epoch metric under the file's name, NASLib's last-epoch
    valid_metric untouched beside it, losses (the epoch maximum) lower-is-better, result columns only then."""
    from nasprox.spaces.transnas._transnas_common import BEST_EPOCH_FIELDS

    best_path = shared("transnas/tnb101_micro_best_epoch_metrics.csv")
    last_path = shared("transnas/tnb101_micro_valmetric_zen.csv")
    space = SPACES.get("transnas-micro")()
    assert "test_mIoU" not in space.gt_fields  # unconfigured: the four-field schema of the committed CSVs
    assert set(space.extra_gt_fields) == set(BEST_EPOCH_FIELDS)
    space.configure(ground_truth=last_path)
    assert space.gt_fields == type(space).gt_fields
    space.configure(ground_truth=best_path)
    assert space.default_target == "valid_metric"
    assert {"test_mIoU", "test_ssim", "test_top1", "test_neg_loss", "max_test_l1_loss"} <= set(space.gt_fields)
    assert {"max_valid_loss", "max_test_loss", "max_valid_l1_loss", "max_test_l1_loss"} <= space.lower_is_better_targets
    assert not {"test_mIoU", "test_ssim", "test_neg_loss"} & space.lower_is_better_targets
    # numbers printed in the file (row 0 and row 1 share them: the first edge 'none' cuts the cell)
    for index in (0, 1):
        seg = space.ground_truth(space.arch(index), "segmentsemantic")
        assert seg["test_mIoU"] == 5.42009 and seg["valid_mIoU"] == 5.40575 and seg["test_acc"] == 92.1367
        assert seg["max_test_loss"] == 0.416126
        assert seg["valid_metric"] == pytest.approx(91.89356231689453)  # NASLib's last epoch, kept
        normal = space.ground_truth(space.arch(index), "normal")
        assert normal["test_ssim"] == 0.322789 and normal["max_test_l1_loss"] == 0.442885
        assert space.ground_truth(space.arch(index), "autoencoder")["test_ssim"] == 0.0485294
        room = space.ground_truth(space.arch(index), "room_layout")
        assert room["test_neg_loss"] == -1.15685 and room["max_test_loss"] == 1.16658
        assert space.ground_truth(space.arch(index), "class_scene")["test_top1"] == 13.7938
    best_rows = _csv_rows(best_path)
    last_rows = _csv_rows(last_path)
    for i in (5, 1234, 4095):  # every row, every task: the best epoch is at least the last (checked in the file)
        gt = space.ground_truth(space.arch(i), "class_object")
        assert gt["test_top1"] == float(best_rows[i]["class_object.test_top1"])
        assert gt["valid_top1"] >= gt["valid_metric"] - 1e-4 == float(last_rows[i]["val_class_object"]) - 1e-4


def test_best_epoch_target_in_correlate(shared, tmp_path):
    """`correlate --ground-truth transnas-micro=<best-epoch file> --target test_mIoU` on a scored CSV."""
    from typer.testing import CliRunner

    from nasprox.cli import app
    from nasprox.stats import load_results, target_values, with_ground_truth

    space = SPACES.get("transnas-micro")()
    out = tmp_path / "seg.csv"
    rows = ["space,arch_index,arch,dataset,proxy,proxy_version,seed,data_config,score,status"]
    scores = {i: float(i % 7) for i in range(0, 4096, 41)}
    rows += [f"transnas-micro,{i},{space.key(i)},segmentsemantic,toy,1,0,x,{s},ok" for i, s in scores.items()]
    out.write_text("\n".join(rows) + "\n")
    best = shared("transnas/tnb101_micro_best_epoch_metrics.csv")
    table = with_ground_truth(load_results([out]), {"transnas-micro": str(best)})
    sub = table.frame
    mious = target_values(sub, "transnas-micro", "test_mIoU")
    file_rows = _csv_rows(best)
    assert list(mious) == [float(file_rows[i]["segmentsemantic.test_mIoU"]) for i in sub["arch_index"]]
    losses = target_values(sub, "transnas-micro", "max_test_loss")  # lower is better: sign flipped
    assert list(losses) == [-float(file_rows[i]["segmentsemantic.test_loss"]) for i in sub["arch_index"]]
    result = CliRunner().invoke(
        app, ["correlate", str(out), "--ground-truth", f"transnas-micro={best}", "--target", "test_mIoU"]
    )
    assert result.exit_code == 0, result.output
    assert "test_mIoU" in result.output
