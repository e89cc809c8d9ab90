"""Results and methods tables read from real run artifacts: change an artifact, see the table
change.

The artifacts are produced by the real writers (``train``, ``evaluate_run``, ``probe_run`` +
``write_probe_json``) with the smoke profile on synthetic images, so the tests follow any
change of their formats. One in-progress paper-scale run is written by hand in
``train.py``'s format (a real one would take days).
"""

import json

import pytest
import torch

from neglr_utils import report
from neglr_utils.data import ImageSplit
from neglr_utils.probe import ProbeConfig, probe_run, write_probe_json
from neglr_utils.profiles import profile_config
from neglr_utils.train import evaluate_run, load_run, run_dir_for, train

N_EVAL = 20
PROBE = ProbeConfig(n_iterations=12, k_query=2, batch_size=6)


def synthetic_splits(n_classes: int = 12, n_per_class: int = 8, size: int = 28):
    """Random 28x28 images in Omniglot's format, as tests/test_train.py uses."""
    g = torch.Generator().manual_seed(0)
    return {split: ImageSplit("omniglot", split, torch.randint(
        0, 256, (n_classes, n_per_class, 1, size, size), generator=g, dtype=torch.uint8),
        tuple(f"c{i}" for i in range(n_classes))) for split in ("train", "val", "test")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Smoke-profile MAML and Meta-SGD runs (evaluated, probed); no positive run."""
    root = tmp_path_factory.mktemp("runs")
    splits = synthetic_splits()
    paths = {}
    for algo in ("maml", "meta-sgd"):
        path = train(profile_config("smoke", algo), out_root=root, splits=splits,
                     device="cpu", progress=False)
        evaluate_run(path, n_episodes=N_EVAL, device="cpu", image_split=splits["test"])
        res = probe_run(load_run(path), PROBE, device="cpu", image_split=splits["test"])
        write_probe_json({"trained": res}, path / "probe.json")
        paths[algo] = path
    return root, paths


def table(root, paper_dir=None):
    rows = report.results_table(root, "smoke", (0,), paper_dir, n_test_episodes=N_EVAL)
    return {r["quantity"]: r for r in rows}


def test_every_quantity_has_a_row_with_its_scale(runs):
    root, _ = runs
    rows = table(root)
    maml = rows["MAML accuracy, head after adaptation"]
    assert "%" in maml["reproduction"] and "±" in maml["reproduction"]
    assert maml["scale"] == f"omniglot · smoke · 6 iter. · seed 0 · {N_EVAL} test tasks"
    assert rows["Meta-SGD with positive rates, accuracy"]["reproduction"] == "not run yet"
    assert rows["Figure 7, MAML, off-task"]["scale"].endswith(
        f"{PROBE.n_iterations} probe pairs (test split)")
    rate = rows["Meta-SGD mean inner rate, conv1 (Table 1)"]
    assert rate["report"] == "-0.0060" and rate["agrees"] in ("same sign", "OPPOSITE SIGN")
    assert rows["conv layers with a negative mean rate (of 4)"]["report"] == "4"


def test_changing_the_eval_artifact_changes_the_table(runs):
    root, paths = runs
    before = table(root)["MAML accuracy, head after adaptation"]["reproduction"]
    f = paths["maml"] / "eval-test.json"
    original = f.read_text()
    try:
        f.write_text(json.dumps(json.loads(original) | {"acc": 0.875, "ci95": 0.0125}))
        after = table(root)["MAML accuracy, head after adaptation"]["reproduction"]
        assert after == "87.5 % ± 1.2 %" and after != before
        diff = table(root)["Meta-SGD minus MAML accuracy"]
        meta_sgd = json.loads((paths["meta-sgd"] / "eval-test.json").read_text())["acc"]
        assert diff["reproduction"] == f"{100 * (meta_sgd - 0.875):+.1f} %"
        f.write_text(json.dumps(json.loads(original) | {"n_episodes": N_EVAL + 1}))
        stale = table(root)["MAML accuracy, head after adaptation"]["reproduction"]
        assert stale == "not evaluated yet"  # another task count is not this table's number
    finally:
        f.write_text(original)


def test_changing_the_probe_artifact_changes_the_table(runs):
    root, paths = runs
    f = paths["meta-sgd"] / "probe.json"
    original = f.read_text()
    try:
        body = json.loads(original)
        body["trained"]["stats"]["conditions"]["off_b"]["mean"] = 0.123456
        body["trained"]["stats"]["changes"]["off_report"]["mean"] = -0.5
        f.write_text(json.dumps(body))
        rows = table(root)
        assert rows["Figure 7, Meta-SGD, off-task"]["reproduction"].startswith("0.1235 ± ")
        change = rows["Meta-SGD off-task change (off - pre)"]
        assert change["reproduction"].startswith("-0.5000") and change["agrees"] == "OPPOSITE SIGN"
        f.unlink()
        assert table(root)["Figure 7, Meta-SGD, off-task"]["reproduction"] == "not probed yet"
    finally:
        f.write_text(original)


def test_paper_rows_show_progress_of_an_unfinished_run(runs, tmp_path):
    root, _ = runs
    assert table(root, tmp_path / "absent")["MAML accuracy, head after adaptation"][
        "paper-scale run"] == "not run yet"
    cfg = profile_config("paper", "maml")
    d = run_dir_for(cfg, tmp_path)
    d.mkdir()
    (d / "config.json").write_text(json.dumps(
        {"config": cfg.to_dict(), "hash": cfg.digest(), "versions": {"torch": "x"},
         "device": "NVIDIA H100 80GB HBM3"}))
    (d / "metrics.jsonl").write_text(json.dumps(
        {"iteration": 1200, "train_loss": 1.5, "train_acc": 0.3, "wall_time": 9000.0}) + "\n")
    rows = table(root, tmp_path)
    cell = rows["MAML accuracy, head after adaptation"]["paper-scale run"]
    assert cell == "in progress: iteration 1,200 of 60,000, NVIDIA H100 80GB HBM3, 2.5 h so far"
    assert rows["Figure 7, MAML, pre-adaptation"]["paper-scale run"] == cell
    assert rows["Meta-SGD accuracy"]["paper-scale run"] == "not run yet"


def test_methods_and_timing_tables_read_every_run(runs):
    _, paths = runs
    dirs = list(paths.values())
    methods = report.methods_table(dirs)
    assert [r["meta.algo"] for r in methods] == ["maml", "meta-sgd"]
    assert all(r["n_iterations"] == 6 and r["finished"] and r["version torch"] for r in methods)
    timing = report.timing_table(dirs)
    assert all(f"({N_EVAL} tasks)" in r["evaluation"] for r in timing)
    assert all("1 condition x 12 pairs" in r["probe"] for r in timing)


def test_claim_check_reads_the_probe_summary(runs):
    _, paths = runs
    entries = {f"{a}-seed0/trained": report.read_probe(paths[a])["trained"]
               for a in ("maml", "meta-sgd")}
    fake_comp = {"meta-sgd-seed0/trained vs maml-seed0": {
        "off_paired": {"diff": 0.01, "p": 0.001, "t": 3.0, "cohens_d": 0.2}}}
    out = report.claim_check(entries, fake_comp)
    assert out["part2"] and out["n"] == PROBE.n_iterations


def test_paper_progress_table_reads_the_committed_runs():
    """The paper rows come from results/paper/: a changed metrics log changes the table."""
    import shutil
    import tempfile
    from pathlib import Path

    from neglr_utils import report

    src = Path(__file__).resolve().parents[1] / "results" / "paper"
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "paper"
        shutil.copytree(src, dst)
        rows = {r["run"]: r for r in report.paper_progress_table(dst)}
        maml = rows["maml seed 0"]
        assert maml["status"].startswith("in progress: iteration")
        assert rows["meta-sgd seed 2"]["status"] == "not run yet"
        log = next(dst.glob("maml-seed0-*/metrics.jsonl"))
        lines = log.read_text().splitlines()
        log.write_text("\n".join(lines[:-1]) + "\n")
        changed = {r["run"]: r for r in report.paper_progress_table(dst)}["maml seed 0"]
        assert changed["status"] != maml["status"]
