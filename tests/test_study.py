"""The study as a sweep: its grids, stacking policy, probe plan, and what the book trains."""

from pathlib import Path

import pytest

from neglr_utils import probe
from neglr_utils.profiles import PROBES
from neglr_utils.study import prepare, probe_plan, study_sweep
from neglr_utils.sweep import run_dir


def test_the_cpu_study_covers_both_datasets_three_algorithms_three_seeds_and_the_ablation():
    specs = study_sweep("cpu").specs()
    main = [s for s in specs if not s.overrides]
    assert len(main) == 2 * 3 * 3
    assert {s.profile for s in main} == {"cpu", "cpu-mini"} and {s.seed for s in main} == {0, 1, 2}
    ablation = [s for s in specs if s.overrides]
    assert {s.overrides for s in ablation} == {(("query_bn", "support"),)}
    assert {s.profile for s in ablation} == {"cpu"} and [s.seed for s in ablation] == [0]
    assert specs[0].seed == 0 and specs[-1].seed == 2  # seed 0 of everything first
    assert [s.seed for s in study_sweep("cpu", seeds=(1,)).specs()] == [1] * 7  # its first seed


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
    assert PROBES["cpu-mini"].disjoint and not PROBES["cpu"].disjoint
    positive = [j for j in jobs if "positive" in j.run_dir]
    assert all(j.conditions == (probe.TRAINED,) and not j.mechanism_tasks for j in positive)
    assert len(by) == len(jobs)
    diagnosed = sorted(Path(j.run_dir).parent.name + "/" + Path(j.run_dir).name.split("-")[0]
                       + ("-sgd" if "meta-sgd" in j.run_dir else "")
                       for j in jobs if j.mechanism_tasks)
    assert diagnosed == ["mini-imagenet/maml", "mini-imagenet/meta-sgd", "omniglot/maml",
                         "omniglot/meta-sgd"]  # the first seed's MAML and Meta-SGD only
    assert all("seed0" in j.run_dir for j in jobs if j.mechanism_tasks)


@pytest.mark.realdata
def test_prepare_trains_only_what_is_cheap(tmp_path, real_data_root, monkeypatch):
    monkeypatch.setenv("NEGLR_DATA", str(real_data_root))
    notes = prepare("cpu", (0,), root=str(tmp_path), max_train_minutes=0.0, progress=False)
    assert len(notes) == 7 and all("not started" in n and "minutes" in n for n in notes)
    assert all("python -m neglr_utils study --profile cpu" in n for n in notes)
    assert not list(tmp_path.rglob("final.pt"))
