"""The book's tables come from run artifacts: a changed artifact changes the table."""

import dataclasses
import json
import math

import pytest
import torch
from conftest import synthetic_splits, tiny_config

from neglr_utils.analysis.results import load_study, summarize
from neglr_utils.core.probe import ProbeConfig, default_conditions
from neglr_utils.display import tables as report
from neglr_utils.runs import probes as probe_mod
from neglr_utils.runs import profiles
from neglr_utils.runs.probes import ensure_probes
from neglr_utils.runs.training import evaluate_run, train
from neglr_utils.stats import mean_ci

PROBE = ProbeConfig(n_iterations=6, k_query=3, batch_size=6)
TINY = dataclasses.replace(profiles.SMOKE, run=tiny_config("maml", n_iterations=4), seeds=(0, 1),
                           probe=PROBE)


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    """Two seeds of the three algorithms at a tiny 'smoke' profile, evaluated and probed."""
    root = tmp_path_factory.mktemp("results")
    mp = pytest.MonkeyPatch()
    splits = synthetic_splits()
    mp.setattr(probe_mod, "load_split", lambda *a, **k: splits["test"])
    for (algo, seed), path in TINY.locate(root=root).items():
        train(TINY.config(algo, seed), out_root=path.parent, splits=splits,
              device="cpu", progress=False)
        evaluate_run(path, n_episodes=600, image_split=splits["test"], device="cpu")
        ensure_probes([path], PROBE, default_conditions, device="cpu")
    yield root
    mp.undo()


@pytest.fixture()
def study(study_root):
    return load_study(TINY, root=study_root)


def test_every_quantity_has_a_row_with_numbers(study):
    rows = report.results_rows({"tiny": (study, PROBE)})
    names = [r.quantity for r in rows]
    assert len(names) == len(set(names)) and any("conv4" in n for n in names)
    acc = next(r for r in rows if r.quantity.startswith("MAML test accuracy"))
    assert acc.ours["tiny"].n == 2  # an interval over the two seeds
    text = report.display_rows(rows)
    assert all("quantity" in r and "tiny" in r for r in text)
    delta = rows[-1]
    assert delta.quantity.startswith("Δ") and delta.report == pytest.approx(0.0024, abs=1e-9)


def test_changing_the_eval_artifact_changes_the_table(study, study_root, monkeypatch):
    path = study.of("maml")[0].path
    res = json.loads((path / "eval-test.json").read_text())
    before = report.accuracy_of(study, "maml")
    res["acc"] += 0.1
    (path / "eval-test.json").write_text(json.dumps(res))
    after = report.accuracy_of(load_study(TINY, root=study_root), "maml")
    assert after.mean == pytest.approx(before.mean + 0.05)  # one of two seeds moved by 0.1
    res["acc"] -= 0.1
    (path / "eval-test.json").write_text(json.dumps(res))


def test_table1_is_over_seeds_and_beside_the_report(study):
    rows = {r["layer"]: r for r in report.table1_rows(study)}
    r = rows["conv1"]
    seed_means = [s.rates["conv1"].mean for s in study.of("meta-sgd")]
    assert r["mean (over seeds)"].mean == pytest.approx(sum(seed_means) / 2)
    assert r["report mean"] == pytest.approx(-0.006)
    assert rows["bn1"]["report mean"] is None
    assert "differs" in report.layers_sentence(study) or "matches" in report.layers_sentence(study)


def test_verdict_and_its_family_come_from_the_probes(study):
    text = report.verdict_line(study, PROBE)
    assert any(word in text for word in ("supported", "opposite", "equivalent", "inconclusive"))
    rows = report.overlap_rows(study, [PROBE])
    assert rows and rows[0]["off-task pairs"] == "independent"
    sweep = report.sign_sweep(study.probes, PROBE, "meta-sgd")
    assert sorted(sweep) == [-1.0, -0.5, 0.0, 0.5, 1.0]


def test_markdown_tables_are_numbered_and_escape_cells():
    md = report.markdown_table([{"a": "x|y", "b": 1}], "A caption.", "tab-x")
    assert md.startswith("```{table} A caption.\n:name: tab-x") and "x\\|y" in md
    assert "no finished runs yet" in report.markdown_table([], "c", "tab-empty")


@pytest.mark.parametrize(("value", "kind", "text"), [
    (0.4757, "prob", "0.4757"), (-0.006, "rate", "-0.0060"), (0.461, "pct", "46.1 %"),
    (0.00044, "p", "0.00044"), (3.0, "count", "3"), (7200.0, "s", "2.0 h"),
    (math.nan, "prob", "n/a"), (None, "prob", "—"),
])
def test_the_one_formatter(value, kind, text):
    assert report.fmt(value, kind) == text


def test_an_interval_shows_its_half_width():
    assert report.fmt(mean_ci([0.4, 0.5, 0.6]), "prob").startswith("0.5000 ± ")
    assert report.fmt(mean_ci([0.5]), "prob") == "0.5000"  # no interval from one value


def test_run_summaries_read_every_artifact(study):
    r = summarize(study.of("meta-sgd")[0].path)
    assert r.finished and r.test is not None and len(r.probes) == 5
    assert set(r.rates) >= {"conv1", "logits"} and r.evolution
    assert torch.isfinite(torch.tensor(r.wall_time))
