"""Sweeps: grid files, hashing, lanes, the debug/local executors end to end, SLURM scripts."""

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from neglr_utils.analysis.sweeps import collect
from neglr_utils.cli import write_collect
from neglr_utils.runs.profiles import LongRunRefused
from neglr_utils.runs.sweep import (
    ExecutorOptions,
    RunSpec,
    Sweep,
    execute,
    load_sweep,
    make_executor,
    make_lanes,
    plan,
    run_dir,
    stack_groups,
)

GRID = textwrap.dedent("""
    name = "tiny"
    out = "{out}"
    [[grid]]
    profile = ["smoke"]
    algo = ["maml", "meta-sgd"]
    n_inner_steps = [1, 2]
    seed = [0]
""")


def write_sweep(tmp_path: Path, text: str = GRID) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text.format(out=tmp_path / "results"))
    return path


def test_grid_expands_to_hashed_run_directories(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    specs = sweep.specs()
    assert len(specs) == 4 and {s.algo for s in specs} == {"maml", "meta-sgd"}
    assert {dict(s.overrides)["n_inner_steps"] for s in specs} == {1, 2}
    dirs = {run_dir(s, sweep.out) for s in specs}
    assert len(dirs) == 4  # each setting its own hash
    again = load_sweep(write_sweep(tmp_path))
    assert {run_dir(s, again.out) for s in again.specs()} == dirs
    step2 = RunSpec("smoke", "maml", 0, (("n_inner_steps", 2),))
    assert run_dir(step2, sweep.out).name.endswith(step2.config().digest())


@pytest.mark.parametrize(("text", "message"), [
    ("name = 'x'\nout = 'o'\n", "at least one"),
    ("name = 'x'\nout = 'o'\n[[grid]]\nprofile = ['smoke']\nalgo = ['maml']\n", "'seed'"),
    ("name = 'x'\nout = 'o'\n[[grid]]\nprofile = ['smoke']\nalgo = ['maml']\nseed = [0]\n"
     "n_inner_step = [1]\n", "unknown settings"),
    ("name = 'x'\nout = 'o'\nbogus = 1\n[[grid]]\n", "unknown keys"),
    ("name = 'x'\nout = 'o'\n[[grid]\n", "not valid TOML"),
    ("name = 'x'\nout = 'o'\n[[grid]]\nprofile = ['nope']\nalgo = ['maml']\nseed = [0]\n",
     "unknown profile"),
])
def test_bad_sweep_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_sweep(path).specs()


def test_lanes_balance_cost_and_keep_order():
    items = list(range(6))
    lanes = make_lanes(items, 2, cost=lambda i: [5, 1, 1, 1, 1, 1][i])
    assert sorted(sum(lanes, [])) == items
    assert [0] in lanes  # the expensive item alone
    assert all(lane == sorted(lane) for lane in lanes)
    with pytest.raises(ValueError, match="at least one lane"):
        make_lanes(items, 0, cost=lambda i: 1)


def test_stacks_group_runs_of_the_same_shapes(tmp_path):
    specs = [RunSpec("smoke", a, s) for s in (0, 1) for a in ("maml", "meta-sgd")]
    specs.append(RunSpec("smoke", "maml", 0, (("n_inner_steps", 1),)))
    groups = stack_groups(specs, tmp_path, lambda dataset: 3)
    assert [len(g) for g in groups] == [3, 1, 1]  # four alike (cut at 3), one other
    assert groups[0][0] == specs[0]


def test_slurm_without_a_cluster_is_a_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun, no sbatch
    with pytest.raises(ValueError, match="SLURM"):
        make_executor(ExecutorOptions(kind="slurm"), tmp_path)


def test_local_executor_needs_explicit_defaults(tmp_path):
    pytest.importorskip("submitit")
    ex = make_executor(ExecutorOptions(kind="local", timeout_min=90, gpus_per_node=0), tmp_path)
    assert ex.parameters["timeout_min"] == 90 and ex.parameters["gpus_per_node"] == 0
    with pytest.raises(ValueError, match="executor"):
        ExecutorOptions(kind="kubernetes")


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["debug", "local"])
def test_smoke_sweep_runs_end_to_end_and_twice_trains_nothing(tmp_path, real_data_root,
                                                               monkeypatch, kind):
    monkeypatch.setenv("NEGLR_DATA", str(real_data_root))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweep = load_sweep(write_sweep(tmp_path))
    lines = []
    execute(sweep, ExecutorOptions(kind=kind, workers=2), progress_every=1, write=lines.append)
    assert all((run_dir(s, sweep.out) / "final.pt").exists() for s in sweep.specs())
    assert all((run_dir(s, sweep.out) / "eval-test.json").exists() for s in sweep.specs())
    assert any("finished, test accuracy" in line for line in lines)
    mtimes = {s: (run_dir(s, sweep.out) / "final.pt").stat().st_mtime_ns for s in sweep.specs()}
    again = []
    execute(sweep, ExecutorOptions(kind=kind, workers=2), write=again.append)
    assert again[0].startswith("sweep tiny: 4 runs finished, 0 to train")
    assert mtimes == {s: (run_dir(s, sweep.out) / "final.pt").stat().st_mtime_ns
                      for s in sweep.specs()}
    rows = collect(sweep)
    assert {r.algo for r in rows} == {"maml", "meta-sgd"} and all(r.seeds == (0,) for r in rows)
    js, csv_path = write_collect(sweep)
    table = json.loads(js.read_text())
    assert any("conv1 mean" in row for row in table) and "test acc" in csv_path.read_text()
    record = json.loads((sweep.folder / "executor.json").read_text())
    assert record["executor"]["kind"] == kind and record["executor"]["timeout_min"] == 24 * 60


FAKE_SBATCH = """#!/bin/sh
# records its arguments and the submission script, answers like sbatch
echo "$@" > "{log}/args"
for a in "$@"; do case "$a" in *.sh) cp "$a" "{log}/script.sh";; esac; done
echo "Submitted batch job 4242"
"""


def test_slurm_submission_is_checked_without_a_cluster(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH.format(log=log)), ("srun", "#!/bin/sh\n")):
        tool = bin_dir / name
        tool.write_text(text)
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sweep = Sweep("slurm-test", str(tmp_path / "results"),
                  ({"profile": ("smoke",), "algo": ("maml", "meta-sgd"), "seed": (0, 1)},))
    opts = ExecutorOptions(kind="slurm", workers=3, timeout_min=120, gpus_per_node=1,
                           partition="gpu", array_parallelism=2, threads=4)
    lines = execute(sweep, opts, write=lambda line: None)
    assert lines and lines[0].startswith("submitted 4242")
    script = (log / "script.sh").read_text()
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --time=120" in script
    assert "#SBATCH --gpus-per-node=1" in script and "#SBATCH --cpus-per-task=4" in script
    assert "#SBATCH --array=0-2%2" in script  # three lanes, two at a time
    assert json.loads((sweep.folder / "slurm-jobs.json").read_text())["job_ids"]
    assert len(plan(sweep, opts).lanes) == 3


def test_a_paper_scale_sweep_on_a_cpu_needs_the_flag(tmp_path):
    sweep = Sweep("p", str(tmp_path), ({"profile": ("paper",), "algo": ("maml",), "seed": (0,)},))
    with pytest.raises(LongRunRefused, match="days on a CPU"):
        plan(sweep, ExecutorOptions(kind="local", workers=1), device="cpu")
    assert plan(sweep, ExecutorOptions(kind="local", workers=1), device="cpu", allow_long=True)


def test_estimated_seconds_of_the_whole_run_ignore_progress(tmp_path):
    """A nearly finished run costs little to finish but its whole cost stays the same (the
    book's `prepare` decides by the whole cost, so it never finishes a lane's long run)."""
    from neglr_utils.runs import store
    from neglr_utils.runs.sweep import RunSpec, estimated_seconds, run_dir

    spec = RunSpec("cpu", "maml", 0, ())
    d = run_dir(spec, tmp_path)
    d.mkdir(parents=True)
    n = spec.config().n_iterations
    store.write_metrics([{"iteration": n - 10, "wall_time": 0.5 * (n - 10)}], d)
    assert estimated_seconds(spec, tmp_path) == pytest.approx(10 * 0.5)
    assert estimated_seconds(spec, tmp_path, whole=True) == pytest.approx(n * 0.5)


def test_an_unstarted_run_is_estimated_from_its_finished_siblings_logs(tmp_path):
    """The missing-run notes take their minutes from measured logs: a run with no log of
    its own costs the least per-iteration time of its profile's finished runs of the same
    shapes (the others shared their core); a run of other shapes (another width), a
    compiled run and a GPU run do not count."""
    from neglr_utils.runs import store
    from neglr_utils.runs.sweep import RunSpec, estimated_seconds, run_dir

    def finished(spec, per_it, **info):
        d = run_dir(spec, tmp_path)
        d.mkdir(parents=True)
        cfg = spec.config()
        store.write_json({"config": cfg.to_dict(), "hash": cfg.digest(),
                          "device": "CPU (x86_64, 2 cores)", "torch_compile": False} | info,
                         d / "config.json")
        store.write_metrics([{"iteration": 100, "wall_time": 100 * per_it}], d)
        (d / "final.pt").write_bytes(b"")

    n = RunSpec("cpu", "maml", 0, ()).config().n_iterations
    finished(RunSpec("cpu", "maml", 0, ()), 0.9)
    finished(RunSpec("cpu", "meta-sgd", 0, ()), 1.1)
    finished(RunSpec("cpu", "maml", 1, ()), 2.0)
    finished(RunSpec("cpu", "maml", 0, (("hidden", 16),)), 0.1)
    finished(RunSpec("cpu", "maml", 2, ()), 0.2, torch_compile=True)  # not as `study` trains
    finished(RunSpec("cpu", "maml", 3, ()), 0.1, device="NVIDIA H200")
    todo = RunSpec("cpu", "meta-sgd", 2, ())
    assert estimated_seconds(todo, tmp_path) == pytest.approx(n * 0.9)
    ablation = RunSpec("cpu", "meta-sgd", 0, (("query_bn", "support"),))  # same shapes
    assert estimated_seconds(ablation, tmp_path) == pytest.approx(n * 0.9)
