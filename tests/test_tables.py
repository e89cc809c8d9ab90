"""The book's tables (display/tables.py) and formatting (display/format.py) come from
run artifacts: a changed artifact changes the table."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from conftest import synthetic_splits, tiny_config

from neglr_utils.analysis import published
from neglr_utils.analysis.endpoints import sign_sweep
from neglr_utils.analysis.rates import RatePoint
from neglr_utils.analysis.results import accuracy_over_seeds, load_study, summarize
from neglr_utils.analysis.scorecard import STATUSES, scorecard, sign_status
from neglr_utils.core.probe import TRAINED, ProbeConfig, default_conditions
from neglr_utils.display import tables
from neglr_utils.display.format import ClaimNoLongerHolds, check, fmt, markdown_table, table
from neglr_utils.runs import probes as probe_mod
from neglr_utils.runs import profiles
from neglr_utils.runs.probes import ensure_probes
from neglr_utils.runs.profiles import STUDIES
from neglr_utils.runs.training import evaluate_run, train
from neglr_utils.stats import Interval, mean_ci

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


def test_changing_the_eval_artifact_changes_the_table(study, study_root):
    path = study.of("maml")[0].path
    res = json.loads((path / "eval-test.json").read_text())
    before = accuracy_over_seeds(study.of("maml"))
    res["acc"] += 0.1
    (path / "eval-test.json").write_text(json.dumps(res))
    after = accuracy_over_seeds(load_study(TINY, root=study_root).of("maml"))
    assert after.mean == pytest.approx(before.mean + 0.05)  # one of two seeds moved by 0.1
    row = next(r for r in tables.accuracy_rows(load_study(TINY, root=study_root))
               if r["algorithm"] == "MAML")
    assert row["test accuracy (95 % CI)"] == fmt(after, "pct")
    res["acc"] -= 0.1
    (path / "eval-test.json").write_text(json.dumps(res))


def test_the_reports_accuracy_stands_only_beside_mini_imagenet(study):
    """The report's validation accuracies are mini-ImageNet's: beside an Omniglot study
    (the tiny profile here) the column is empty, beside a mini-ImageNet one it is set."""
    report = "report (mini-ImageNet 84×84, validation)"
    assert study.dataset == "omniglot"
    assert {r[report] for r in tables.accuracy_rows(study)} == {"—"}
    mini = dataclasses.replace(study, profile=dataclasses.replace(
        study.profile, run=study.profile.run.replace(dataset="mini-imagenet")))
    rows = {r["algorithm"]: r[report] for r in tables.accuracy_rows(mini)}
    assert rows["MAML"] == "≈ 46 %" and rows["Meta-SGD"] == "≈ 47 %"


def test_table1_is_over_seeds_beside_the_report_and_leaves_out_conv_biases(study):
    rows = {r["layer"]: r for r in tables.table1_rows(study)}
    seed_means = [s.rates["conv1"].mean for s in study.of("meta-sgd")]
    assert rows["conv1"]["mean"].startswith(fmt(sum(seed_means) / 2, "rate"))
    assert rows["conv1"]["report mean / std"] == "-0.006 / 0.032"
    assert rows["bn1"]["report mean / std"] == "—"
    run = study.of("meta-sgd")[0]
    assert set(run.inert) == {f"conv{i}.bias" for i in range(1, 5)}
    assert all(st.std < 1e-6 for st in run.inert.values())  # a conv bias cannot learn


def test_probe_tables_come_from_the_probes(study):
    rows = tables.overlap_rows(study, [PROBE])
    assert rows and rows[0]["off-task pairs"] == "independent"
    assert sorted(sign_sweep(study.probes, PROBE)) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    changes = {r["quantity"]: r for r in tables.changes_rows(study, PROBE)}
    assert set(changes["seeds"]) == {"quantity", "MAML", "Meta-SGD", "positive Meta-SGD"}
    assert changes["seeds"]["MAML"] == "2" and "off − pre_b" in changes


def test_settling_rows_read_a_long_curve_at_its_quarters():
    means = (0.01, -0.01, -0.02, 0.02, 0.1)
    pts = [RatePoint(i, layer, 1, m * (1 + i / 1000), 0.0, 0.0)
           for layer, m in zip(published.TABLE1_LAYERS, means, strict=True)
           for i in range(250, 1751, 250)]  # logged to 1,750 of 2,000
    rows = {r["layer"]: r for r in tables.settling_rows(pts, 2000)}
    assert rows["conv3"]["at 1,000"] == fmt(-0.04, "rate")
    assert rows["conv3"]["at 2,000"] == "—"  # not trained that far yet
    assert rows["conv3"]["range from 1,000"] == f"{fmt(-0.055, 'rate')} to {fmt(-0.04, 'rate')}"
    assert rows["logits"]["report (60,000)"] == fmt(published.TABLE1["logits"][0], "rate", 3)


def test_markdown_tables_are_numbered_and_escape_cells():
    md = markdown_table([{"a": "x|y", "b": 1}], "A caption.", "tab-x")
    assert md.startswith("```{table} A caption.\n:name: tab-x") and "x\\|y" in md
    with pytest.raises(ValueError, match="has no rows"):
        table([], "c", "tab-empty")


@pytest.mark.parametrize(("value", "kind", "text"), [
    (0.4757, "prob", "0.4757"), (-0.006, "rate", "-0.0060"), (0.461, "pct", "46.1 %"),
    (0.00044, "p", "0.00044"), (3.0, "count", "3"), (7200.0, "s", "2.0 h"),
    (math.nan, "prob", "n/a"), (None, "prob", "—"),
    (-0.00001, "change", "0.0000"), (-0.00001, "prob", "0.0000"), (0.0, "rate", "0.0000"),
])
def test_the_one_formatter(value, kind, text):
    assert fmt(value, kind) == text


def test_an_interval_shows_its_half_width():
    assert fmt(mean_ci([0.4, 0.5, 0.6]), "prob").startswith("0.5000 ± ")
    assert fmt(mean_ci([0.5]), "prob") == "0.5000"  # no interval from one value


def test_run_summaries_read_every_artifact(study):
    r = summarize(study.of("meta-sgd")[0].path)
    assert r.finished and r.test is not None and len(r.probes) == 5
    assert set(r.rates) >= {"conv1", "logits"} and r.evolution
    assert torch.isfinite(torch.tensor(r.wall_time))


def test_a_check_fails_the_profile_its_prose_describes():
    prose, other = STUDIES["cpu"], STUDIES["smoke"]
    assert "✓ check: x" in check(True, "x", prose).data
    with pytest.raises(ClaimNoLongerHolds, match="no longer do"):
        check(False, "x", prose)
    assert "do not say: x" in check(False, "x", other).data


@pytest.mark.parametrize(("low", "high", "claimed", "status"), [
    (0.1, 0.3, +1, "reproduced"), (-0.3, -0.1, +1, "not reproduced"),
    (-0.1, 0.3, +1, "inconclusive"), (-0.3, -0.1, -1, "reproduced"),
])
def test_sign_rule(low, high, claimed, status):
    iv = Interval((low + high) / 2, low, high, 0.1, 3)
    assert sign_status(iv, claimed) == status
    assert sign_status(Interval(0.2, math.nan, math.nan, math.nan, 1), claimed) == "inconclusive"


def test_scorecard_covers_every_claim_with_a_status(study):
    claims = scorecard({"tiny": study})
    assert len(claims) == 12 and all(c.findings["tiny"].status in STATUSES for c in claims)
    head_free = next(c for c in claims if c.text.startswith("Meta-SGD's head-free features"))
    assert head_free.report == pytest.approx(0.4757 - 0.4715)
    pre = {a: [float(r.acc.pre_a.mean()) for r in study.probes if r.run.algo == a
               and r.condition == TRAINED and r.config == PROBE] for a in ("meta-sgd", "maml")}
    assert len(pre["maml"]) == 2 and head_free.findings["tiny"].value.mean == pytest.approx(
        np.mean(pre["meta-sgd"]) - np.mean(pre["maml"]))
    delta = next(c for c in claims if c.rule == "delta")
    assert delta.report == pytest.approx(0.0024, abs=1e-9)
    assert delta.findings["tiny"].n_seeds == 2
    placebo = next(c for c in claims if c.rule == "calibration").findings["tiny"]
    assert placebo.status == "not testable here" and placebo.n_seeds == 2  # 2 pairs < 3
    rows = tables.scorecard_rows(claims, {"tiny": "ours"})
    assert all(r["status, ours"].split(" (")[0] in STATUSES for r in rows)


def test_the_report_form_of_a_study_and_its_rows(study):
    """The tiny study's probe is independent (the report's pairing): its report form is
    split into terms whose per-seed sum is the total, and one row shows it."""
    from neglr_utils.analysis.endpoints import adaptation_part
    from neglr_utils.analysis.scorecard import report_form_independent

    form = report_form_independent(study)
    assert form is not None and form.total.seeds == (0, 1)
    np.testing.assert_allclose(np.subtract(form.total.values, form.baseline.values),
                               np.subtract(form.off.values, form.on.values), atol=1e-12)
    assert adaptation_part(form).mean == pytest.approx(
        np.mean(form.off.values) - np.mean(form.on.values))
    rows = tables.report_form_rows(study, [study.profile.probe])
    assert len(rows) == 1 and rows[0]["+ pre_B − pre_A"] == fmt(form.baseline.interval,
                                                                 "change")
    on = form.on.interval  # shown with the sign it enters the total with
    assert rows[0]["− (on − pre_A)"] == fmt(Interval(-on.mean, -on.high, -on.low, on.sd, on.n),
                                            "change")


def test_choices_rows_give_each_profile_its_own_column():
    """The unstated settings per dataset: Omniglot's probe pairs are independent,
    mini-ImageNet's class-disjoint (one column per profile, not the first one's values)."""
    from neglr_utils.runs.profiles import CPU, CPU_MINI

    rows = {r["setting"]: r for r in tables.choices_rows([CPU_MINI, CPU])}
    off = rows["probe off-task task B"]
    assert off[CPU_MINI.label] == "class-disjoint from A"
    assert off[CPU.label] == "independent of A"
    assert list(off) == ["setting", CPU_MINI.label, CPU.label, "parameter"]


def test_results_summary_script_renders_a_study(study):
    """scripts/results_summary.py (the README's results) runs on a probed study."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "results_summary.py"
    spec = importlib.util.spec_from_file_location("results_summary", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "\n".join(module.study_section("tiny", study))
    assert "| claim of the report |" in text and "off − on (the report's form)" in text


def test_transposed_turns_fields_into_rows():
    from neglr_utils.display.format import transposed

    rows = [{"dataset": "a", "seeds": 5, "sd": "0.1"}, {"dataset": "b", "seeds": 3}]
    assert transposed(rows, "dataset") == [{"quantity": "seeds", "a": 5, "b": 3},
                                           {"quantity": "sd", "a": "0.1", "b": ""}]


def test_results_summary_says_what_a_one_seed_study_lacks(study, study_root):
    """With one seed per algorithm there is no same-algorithm pair: the summary says so in a
    sentence instead of printing empty tables (README's 6,000-iteration contrast had two)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "results_summary.py"
    spec = importlib.util.spec_from_file_location("results_summary", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    one = load_study(dataclasses.replace(TINY, seeds=(0,)), root=study_root)
    text = "\n".join(module.study_section("tiny", one))
    assert "\n|  |\n" not in text and "this study has too few" in text
    two = "\n".join(module.study_section("tiny", study))
    assert "this study has too few" not in two and "σ_m" in two
