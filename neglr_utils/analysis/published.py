"""The report's published numbers (T. Starshak, 2021), in one place, as the report gives them.

Mini-ImageNet, 5-way 1-shot, Conv-4 with 64 filters, 60,000 meta-iterations, one run per
algorithm; the probe over 40,000 task pairs. Every comparison in the book reads these.
"""

from __future__ import annotations

TABLE1: dict[str, tuple[float, float]] = {  # layer: (mean, std) of the learned rates
    "conv1": (-0.006, 0.032), "conv2": (-0.004, 0.027), "conv3": (-0.013, 0.027),
    "conv4": (-0.018, 0.030), "logits": (0.043, 0.072),
}
FIGURE7: dict[str, dict[str, float]] = {  # head-free prototype accuracy, Figure 7
    "meta-sgd": {"pre": 0.4757, "on": 0.4752, "off": 0.4759},
    "maml": {"pre": 0.4715, "on": 0.4710, "off": 0.4693},
}
FIGURE7_P = 0.00044  # "a t-test comparing the relative changes between on- and off-task"
FIGURE7_N = 40_000  # probe iterations
VAL_ACC: dict[str, float] = {"maml": 0.46, "meta-sgd": 0.47}  # validation accuracy
# Raghu et al. (ICLR 2020), Table 2: mini-ImageNet 5-way 1-shot test accuracy of MAML and
# of ANIL (only the head adapts in the inner loop), the evidence for feature reuse.
RAGHU_ACC: dict[str, float] = {"maml": 0.469, "anil": 0.467}
ITERATIONS = 60_000
TABLE1_LAYERS = tuple(TABLE1)  # conv1 ... conv4, logits
CONV_LAYERS = tuple(k for k in TABLE1_LAYERS if k.startswith("conv"))


def off_change(algo: str) -> float:
    """The report's off-task change, off - pre, of ``algo`` (Figure 7)."""
    return FIGURE7[algo]["off"] - FIGURE7[algo]["pre"]


def effect() -> float:
    """The report's between-model effect: Meta-SGD's off-task change minus MAML's."""
    return off_change("meta-sgd") - off_change("maml")
