"""The benchmark's variants of our meta-step compute what ``meta.meta_loss`` computes."""

import importlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
bench_meta = importlib.import_module("bench_meta")



def _one_step(impl: str, cfg, algo: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    params = bench_meta.init_params(cfg.model_config(), generator=gen, dtype=dtype)
    ep = bench_meta.synthetic_episode(cfg, torch.device("cpu"), dtype, gen)
    step = bench_meta.IMPLS[impl](cfg, algo, params, "cpu", dtype)
    step(ep)
    return {**step.params, **{f"rate:{k}": v for k, v in step.rates.items()}}


@pytest.mark.parametrize("algo", ["maml", "meta-sgd"])
def test_per_task_step_equals_grouped_step_float64(algo):
    """One task per call with accumulated gradients gives the grouped step's Adam update."""
    cfg = replace(bench_meta.bench_configs(quick=True)["omniglot"], meta_lr=0.1)
    grouped = _one_step("ours", cfg, algo, torch.float64)
    per_task = _one_step("ours_per_task", cfg, algo, torch.float64)
    start = bench_meta.init_params(cfg.model_config(), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.float64)
    assert not torch.equal(grouped["conv2.weight"], start["conv2.weight"])  # the step moved
    for k, v in grouped.items():
        if k.endswith(".bias") and k.split(":")[-1].startswith("conv"):
            continue  # zero exact gradient: Adam turns its rounding noise into +-lr steps
        torch.testing.assert_close(per_task[k], v, rtol=1e-9, atol=1e-12, msg=k)


def test_bf16_step_runs_its_convolutions_in_bfloat16():
    """The variant really changes the arithmetic (its meta-loss is not float32's) and
    only the arithmetic (the value stays within bfloat16's few significant digits)."""
    cfg = bench_meta.bench_configs(quick=True)["omniglot"]
    gen = torch.Generator().manual_seed(0)
    params = bench_meta.init_params(cfg.model_config(), generator=gen)
    ep = bench_meta.synthetic_episode(cfg, torch.device("cpu"), torch.float32, gen)
    step = bench_meta.OursBf16Step(cfg, "maml", params, "cpu", torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = bench_meta.meta_loss(step.params, step.rates, ep, step.meta_cfg).loss
    full = bench_meta.meta_loss(step.params, step.rates, ep, step.meta_cfg).loss
    assert low.item() != full.item()
    torch.testing.assert_close(low.float(), full, rtol=5e-2, atol=0)
    step(ep)
    assert all(torch.isfinite(v).all() for v in step.params.values())


@pytest.mark.slow
def test_profile_script_quick(tmp_path):
    """``profile_meta.py --quick`` writes the three measurements for both configs."""
    pytest.importorskip("learn2learn")
    profile_meta = importlib.import_module("profile_meta")
    out = tmp_path / "profile.json"
    assert profile_meta.main(["--quick", "--repeats", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["configs"]) == {"paper", "omniglot"}
    for c in res["configs"].values():
        assert set(c["profile"]) == {"ours", "l2l"}
        assert c["profile"]["ours"]["self_s_by_category"]["convolution"] > 0
        assert c["precision"]["eager"]["max_rel_error"] < 1e-4  # float32 vs float64
        assert "bf16" in c["precision"]
        assert set(c["timing"]["median_s"]) == {"ours", "l2l", "ours_per_task", "ours_bf16"}


def test_conv_ceiling_of_the_limit_benchmark():
    """Convolutions at the peak, the rest as profiled: hand-computed 10 GFLOP at 100 GFLOP/s
    (0.1 s) plus 0.5 s wall minus 0.2 s of convolutions = 0.4 s."""
    bench_limit = importlib.import_module("bench_limit")
    result = {"gflop_per_iteration": 10.0,
              "profile_ours": {"wall_s_profiled": 0.5, "self_s": {
                  "convolution backward": 0.12, "convolution forward": 0.08, "max-pool": 0.1}}}
    assert bench_limit.conv_ceiling(result, 100.0) == pytest.approx(0.4)
