"""neglr_utils: MAML and Meta-SGD on Conv-4, the learned-rate analysis and the feature probe.

Data flows one way: ``data`` -> ``episodes`` -> ``models`` -> ``meta`` -> ``train`` ->
``probe`` / ``analysis`` -> ``plots`` / ``widgets``.
"""

__version__ = "0.1.0"

from .analysis import (
    REPORT_FIGURE7,
    REPORT_TABLE1,
    REPORT_VAL_ACC,
    compare_probes,
    figure7_data,
    format_table1,
    mean_ci,
    probe_statistics,
    rate_evolution,
    rate_table,
    rates_by_layer,
    run_rate_evolution,
    run_rate_table,
    seed_summary,
    training_curves,
)
from .episodes import Episode, EpisodeSampler, EpisodeSet
from .meta import MetaConfig, adapt, effective_rates, evaluate, init_rates, mean_ci95, meta_loss
from .models import Conv4, Conv4Config, count_params, features, forward, head, init_params
from .probe import (
    ProbeConfig,
    probe_run,
    probe_runs,
    prototype_accuracy,
    read_probe_json,
    run_probe,
    scale_rates,
    write_probe_json,
)
from .profiles import PROBES, PROFILES, ensure_runs, profile_config
from .train import Run, RunConfig, evaluate_run, load_run, resolve_device, run_dir_for, train

__all__ = [
    "PROFILES", "Conv4", "Conv4Config", "Episode", "EpisodeSampler", "EpisodeSet",
    "MetaConfig", "Run", "RunConfig", "__version__", "adapt", "count_params",
    "effective_rates", "evaluate", "evaluate_run", "features", "forward", "head",
    "init_params", "init_rates", "load_run", "mean_ci95", "meta_loss", "profile_config",
    "resolve_device", "run_dir_for", "train",
    "REPORT_FIGURE7", "REPORT_TABLE1", "REPORT_VAL_ACC", "ProbeConfig", "compare_probes",
    "figure7_data", "format_table1", "mean_ci", "probe_run", "probe_runs", "probe_statistics",
    "prototype_accuracy", "rate_evolution", "rate_table", "rates_by_layer", "read_probe_json",
    "run_probe", "run_rate_evolution", "run_rate_table", "scale_rates", "seed_summary",
    "training_curves", "write_probe_json", "PROBES", "ensure_runs",
]

from . import report  # noqa: E402  (tables read from run artifacts, see report.py)
from .plots import plot_adaptation  # noqa: E402

__all__ += ["report", "plot_adaptation"]

from .widgets import (  # noqa: E402  (the learning-rate explorer, chapter 5)
    LearningRateExplorer,
    explorer_point,
    precompute_sweep,
    static_slider_html,
    sweep_frames,
    task_pairs,
)

__all__ += ["LearningRateExplorer", "explorer_point", "precompute_sweep", "static_slider_html",
            "sweep_frames", "task_pairs"]
