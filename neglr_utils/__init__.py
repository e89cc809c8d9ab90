"""neglr_utils: MAML and Meta-SGD on Conv-4, the learned-rate analysis and the feature probe.

Layers, in the direction data flows (each imports only the layers before it; checked
by ``tests/test_layout.py``):

- ``stats`` (intervals and tests, numpy/scipy only) and ``progress`` (progress bars):
  helpers every layer may use;
- ``core``: the science, tensors in and out: ``data`` -> ``episodes`` -> ``models`` ->
  ``meta`` (the one inner loop) -> ``stack`` / ``probe`` / ``mechanism``. Reads
  datasets, never a run directory;
- ``runs``: settings (``config``, ``profiles``), ``training``, the one ``store`` of
  every file format, probing and diagnosing run directories, ``study``, ``sweep``,
  ``provenance``;
- ``analysis``: typed summaries of studies and their statistics (``results``, ``rates``,
  ``endpoints``, ``calibration``, ``variance``, ``scorecard``, ``representation``,
  ``sweeps``, ``trajectory``, ``published``);
- ``display``: tables, figures and widgets for the book;
- ``linear``: the exact linear model of chapter 06 (``stats`` and ``display`` only);
- ``cli`` (``python -m neglr_utils``) on top.
"""

__version__ = "0.3.0"

import os as _os

# Before torch loads (a default only): idle OpenMP threads spin briefly, then sleep, so a
# busy neighbour process does not slow torch down many-fold on a small machine
# (benchmarks/results/cpu2-threads.json). Thread counts are set by `configure_threads`.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from .analysis import published  # noqa: E402
from .analysis.endpoints import changes, compare, verdict  # noqa: E402
from .analysis.rates import RateStats, rate_table, rates_by_layer, run_rate_evolution  # noqa: E402
from .analysis.results import RunSummary, Study, load_studies, load_study  # noqa: E402
from .core.episodes import Episode, EpisodeSampler, EpisodeSet  # noqa: E402
from .core.meta import (  # noqa: E402
    ALGOS,
    MetaConfig,
    adapt,
    effective_rates,
    evaluate,
    init_rates,
    meta_loss,
)
from .core.models import (  # noqa: E402
    Conv4,
    Conv4Config,
    count_params,
    features,
    forward,
    head,
    init_params,
)
from .core.probe import TRAINED, Condition, ProbeConfig, probe_pairs, scale_rates  # noqa: E402
from .display import tables as report  # noqa: E402
from .runs.config import RunConfig, run_dir_for  # noqa: E402
from .runs.probes import ensure_probes  # noqa: E402
from .runs.profiles import PROFILES, STUDIES, Profile, get_profile, get_study  # noqa: E402
from .runs.runtime import configure_threads, resolve_device  # noqa: E402
from .runs.training import Run, evaluate_run, extend, load_run, train, train_runs  # noqa: E402
from .stats import Interval, holm, mean_ci, paired_test, tost  # noqa: E402

__all__ = [
    "ALGOS", "PROFILES", "STUDIES", "TRAINED", "Condition", "Conv4", "Conv4Config", "Episode",
    "EpisodeSampler", "EpisodeSet", "Interval", "MetaConfig", "Profile", "ProbeConfig",
    "RateStats", "Run", "RunConfig", "RunSummary", "Study", "__version__", "adapt",
    "changes", "compare", "configure_threads", "count_params", "effective_rates",
    "ensure_probes", "evaluate", "evaluate_run", "extend", "features", "forward",
    "get_profile", "get_study", "head", "holm", "init_params", "init_rates", "load_run",
    "load_studies", "load_study", "mean_ci", "meta_loss", "paired_test", "probe_pairs",
    "published", "rate_table", "rates_by_layer", "report", "resolve_device", "run_dir_for",
    "run_rate_evolution", "scale_rates", "tost", "train", "train_runs", "verdict",
]
