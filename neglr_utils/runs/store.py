"""Every file of a run directory, read and written here: atomic writes, ``config.json``,
checkpoints (``checkpoint.pt``, ``final.pt``), the metrics log, ``eval-test.json``,
``probe.json`` and ``mechanism.json``.

Writes go to a temporary file, are flushed to disk and then renamed over the target, so
a crash or a full disk leaves the previous file intact (the temporary file is removed
and the error says which file failed). Reads name the file they failed on and say what
to do.
"""

from __future__ import annotations

import errno
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ..core.mechanism import StoredPush
from ..core.probe import Condition, PairAccuracies, ProbeConfig, ProbeResult, RunKey
from ..core.representation import RepresentationChange
from .config import RunConfig

CHECKPOINT_FORMAT = 2  # bump when the layout of checkpoint.pt / final.pt changes


class RunFileError(RuntimeError):
    """A run-directory file cannot be read: corrupt, truncated, or of another format."""


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: itself, or one it was raised from (torch.save reports a
    failed write of its file object as a RuntimeError)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        cause = _os_error(err)
        if cause is not None:
            full = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # disk, quota
            fix = "Free disk space" if cause.errno in full else f"Make {path.parent} writable"
            raise OSError(cause.errno, f"could not write {path} ({cause.strerror or cause}); "
                          f"the previous version, if any, is unchanged. {fix} and retry "
                          "(training resumes from the last checkpoint)") from err
        raise
    os.replace(tmp, path)


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temp file, fsync, then rename."""
    _atomic(Path(path), lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write text atomically (same guarantees as `atomic_save`)."""
    _atomic(Path(path), lambda f: f.write(text.encode()))


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Indented JSON, atomically; creates the parent folder. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(obj, indent=1), path)
    return path


def read_json(path: str | os.PathLike) -> Any:
    """The parsed JSON file, or None when it does not exist; a clear error when corrupt."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path} is not valid JSON ({err}); delete it to have it "
                           "rewritten (or restore it from git)") from err


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu",
                    weights_only: bool = True,
                    formats: tuple[int, ...] = (1, CHECKPOINT_FORMAT)) -> dict[str, Any]:
    """``torch.load`` with a clear error for a truncated, corrupt or foreign file.

    ``formats``: the checkpoint format versions the caller reads (format 1 files carry
    no version; they stored a torch Adam state_dict).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=weights_only)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises many kinds for a damaged file
        fix = ("Delete it and train the run again: it resumes from checkpoint.pt, when "
               "there is one, and writes the same weights" if path.name == "final.pt" else
               "Delete it to fall back to the other file of the run, or pass --restart to "
               "train the run afresh")
        why = ("not a complete torch file" if not zipfile.is_zipfile(path)
               else f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}")
        raise RunFileError(f"{path} is damaged or not a checkpoint ({why}). Nothing was "
                           f"changed. {fix}") from err
    if not isinstance(state, dict) or "params" not in state:
        raise RunFileError(f"{path} holds no parameters; it is not a neglr checkpoint")
    version = state.get("format", 1)
    if version not in formats:
        raise RunFileError(f"{path} has checkpoint format {version}; this version of "
                           f"neglr_utils reads formats {formats}: use the version that "
                           "wrote it, or train the run afresh with --restart")
    return state


# ----------------------------------------------------------------------------- metrics


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` ([] when absent).

    A partial last line (a process killed mid-write) is dropped with a warning; a bad
    line elsewhere is an error naming the file and line.
    """
    f = Path(run_dir) / "metrics.jsonl"
    if not f.is_file():
        return []
    lines = f.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:
                warnings.warn(f"{f}: dropped a partial last line (the run was interrupted "
                              "while writing it)", stacklevel=2)
                break
            raise RunFileError(f"{f}, line {i + 1}, is not JSON ({err})") from err
    return rows


def write_metrics(rows: Iterable[Mapping[str, Any]], run_dir: str | os.PathLike) -> None:
    """Replace ``metrics.jsonl`` with ``rows`` (atomically)."""
    text = "".join(json.dumps(dict(r)) + "\n" for r in rows)
    atomic_write_text(text, Path(run_dir) / "metrics.jsonl")


def last_iteration(run_dir: str | os.PathLike) -> int:
    """The last logged iteration of a run directory (0 when nothing is logged)."""
    f = Path(run_dir) / "metrics.jsonl"
    if not f.is_file():
        return 0
    for line in reversed(f.read_text().splitlines()):
        try:
            return int(json.loads(line)["iteration"])
        except (json.JSONDecodeError, KeyError, ValueError):
            continue
    return 0


# ----------------------------------------------------------------------------- config.json


def read_config(path: str | os.PathLike) -> tuple[RunConfig, dict[str, Any]]:
    """A run directory's config, checked against the directory's name (its hash)."""
    path = Path(path)
    info = read_json(path / "config.json")
    if info is None:
        raise FileNotFoundError(f"{path} is not a run directory (no config.json); "
                                "train one with `python -m neglr_utils train`")
    try:
        config = RunConfig.from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunFileError(f"{path / 'config.json'} does not hold a valid config: "
                              f"{err}") from err
    if path.name.rsplit("-", 1)[-1] != config.digest():
        raise RunFileError(
            f"{path / 'config.json'} does not belong to {path.name}: its settings hash to "
            f"{config.digest()}. It was edited or copied from another run; restore it from "
            "git (for an unfinished run you may delete it: training again rewrites it)")
    return config, info


# ----------------------------------------------------------------------------- eval-test.json


@dataclass(frozen=True)
class TestAccuracy:
    """``eval-test.json``: accuracy with the head after adaptation on fixed test tasks."""

    acc: float
    ci95: float  # half-width over test tasks
    n_episodes: int
    seconds: float


def read_test(run_dir: Path, iteration: int, finished: bool, n_episodes: int
              ) -> TestAccuracy | None:
    """``eval-test.json`` when it is current (same task count, made from this state)."""
    res = read_json(run_dir / "eval-test.json")
    if res is None or res.get("n_episodes") != n_episodes or res.get("finished") != finished:
        return None
    if not finished and res.get("iteration") != iteration:
        return None
    return TestAccuracy(res["acc"], res["ci95"], res["n_episodes"], res["seconds"])


# ----------------------------------------------------------------------------- probe.json

PROBE_FORMAT = 2  # bump when the layout of probe.json changes


def _entry(r: ProbeResult) -> dict[str, Any]:
    correct = {k: np.rint(v * r.n_query).astype(int).tolist() for k, v in r.acc.as_dict().items()}
    return {"run": asdict(r.run), "condition": [list(s) for s in r.condition.scales],
            "config": asdict(r.config), "n_query": r.n_query, "frac_shared": r.frac_shared,
            "seconds": r.seconds, "device": r.device, "correct": correct}


def _result(e: Mapping[str, Any]) -> ProbeResult:
    acc = PairAccuracies(**{k: np.asarray(v, dtype=np.float64) / e["n_query"]
                            for k, v in e["correct"].items()})
    return ProbeResult(RunKey(**e["run"]), Condition(tuple((p, f) for p, f in e["condition"])),
                       ProbeConfig(**e["config"]), acc, e["n_query"], e["frac_shared"],
                       e["seconds"], e["device"])


def load_probe_results(run_dir: str | os.PathLike) -> list[ProbeResult]:
    """The probe results stored in ``run_dir/probe.json`` ([] when absent or of an older
    format, which is then recomputed)."""
    body = read_json(Path(run_dir) / "probe.json")
    if not isinstance(body, dict) or body.get("format") != PROBE_FORMAT:
        return []
    return [_result(e) for e in body["results"]]


def save_probe_results(results: Sequence[ProbeResult], run_dir: str | os.PathLike) -> Path:
    """Write ``run_dir/probe.json`` (atomically) with every result given."""
    return write_json({"format": PROBE_FORMAT, "results": [_entry(r) for r in results]},
                         Path(run_dir) / "probe.json")


# ----------------------------------------------------------------------------- mechanism.json


def mechanism_key(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """What the stored diagnostic was computed from (None when there is none)."""
    body = read_json(Path(run_dir) / "mechanism.json")
    return body.get("key") if isinstance(body, dict) else None


def write_mechanism(run_dir: str | os.PathLike, key: Mapping[str, Any],
                    results: Sequence[Mapping[str, Any]]) -> Path:
    return write_json({"key": dict(key), "results": list(results)},
                      Path(run_dir) / "mechanism.json")


def read_mechanism(run_dir: str | os.PathLike) -> dict[tuple[str, str], dict[str, StoredPush]]:
    """(at, query_bn) -> layer -> `StoredPush` from ``mechanism.json`` ({} when absent)."""
    body = read_json(Path(run_dir) / "mechanism.json")
    if not isinstance(body, dict):
        return {}
    return {(r["at"], r["query_bn"]): {d["layer"]: StoredPush(**d) for d in r["layers"]}
            for r in body["results"]}


# ----------------------------------------------------------------------------- representation.json

REPRESENTATION_FORMAT = 1  # bump when the layout of representation.json changes


def _compact(values: Any) -> Any:
    """Arrays (in nested mappings) as lists rounded to 6 decimals, NaN as null."""
    if isinstance(values, Mapping):
        return {k: _compact(v) for k, v in values.items()}
    return [None if np.isnan(v) else round(float(v), 6) for v in np.asarray(values).ravel()]


def _expand(values: Any) -> Any:
    """The inverse of `_compact`: float64 arrays, null as NaN."""
    if isinstance(values, Mapping):
        return {k: _expand(v) for k, v in values.items()}
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True)
class StoredRepresentation:
    """One entry of ``representation.json``: what it was computed from, and the result."""

    key: dict[str, Any]  # run_hash, iteration, probe (ProbeConfig.key), condition, n_pairs
    seconds: float
    device: str
    change: RepresentationChange

    @property
    def condition(self) -> Condition:
        return Condition(tuple((p, float(f)) for p, f in self.key["condition"]))


def read_representations(run_dir: str | os.PathLike) -> list[StoredRepresentation]:
    """The entries of ``run_dir/representation.json`` ([] when absent or of an older
    format, which is then recomputed)."""
    body = read_json(Path(run_dir) / "representation.json")
    if not isinstance(body, dict) or body.get("format") != REPRESENTATION_FORMAT:
        return []
    return [StoredRepresentation(e["key"], e["seconds"], e["device"],
                                 RepresentationChange.from_dict(_expand(e["values"])))
            for e in body["results"]]


def write_representations(run_dir: str | os.PathLike,
                          entries: Sequence[StoredRepresentation]) -> Path:
    """Write ``run_dir/representation.json`` (atomically) with every entry given."""
    results = [{"key": e.key, "seconds": e.seconds, "device": e.device,
                "values": _compact(e.change.as_dict())} for e in entries]
    return write_json({"format": REPRESENTATION_FORMAT, "results": results},
                      Path(run_dir) / "representation.json")
