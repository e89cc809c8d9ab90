"""neglr_utils: MAML and Meta-SGD on Conv-4, the learned-rate analysis and the feature probe.

Data flows one way: ``data`` -> ``episodes`` -> ``models`` -> ``meta`` -> ``stack`` ->
``train`` -> ``probe`` / ``analysis`` / ``endpoints`` -> ``results`` -> ``report`` ->
``plots`` / ``widgets``. ``profiles`` names the settings, ``sweep`` and ``study`` run
many runs; ``io``, ``runtime``, ``stats`` and ``published`` are shared helpers.
"""

__version__ = "0.2.0"

import os as _os

# Before torch loads (a default only): idle OpenMP threads spin briefly, then sleep, so a
# busy neighbour process does not slow torch down many-fold on a small machine
# (benchmarks/results/cpu2-threads.json). Thread counts are set by `configure_threads`.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from . import published, report  # noqa: E402, F401  (modules notebooks use by name)
from .analysis import RateStats, rate_table, rates_by_layer, run_rate_evolution
from .endpoints import changes, compare, verdict
from .episodes import Episode, EpisodeSampler, EpisodeSet
from .meta import ALGOS, MetaConfig, adapt, effective_rates, evaluate, init_rates, meta_loss
from .models import Conv4, Conv4Config, count_params, features, forward, head, init_params
from .probe import TRAINED, Condition, ProbeConfig, ensure_probes, probe_pairs, scale_rates
from .profiles import PROBES, PROFILES, ensure_runs, locate_runs, profile_config
from .results import RunSummary, Study, load_studies, load_study
from .runtime import configure_threads, resolve_device
from .stats import Interval, holm, mean_ci, paired_test, tost
from .train import Run, RunConfig, evaluate_run, load_run, run_dir_for, train, train_runs

__all__ = [
    "ALGOS", "PROBES", "PROFILES", "TRAINED", "Condition", "Conv4", "Conv4Config", "Episode",
    "EpisodeSampler", "EpisodeSet", "Interval", "MetaConfig", "ProbeConfig", "RateStats",
    "Run", "RunConfig", "RunSummary", "Study", "__version__", "adapt", "changes", "compare",
    "configure_threads", "count_params", "effective_rates", "ensure_probes", "ensure_runs",
    "evaluate", "evaluate_run", "features", "forward", "head", "holm", "init_params",
    "init_rates", "load_run", "load_studies", "load_study", "locate_runs", "mean_ci", "meta_loss",
    "paired_test", "probe_pairs", "profile_config", "published", "rate_table",
    "rates_by_layer", "report", "resolve_device", "run_dir_for", "run_rate_evolution",
    "scale_rates", "tost", "train", "train_runs", "verdict",
]
