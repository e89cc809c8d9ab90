"""The study as a sweep: its grids, stacking policy, probe plan, and what the book trains."""

from pathlib import Path

import pytest

from neglr_utils.core import probe
from neglr_utils.runs.profiles import CPU, CPU_MINI
from neglr_utils.runs.study import contrast_specs, prepare, probe_plan, study_sweep
from neglr_utils.runs.sweep import run_dir


def test_the_cpu_study_covers_both_datasets_with_their_seeds_and_the_ablations():
    specs = study_sweep("cpu").specs()
    assert sorted((s.profile, s.algo, s.seed) for s in contrast_specs("cpu")) == [
        ("cpu-mini-6k", a, 0) for a in ("maml", "meta-sgd", "meta-sgd-positive")]
    assert not any(s.profile == "cpu-mini-6k" for s in specs)  # a contrast is never trained
    main = [s for s in specs if not s.overrides]
    assert len(main) == 3 * 5 + 3 * 3
    assert {s.seed for s in main if s.profile == "cpu-mini"} == {0, 1, 2, 3, 4}
    assert {s.seed for s in main if s.profile == CPU.name} == {0, 1, 2}
    ablation = [s for s in specs if s.overrides]
    assert {s.overrides for s in ablation} == {(("query_bn", "support"),)}
    assert sorted((s.profile, s.seed) for s in ablation) == [("cpu", 0), ("cpu-mini", 0),
                                                             ("cpu-mini", 1)]
    assert specs[0].seed == 0 and specs[-1].seed == 4  # seed 0 of everything first
    one = study_sweep("cpu", seeds=(1,)).specs()
    assert [s.seed for s in one] == [1] * 7  # 3 + 3 + the mini-ImageNet ablation


def test_the_paper_study_has_no_ablation_and_lives_in_results_paper():
    sweep = study_sweep("paper")
    assert sweep.out == "results/paper" and all(not s.overrides for s in sweep.specs())


def test_probe_plan_per_algorithm(tmp_path):
    sweep = study_sweep("cpu", root=str(tmp_path))
    for s in sweep.specs():  # pretend every run finished
        d = run_dir(s, sweep.out)
        d.mkdir(parents=True)
        (d / "final.pt").write_bytes(b"")
    jobs = probe_plan(sweep)
    by = {(j.run_dir, j.config.disjoint): j for j in jobs}
    meta_sgd = next(j for j in jobs if "meta-sgd-seed0" in j.run_dir and "omniglot" in j.run_dir
                and len(j.conditions) > 1)
    assert set(meta_sgd.conditions) == set(probe.default_conditions("meta-sgd"))
    assert meta_sgd.mechanism_tasks == 1000
    mini_maml = [j for j in jobs if "mini-imagenet/maml-seed0" in j.run_dir]
    assert sorted(j.config.disjoint for j in mini_maml) == [False, True]  # both pairings
    assert CPU_MINI.probe.disjoint and not CPU.probe.disjoint
    positive = [j for j in jobs if "positive" in j.run_dir]
    assert all(j.conditions == (probe.TRAINED,) and not j.mechanism_tasks for j in positive)
    assert len(by) == len(jobs)
    diagnosed = sorted(Path(j.run_dir).parent.name + "/" + Path(j.run_dir).name.split("-")[0]
                       + ("-sgd" if "meta-sgd" in j.run_dir else "")
                       for j in jobs if j.mechanism_tasks)
    assert diagnosed == ["mini-imagenet/maml", "mini-imagenet/maml", "mini-imagenet/meta-sgd",
                         "mini-imagenet/meta-sgd", "omniglot/maml", "omniglot/meta-sgd"]
    seeds = {(Path(j.run_dir).parent.name, Path(j.run_dir).name.split("-seed")[1][0])
             for j in jobs if j.mechanism_tasks}
    assert seeds == {("mini-imagenet", "0"), ("mini-imagenet", "1"), ("omniglot", "0")}


@pytest.mark.realdata
def test_prepare_trains_only_what_is_cheap(tmp_path, real_data_root, monkeypatch):
    monkeypatch.setenv("NEGLR_DATA", str(real_data_root))
    missing, _ = prepare("cpu", (0,), root=str(tmp_path), max_train_minutes=0.0,
                         progress=False)
    assert len(missing) == 8 and all(m.done == 0 and m.minutes > 0 for m in missing)
    assert all(m.command == "python -m neglr_utils study --profile cpu" for m in missing)
    assert not list(tmp_path.rglob("final.pt"))
