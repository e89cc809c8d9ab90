"""Bad inputs: each ends in a clear message and loses nothing (docs/bad-inputs.md lists them).

Run directories (damaged, foreign or edited files), interrupted and concurrent trainings
(real signals to a child process), failing writes (a full disk: ``/dev/full`` and a file
object that fails part-way), long work refused, bad settings and notebook parameters,
and damaged or inconsistent data. Trainings are the seconds-long synthetic ones of
``conftest.py``; the interruption tests resume to the same weights, bit for bit, as an
uninterrupted run (CPU, float32, one torch thread in every process).
"""

from __future__ import annotations

import errno
import io as pyio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_splits, tiny_config, train_tiny
from PIL import Image

import neglr_utils.cli as cli
import neglr_utils.core.data as data
import neglr_utils.runs.study as study
import neglr_utils.runs.training as train_module
from neglr_utils.core.data import CorruptImageError, SplitOverlapError, load_split
from neglr_utils.display.params import check_parameters
from neglr_utils.runs import store
from neglr_utils.runs.config import RunConfig, run_dir_for
from neglr_utils.runs.lock import RunLock, RunLockedError
from neglr_utils.runs.profiles import PAPER, LongRunRefused, profile_config
from neglr_utils.runs.training import TrainingInterrupted, load_run, train

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def one_thread():
    """Every training here on one torch thread, as in the child processes (exact equality)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Stop(Exception):
    pass


def stop_at(iteration: int):
    def hook(it: int) -> None:
        if it == iteration:
            raise Stop

    return hook


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "final.pt", weights_only=True)
    return {f"{kind}:{k}": v for kind in ("params", "rates") for k, v in state[kind].items()}


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def stopped_run(tmp_path: Path, at: int = 6) -> Path:
    """A tiny run stopped before logging iteration ``at``: its checkpoint is at the even
    iteration before ``at - 1`` (6: checkpoint at 4, metrics lines 1 to 5)."""
    cfg = tiny_config()
    with pytest.raises(Stop):
        train_tiny(cfg, tmp_path, on_iteration=stop_at(at))
    return run_dir_for(cfg, tmp_path)


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory) -> Path:
    """The uninterrupted tiny run (meta-sgd, 8 iterations)."""
    torch.set_num_threads(1)
    return train_tiny(tiny_config(), tmp_path_factory.mktemp("reference"))


# ----------------------------------------------------------------------------- run directories


def test_truncated_checkpoint_is_an_error_never_overwritten(tmp_path):
    path = stopped_run(tmp_path)
    ckpt = path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    before = snapshot(path)
    with pytest.raises(store.RunFileError, match=rf"{ckpt} is damaged or not a checkpoint.*"
                                              "Nothing was changed.*--restart"):
        train_tiny(tiny_config(), tmp_path)
    assert snapshot(path) == before  # nothing overwritten, no lock left
    assert load_run(train_tiny(tiny_config(), tmp_path, resume=False)).finished  # on purpose


def test_corrupt_final_is_an_error_and_rebuilt_from_checkpoint(tmp_path, tiny_reference):
    path = train_tiny(tiny_config(), tmp_path)
    (path / "final.pt").write_bytes(b"not a checkpoint")
    for read in (load_run, train_module.evaluate_run):
        with pytest.raises(store.RunFileError, match=r"final.pt is damaged or not a checkpoint "
                                                  r"\(not a complete torch file\). Nothing was "
                                                  "changed. Delete it and train the run again"):
            read(path)
    (path / "final.pt").unlink()
    train_tiny(tiny_config(), tmp_path)
    assert_same_weights(path, tiny_reference)


def test_checkpoint_of_another_format_version(tmp_path):
    path = stopped_run(tmp_path)
    state = torch.load(path / "checkpoint.pt", weights_only=True)
    assert state["format"] == store.CHECKPOINT_FORMAT
    torch.save(state | {"format": 99}, path / "checkpoint.pt")
    with pytest.raises(store.RunFileError, match=r"checkpoint format 99; this version of "
                                              r"neglr_utils reads formats \(1, 2\)"):
        train_tiny(tiny_config(), tmp_path)


def test_foreign_file_as_checkpoint(tmp_path):
    path = stopped_run(tmp_path)
    torch.save(torch.zeros(3), path / "checkpoint.pt")
    with pytest.raises(store.RunFileError, match="holds no parameters; it is not a neglr"):
        train_tiny(tiny_config(), tmp_path)


def test_checkpoint_copied_from_another_run(tmp_path):
    path = stopped_run(tmp_path)
    other_cfg = tiny_config(seed=1)
    with pytest.raises(Stop):
        train_tiny(other_cfg, tmp_path, on_iteration=stop_at(3))
    shutil.copy(run_dir_for(other_cfg, tmp_path) / "checkpoint.pt", path / "checkpoint.pt")
    before = snapshot(path)
    with pytest.raises(store.RunFileError, match="checkpoint.pt belongs to another run"):
        train_tiny(tiny_config(), tmp_path)
    assert snapshot(path) == before


def test_partial_last_metrics_line_warns_and_resume_drops_lines_past_checkpoint(
        tmp_path, tiny_reference):
    path = stopped_run(tmp_path)  # checkpoint at 4, lines 1..5
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 6, "train_lo')  # killed while writing line 6
    with pytest.warns(UserWarning, match="dropped a partial last line"):
        assert [r["iteration"] for r in store.read_metrics(path)] == [1, 2, 3, 4, 5]
    with pytest.warns(UserWarning, match="dropped a partial last line"):
        train_tiny(tiny_config(), tmp_path)
    strip = [{k: v for k, v in r.items() if k != "wall_time"} for r in store.read_metrics(path)]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time"}
                     for r in store.read_metrics(tiny_reference)]
    assert_same_weights(path, tiny_reference)


def test_bad_metrics_line_in_the_middle_names_file_and_line(tmp_path):
    path = stopped_run(tmp_path)
    lines = (path / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1][:10]
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(store.RunFileError, match=r"metrics.jsonl, line 2, is not JSON"):
        load_run(path)


def test_edited_config_json_does_not_match_the_directory(tmp_path):
    path = stopped_run(tmp_path)
    info = json.loads((path / "config.json").read_text())
    info["config"]["meta"]["inner_lr"] = 0.5
    (path / "config.json").write_text(json.dumps(info))
    before = snapshot(path)
    for action in (lambda: load_run(path), lambda: train_tiny(tiny_config(), tmp_path)):
        with pytest.raises(store.RunFileError,
                           match=rf"config.json does not belong to {path.name}"):
            action()
    assert snapshot(path) == before


def test_config_json_with_unknown_field(tmp_path):
    path = stopped_run(tmp_path)
    info = json.loads((path / "config.json").read_text())
    info["config"]["warp_factor"] = 9
    (path / "config.json").write_text(json.dumps(info))
    with pytest.raises(store.RunFileError, match=r"unknown config fields \['warp_factor'\]"):
        load_run(path)


def test_config_json_not_json_and_missing(tmp_path):
    path = stopped_run(tmp_path)
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(store.RunFileError, match=r"config.json is not valid JSON"):
        load_run(path)
    (path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        load_run(path)


# ----------------------------------------------------------------------------- interruption, locks

CHILD = """
import functools, os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
from conftest import synthetic_splits
import neglr_utils.cli as cli
from neglr_utils.runs.training import train

work, pause_at = Path(sys.argv[1]), int(sys.argv[2])

def pause(iteration):
    if iteration == pause_at:  # tell the test, then wait for it (signals arrive meanwhile)
        (work / "paused").write_text(str(os.getpid()))
        while not (work / "go").exists():
            time.sleep(0.01)

cli.train = functools.partial(train, splits=synthetic_splits(), on_iteration=pause,
                              progress=False)
cli.evaluate_run = None  # the test split is never needed: each child is stopped
sys.exit(cli.main(sys.argv[3:]))
"""
SMOKE_ARGS = ["train", "--profile", "smoke", "--algo", "meta-sgd", "--iterations", "8",
              "--device", "cpu", "--threads", "1"]


def smoke_config() -> RunConfig:
    return profile_config("smoke", "meta-sgd", 0, n_iterations=8)


def smoke_train(out: Path, **kw) -> Path:
    return train(smoke_config(), out_root=out / "omniglot", splits=synthetic_splits(),
                 device="cpu", progress=False, **kw)


@pytest.fixture(scope="module")
def smoke_reference(tmp_path_factory) -> Path:
    """The uninterrupted run that the children train (smoke profile, 8 iterations)."""
    torch.set_num_threads(1)
    return smoke_train(tmp_path_factory.mktemp("smoke-reference"))


def start_child(work: Path, pause_at: int) -> subprocess.Popen:
    """``python -m neglr_utils train`` on synthetic data, paused after ``pause_at``."""
    script = work / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS)))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(work), str(pause_at),
                             *SMOKE_ARGS, "--out", str(work / "runs")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (work / "paused").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"child did not reach iteration {pause_at}: {out}\n{err}")
        time.sleep(0.02)
    return proc


def finish_child(proc: subprocess.Popen, work: Path) -> tuple[int, str]:
    (work / "go").touch()
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_checkpoint_says_how_to_resume_and_resume_is_exact(
        tmp_path, smoke_reference, sig):
    proc = start_child(tmp_path, pause_at=5)
    proc.send_signal(sig)
    rc, err = finish_child(proc, tmp_path)
    path = run_dir_for(smoke_config(), tmp_path / "runs" / "omniglot")
    assert rc == 130, err
    assert (f"interrupted: stopped by {sig.name} at iteration 5; checkpoints saved in {path}. "
            "The same command again resumes exactly there.") in err
    partial = load_run(path)
    assert partial.iteration == 5 and not partial.finished
    assert not (path / ".lock").exists()
    smoke_train(tmp_path / "runs")
    assert_same_weights(path, smoke_reference)


def test_interrupted_training_raises_training_interrupted_in_process(tmp_path):
    """The library path (notebooks): the same message, as an exception."""
    def interrupt(it):
        if it == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT at iteration 3; "
                                                  "checkpoints saved in"):
        train_tiny(tiny_config(), tmp_path, on_iteration=interrupt)
    assert load_run(run_dir_for(tiny_config(), tmp_path)).iteration == 3


@pytest.mark.slow
def test_sigkill_loses_only_iterations_since_checkpoint(tmp_path, smoke_reference):
    proc = start_child(tmp_path, pause_at=5)  # checkpoint at 3, log lines at 2 and 4
    proc.kill()
    proc.wait()
    path = run_dir_for(smoke_config(), tmp_path / "runs" / "omniglot")
    assert json.loads((path / ".lock").read_text())["pid"] == proc.pid  # stale now
    assert load_run(path).iteration == 3
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 6, "tra')  # as if killed mid-write
    with pytest.warns(UserWarning, match="dropped a partial last line"):
        smoke_train(tmp_path / "runs")
    assert not (path / ".lock").exists()
    assert_same_weights(path, smoke_reference)
    rows, ref = store.read_metrics(path), store.read_metrics(smoke_reference)
    assert [r["iteration"] for r in rows] == [r["iteration"] for r in ref] == [2, 4, 6, 8]
    for r, q in zip(rows, ref, strict=True):
        assert r.get("val_acc") == q.get("val_acc") and r.get("rates") == q.get("rates")


@pytest.mark.slow
def test_second_trainer_gets_a_clear_error(tmp_path, capsys, monkeypatch):
    proc = start_child(tmp_path, pause_at=2)
    path = run_dir_for(smoke_config(), tmp_path / "runs" / "omniglot")
    before = snapshot(path)
    monkeypatch.setattr(cli, "train", lambda cfg, **kw: train(
        cfg, **kw | {"splits": synthetic_splits(), "progress": False}))
    try:
        code = cli.main([*SMOKE_ARGS, "--out", str(tmp_path / "runs")])
        after = snapshot(path)
    finally:
        proc.terminate()
        rc, err = finish_child(proc, tmp_path)
    message = capsys.readouterr().err
    assert code == 1
    assert (f"error: {path} is being trained by process {proc.pid} on "
            f"{socket.gethostname()}; wait for it to finish or stop it") in message
    assert after == before
    assert rc == 130, err


def test_stale_lock_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(json.dumps({"pid": dead.pid,
                                               "host": socket.gethostname()}))
    with RunLock(run_dir):
        assert json.loads((run_dir / ".lock").read_text())["pid"] == os.getpid()
    assert not (run_dir / ".lock").exists()


@pytest.mark.parametrize(("content", "message"), [
    (json.dumps({"pid": 1, "host": "elsewhere"}), "being trained by process 1 on elsewhere"),
    ("", "exists but names no process"),
    ('{"pid": ', "exists but names no process"),
])
def test_lock_held_elsewhere_or_garbled(tmp_path, content, message):
    (tmp_path / ".lock").write_text(content)
    with pytest.raises(RunLockedError, match=message):
        RunLock(tmp_path).acquire()
    assert (tmp_path / ".lock").read_text() == content


# ----------------------------------------------------------------------------- failing writes


@pytest.mark.parametrize("target", ["checkpoint.pt", "final.pt"])
def test_full_disk_keeps_the_previous_file_and_stops(tmp_path, tiny_reference, target):
    """A write into ``/dev/full`` (ENOSPC from the kernel) through the temporary file."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    path = stopped_run(tmp_path, at=4)  # checkpoint at 2
    (path / f"{target}.tmp").symlink_to("/dev/full")
    with pytest.raises(OSError, match=rf"could not write {path / target} \(No space left on "
                                      r"device\); the previous version, if any, is unchanged"):
        train_tiny(tiny_config(), tmp_path)
    assert not (path / f"{target}.tmp").exists() and not (path / ".lock").exists()
    expected = 2 if target == "checkpoint.pt" else 8  # the previous checkpoint, intact
    assert load_run(path).iteration == expected and not (path / "final.pt").exists()
    train_tiny(tiny_config(), tmp_path)
    assert_same_weights(path, tiny_reference)


class FailingFile:
    """A file object that takes ``limit`` bytes, then fails as a full disk does."""

    def __init__(self, f, limit: int) -> None:
        self.f, self.limit, self.written = f, limit, 0

    def write(self, data) -> int:
        room = self.limit - self.written
        if len(data) > room:
            self.f.write(data[:room])
            self.written = self.limit
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def test_write_failing_midway_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint.pt"
    store.atomic_save({"params": {"w": torch.ones(3)}}, target)
    good = target.read_bytes()
    monkeypatch.setattr(store, "open", lambda p, mode: FailingFile(open(p, mode), 500),
                        raising=False)
    with pytest.raises(OSError, match=rf"could not write {target} \(No space left"):
        store.atomic_save({"params": {"w": torch.zeros(10_000)}}, target)
    assert target.read_bytes() == good and sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_metrics_append_failing_keeps_checkpoint(tmp_path, monkeypatch, tiny_reference):
    path = stopped_run(tmp_path, at=4)  # checkpoint at 2
    real_open = open

    def full_after_two_lines(p, mode="r", *args, **kw):
        f = real_open(p, mode, *args, **kw)
        return FailingFile(f, 250) if str(p).endswith("metrics.jsonl") else f

    monkeypatch.setattr(train_module, "open", full_after_two_lines, raising=False)
    with pytest.raises(OSError, match=rf"could not append to {path / 'metrics.jsonl'} \(No "
                                      r"space left on device\); the last checkpoint is "
                                      "unchanged"):
        train_tiny(tiny_config(), tmp_path)
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="partial last line"):
        assert load_run(path).iteration == 2 and not (path / ".lock").exists()
    with pytest.warns(UserWarning, match="partial last line"):
        train_tiny(tiny_config(), tmp_path)
    assert_same_weights(path, tiny_reference)


# ----------------------------------------------------------------------------- long work


def test_paper_profile_on_cpu_needs_the_flag(tmp_path, capsys):
    code = cli.main(["train", "--profile", "paper", "--device", "cpu", "--out", str(tmp_path)])
    assert code == 1
    assert ("error: maml seed 0 at paper scale takes about an hour on an H200 and days on a "
            "CPU: train it with `python scripts/paper_chunk.py` on a GPU, or pass "
            "allow_long=True (--allow-long-on-cpu)") in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_ensure_never_starts_paper_scale(tmp_path, monkeypatch):
    monkeypatch.setattr("neglr_utils.runs.training.train", None)  # a call would fail loudly
    with pytest.raises(LongRunRefused, match=r"maml seed 0 at paper scale .*days on a CPU: "
                                             "train it with `python scripts/paper_chunk"):
        PAPER.ensure(("maml",), root=tmp_path, device="cpu")


def test_book_prepare_lists_missing_paper_runs_and_reads_partial_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "train", None)
    monkeypatch.setattr(study, "evaluate_run", None)
    cfg = profile_config("paper", "maml", 0)
    half = run_dir_for(cfg, tmp_path / cfg.dataset)
    half.mkdir(parents=True)
    store.write_metrics([{"iteration": 30_000}], half)  # a committed run, half trained
    missing, _ = study.prepare("paper", [0], root=str(tmp_path))
    assert len(missing) == 3 and all(m.where == "an H200" and "paper_chunk.py" in m.command
                                     for m in missing)
    assert (missing[0].done, missing[0].total, missing[1].done) == (30_000, 60_000, 0)
    minutes = {m.label: m.minutes for m in missing}
    assert minutes["paper maml seed 0"] == pytest.approx(minutes["paper meta-sgd seed 0"] / 2,
                                                         rel=1e-3)


# ----------------------------------------------------------------------------- settings


def splits_of(n_classes: int, n_per_class: int):
    return synthetic_splits(n_classes=n_classes, n_per_class=n_per_class)


@pytest.mark.parametrize(("changes", "splits", "message"), [
    ({"k_shot": 1, "k_query": 8}, (12, 8), r"k_shot \+ k_query = 1 \+ 8 exceeds the 8 images "
                                           "per class of omniglot/train; lower k_shot or"),
    ({"n_way": 13}, (12, 8), "n_way=13 exceeds the 12 classes of omniglot/train; use n_way <= 12"),
])
def test_episode_too_large_for_the_split_before_any_work(tmp_path, changes, splits, message):
    with pytest.raises(ValueError, match=message):
        train(tiny_config(**changes), out_root=tmp_path / "runs", splits=splits_of(*splits),
              device="cpu", progress=False)
    assert not (tmp_path / "runs").exists()


def test_n_way_above_the_validation_classes(tmp_path):
    splits = splits_of(12, 8) | {"val": splits_of(4, 8)["val"]}
    with pytest.raises(ValueError, match="n_way=5 exceeds the 4 classes of omniglot/val"):
        train(tiny_config(), out_root=tmp_path / "runs", splits=splits, device="cpu",
              progress=False, resume=False)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"image_size": 8}, "image_size=8 is too small for 4 pooling blocks; use at least 16"),
    ({"inner_lr": float("nan")}, "inner_lr=nan must be a finite number"),
    ({"inner_lr": float("inf")}, "inner_lr=inf must be a finite number"),
    ({"inner_lr": "0.01"}, "inner_lr='0.01' must be a number"),
    ({"meta_lr": float("nan")}, "meta_lr=nan must be a positive finite number"),
    ({"meta_lr": float("-inf")}, "meta_lr=-inf must be a positive finite number"),
    ({"meta_batch_size": 0}, "meta_batch_size=0 must be a positive integer"),
    ({"n_inner_steps": 2.5}, "n_inner_steps=2.5 must be an integer"),
    ({"k_query": "10"}, "k_query='10' must be an integer"),
    ({"dataset": "cifar"}, "dataset='cifar'; choose one of"),
    ({"algo": "reptile"}, "unknown algorithm 'reptile'; choose one of"),
])
def test_bad_setting_fails_at_the_config(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**changes)


def test_unknown_profile_and_dataset(capsys):
    with pytest.raises(ValueError, match=r"unknown profile 'gpu'; choose one of \['cpu'"):
        profile_config("gpu")
    with pytest.raises(SystemExit):
        cli.main(["train", "--profile", "gpu"])
    assert "argument --profile: invalid choice: 'gpu'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; valid: omniglot"):
        load_split("cifar", "train")


@pytest.mark.parametrize(("changes", "message"), [
    ({"profile": "gpu"}, r"profile='gpu' \(str\): must be one of cpu, paper, smoke.*-p profile"),
    ({"seeds": "[0, 1]"}, r"seeds='\[0, 1\]' \(str\): must be a non-empty list.*-y 'seeds:"),
    ({"seeds": 0}, r"seeds=0 \(int\): must be a non-empty list"),
    ({"seeds": []}, r"seeds=\[\] \(list\): must be a non-empty list"),
    ({"seeds": [0, 0]}, r"seeds=\[0, 0\] \(list\): must not repeat a seed"),
    ({"seeds": [0.5]}, r"seeds=\[0.5\] \(list\): must be a non-empty list"),
    ({"device": "gpu"}, r"device='gpu' \(str\): device='gpu' is not a device"),
    ({"device": 0}, r"device=0 \(int\): must be a string"),
    ({"data_root": 3}, r"data_root=3 \(int\): must be None \(the default\) or a folder"),
    ({"results_dir": ""}, r"results_dir='' \(str\): must be None"),
])
def test_notebook_parameters_are_checked(changes, message):
    good = {"profile": "cpu", "data_root": None, "device": "cpu", "results_dir": None,
            "seeds": [0, 1, 2]}
    check_parameters(**good)
    check_parameters(**good | {"data_root": "/data", "results_dir": "results/cpu"})
    with pytest.raises(ValueError, match="notebook parameter " + message):
        check_parameters(**good | changes)


@pytest.mark.slow
def test_wrong_notebook_parameter_under_papermill_stops_the_first_cell(tmp_path):
    papermill = pytest.importorskip("papermill")
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(REPO / "notebooks" / "00_introduction.py")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    try:
        papermill.execute_notebook(nb, str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   parameters={"seeds": "0,1", "results_dir": str(tmp_path)},
                                   cwd=str(REPO), progress_bar=False, log_output=False)
    except papermill.PapermillExecutionError as err:
        assert err.ename == "ValueError"
        assert "notebook parameter seeds='0,1' (str)" in err.evalue
        assert "-y 'seeds: [0, 1, 2]'" in err.evalue
    except Exception as err:  # no usable kernel here
        pytest.skip(f"cannot run a kernel: {err}")
    else:
        pytest.fail("the notebook ran with seeds='0,1'")
    assert not any(p.name != "out.ipynb" for p in tmp_path.iterdir())  # nothing trained


# ----------------------------------------------------------------------------- data


@pytest.fixture
def data_env(monkeypatch, tmp_path) -> Path:
    """A private cache and no NEGLR_DATA; returns the data root to fill."""
    monkeypatch.setenv("NEGLR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NEGLR_DATA", raising=False)
    return tmp_path / "data"


def image_bytes(seed: int, mode: str, size: int, fmt: str) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"1": 0, "L": 0, "RGB": 3, "RGBA": 4}[mode]
    shape = (size, size, channels) if channels else (size, size)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    img = img.convert(mode) if mode == "1" else img
    buf = pyio.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def omniglot_members(half: str) -> dict[str, bytes]:
    """2 alphabets x 5 characters x 2 drawings per half: 20 characters in all."""
    base = 0 if half == "images_background" else 500
    return {f"{half}/{half[7:]}{a}/character{c + 1:02d}/{base + 10 * a + c}_{d}.png":
            image_bytes(base + 100 * a + 10 * c + d, "1", 35, "PNG")
            for a in range(2) for c in range(5) for d in range(2)}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return path


def make_omniglot(root: Path, edit=None) -> dict[str, Path]:
    zips = {}
    for half in ("images_background", "images_evaluation"):
        members = omniglot_members(half)
        if edit is not None:
            edit(half, members)
        zips[half] = write_zip(root / "omniglot" / f"{half}.zip", members)
    return zips


def make_mini(root: Path) -> Path:
    """mini-ImageNet split folders: 2 classes x 3 images of 24x24 per split."""
    base = root / "mini-imagenet"
    for s, split in enumerate(("train", "val", "test")):
        for c in range(2):
            wnid = f"n{100 * s + c:08d}"
            for j in range(3):
                f = base / split / wnid / f"{wnid}{j:08d}.jpg"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(image_bytes(1000 * s + 10 * c + j, "RGB", 24, "JPEG"))
    return base


def test_zip_truncated_mid_member(data_env):
    zips = make_omniglot(data_env)
    archive = zips["images_background"]
    content = archive.read_bytes()
    first = next(iter(omniglot_members("images_background").values()))
    archive.write_bytes(content[: content.find(first) + len(first) // 2])
    with pytest.raises(CorruptImageError, match=rf"cannot read zip archive {archive}: .*"
                                                "damaged or truncated.*copy or download it"):
        load_split("omniglot", "train", data_env, download=False)


def test_zip_member_damaged(data_env):
    zips = make_omniglot(data_env)
    archive = zips["images_evaluation"]
    name, payload = list(omniglot_members("images_evaluation").items())[7]
    content = bytearray(archive.read_bytes())
    at = content.find(payload) + len(payload) // 2
    content[at] ^= 0xFF
    archive.write_bytes(bytes(content))
    with pytest.raises(CorruptImageError, match=rf"cannot decode image {name} in archive "
                                                rf"{archive}: Bad CRC-32"):
        for split in ("train", "val", "test"):
            load_split("omniglot", split, data_env, download=False)


def test_class_with_a_missing_image_names_its_folder(data_env):
    def drop(half, members):
        if half == "images_evaluation":
            del members[next(m for m in members if "/character03/" in m)]

    zips = make_omniglot(data_env, drop)
    with pytest.raises(ValueError, match=r"most have 2, but 1 differ \(evaluation0/character03: "
                                         rf"1 in images_evaluation/evaluation0/character03/ in "
                                         rf"archive {zips['images_evaluation']}\)"):
        load_split("omniglot", "test", data_env, download=False)


def test_image_of_the_wrong_mode(data_env):
    def colour(half, members):
        if half == "images_background":
            name = sorted(members)[0]
            members[name] = image_bytes(1, "RGB", 35, "PNG")

    make_omniglot(data_env, colour)
    with pytest.raises(CorruptImageError, match=r"background0/character01/0_0.png in archive "
                                                r".* has mode RGB; this dataset's images must "
                                                "have mode 1 or L"):
        for split in ("train", "val", "test"):
            load_split("omniglot", split, data_env, download=False)


def test_rgba_image_in_mini_imagenet(data_env):
    base = make_mini(data_env)
    victim = sorted((base / "val").rglob("*.jpg"))[2]
    victim.with_suffix(".png").write_bytes(image_bytes(5, "RGBA", 24, "PNG"))
    victim.unlink()
    with pytest.raises(CorruptImageError, match=rf"{victim.with_suffix('.png')} has mode RGBA"):
        load_split("mini-imagenet", "val", data_env)


def test_image_of_the_wrong_size(data_env):
    base = make_mini(data_env)
    victim = sorted((base / "test").rglob("*.jpg"))[-2]
    victim.write_bytes(image_bytes(7, "RGB", 20, "JPEG"))
    with pytest.raises(ValueError, match=rf"image {victim} has shape \(20, 20, 3\) but .* has "
                                         r"\(24, 24, 3\); all images must share one size"):
        load_split("mini-imagenet", "test", data_env)
    for f in victim.parent.iterdir():  # a whole class at another size
        f.write_bytes(image_bytes(7, "RGB", 20, "JPEG"))
    with pytest.raises(ValueError, match=rf"class {victim.parent.name} \(e.g. .*{victim.parent}"
                                         r".*\) decodes to \(3, 3, 20, 20\)"):
        load_split("mini-imagenet", "test", data_env)


def test_image_in_two_splits(data_env):
    base = make_mini(data_env)
    image = sorted((base / "train").rglob("*.jpg"))[0]
    copy = base / "val" / "n00000100" / image.name
    sorted(copy.parent.iterdir())[0].unlink()  # the class keeps its 3 images
    shutil.copy(image, copy)
    with pytest.raises(SplitOverlapError, match=rf"image {copy} of mini-ImageNet split val is "
                                                rf"also in split train as {image}"):
        load_split("mini-imagenet", "val", data_env)


def test_class_in_two_splits(data_env):
    base = make_mini(data_env)
    shutil.copytree(base / "train" / "n00000001", base / "test" / "n00000001")
    shutil.rmtree(base / "test" / "n00000201")
    with pytest.raises(SplitOverlapError, match=rf"class n00000001 of mini-ImageNet is in "
                                                rf"split test \({base / 'test' / 'n00000001'}/\) "
                                                rf"and in split train"):
        load_split("mini-imagenet", "test", data_env)


def test_omniglot_character_in_both_halves(data_env):
    def merge(half, members):
        if half == "images_evaluation":
            members.update({m.replace("images_background/", "images_evaluation/"): b
                            for m, b in omniglot_members("images_background").items()
                            if "/background0/character01/" in m})

    make_omniglot(data_env, merge)
    with pytest.raises(SplitOverlapError, match="character background0/character01 is in "
                                                "images_background/.* and in images_evaluation"):
        load_split("omniglot", "train", data_env, download=False)


def test_identical_image_under_another_name_warns(data_env, monkeypatch):
    monkeypatch.setattr(data, "KNOWN_DUPLICATES", 0)  # the standard split's 7 are not warned
    base = make_mini(data_env)
    image = sorted((base / "train").rglob("*.jpg"))[0]
    twin = sorted((base / "val").rglob("*.jpg"))[0]
    twin.write_bytes(image.read_bytes())
    short = ["/".join(p.parts[-3:]) for p in (twin, image)]
    with pytest.warns(UserWarning, match=rf"1 image\(s\) of mini-ImageNet split val are "
                                         rf"byte-identical .*{short[0]} and {short[1]} "
                                         rf"\(train\)") as caught:
        assert load_split("mini-imagenet", "val", data_env).n_classes == 2
    assert str(data_env) not in str(caught[0].message)  # notebooks show it: no machine path


def test_as_many_identical_images_as_the_standard_split_are_not_warned(data_env):
    base = make_mini(data_env)
    image = sorted((base / "train").rglob("*.jpg"))[0]
    sorted((base / "val").rglob("*.jpg"))[0].write_bytes(image.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_split("mini-imagenet", "val", data_env).n_classes == 2
