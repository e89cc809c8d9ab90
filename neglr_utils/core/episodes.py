"""Seeded N-way K-shot episodes drawn from an :class:`~neglr_utils.core.data.ImageSplit`.

The images stay on the device as uint8 ``[n_classes, n_per_class, C, H, W]``; each call
picks indices with a CPU ``torch.Generator`` (so the same seed gives the same episodes
on every device), gathers on the device and converts only the batch to floats in
[0, 1]. Labels are 0..N-1 in the random order the classes were drawn, and examples are
shuffled within the support and query sets of each task.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .data import ImageSplit


@dataclass(frozen=True)
class EpisodeIndices:
    """Where a batch of tasks comes from: enough to rebuild it exactly (all CPU)."""

    classes: Tensor  # [T, N] split class behind each label
    images: Tensor  # [T, N, K+Q] image index within its class
    perm_support: Tensor  # [T, N*K] order of the support examples
    perm_query: Tensor  # [T, N*Q] order of the query examples

    def slice(self, start: int, stop: int) -> EpisodeIndices:
        return EpisodeIndices(*(t[start:stop] for t in (
            self.classes, self.images, self.perm_support, self.perm_query)))


@dataclass(frozen=True)
class Episode:
    """A batch of tasks. Shapes use T tasks, N ways, K shots, Q queries per class."""

    x_support: Tensor  # [T, N*K, C, H, W] float
    y_support: Tensor  # [T, N*K] long, values 0..N-1
    x_query: Tensor  # [T, N*Q, C, H, W] float
    y_query: Tensor  # [T, N*Q] long
    classes: Tensor  # [T, N] long: split class index behind each label (CPU)

    @property
    def n_tasks(self) -> int:
        return self.x_support.shape[0]

    def task(self, i: int | slice) -> Episode:
        """The sub-batch of tasks ``i`` (an int keeps a task dimension of 1)."""
        s = slice(i, i + 1) if isinstance(i, int) else i
        return Episode(
            self.x_support[s], self.y_support[s], self.x_query[s], self.y_query[s],
            self.classes[s],
        )


def check_episode_shape(split: ImageSplit, n_way: int, k_shot: int, k_query: int) -> None:
    """Raise a ValueError that says what to change when a split cannot give the episode."""
    if n_way < 1 or k_shot < 1 or k_query < 0:
        raise ValueError(f"need n_way >= 1, k_shot >= 1, k_query >= 0; got {n_way}, {k_shot}, "
                         f"{k_query}")
    if n_way > split.n_classes:
        raise ValueError(
            f"n_way={n_way} exceeds the {split.n_classes} classes of {split.dataset}/"
            f"{split.split}; use n_way <= {split.n_classes}"
        )
    if k_shot + k_query > split.n_per_class:
        raise ValueError(
            f"k_shot + k_query = {k_shot} + {k_query} exceeds the {split.n_per_class} images "
            f"per class of {split.dataset}/{split.split}; lower k_shot or k_query"
        )


class EpisodeSampler:
    """Draws batches of N-way K-shot Q-query tasks from one split, repeatably.

    ``sampler.sample(3)`` returns an :class:`Episode` with three tasks on ``device``.
    ``state_dict``/``load_state_dict`` save and restore the generator, so a resumed
    training run sees exactly the episodes an uninterrupted one would.
    """

    def __init__(
        self,
        split: ImageSplit,
        n_way: int,
        k_shot: int,
        k_query: int,
        *,
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        check_episode_shape(split, n_way, k_shot, k_query)
        self.split = split
        self.n_way, self.k_shot, self.k_query = n_way, k_shot, k_query
        self.device = torch.device(device)
        self.dtype = dtype
        self.images = split.images.to(self.device)
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, n_tasks: int, exclude: Tensor | None = None) -> EpisodeIndices:
        """Indices of ``n_tasks`` fresh tasks, drawn on the CPU (cheap; no images).

        ``exclude: [n_tasks, E]`` lists split classes task i must not use (e.g. the
        classes of another task, for class-disjoint pairs). The generator is consumed
        the same way with or without it.
        """
        g = self.generator
        n, k, q = self.n_way, self.k_shot, self.k_query
        n_cls, n_img = self.split.n_classes, self.split.n_per_class
        keys = torch.rand(n_tasks, n_cls, generator=g)
        if exclude is not None:
            if exclude.shape[0] != n_tasks:
                raise ValueError(f"exclude has {exclude.shape[0]} rows for {n_tasks} tasks")
            if n_cls - exclude.shape[1] < n:
                raise ValueError(
                    f"{n}-way tasks disjoint from {exclude.shape[1]} other classes "
                    f"need {n + exclude.shape[1]} classes; {self.split.dataset}/"
                    f"{self.split.split} has {n_cls}")
            keys = keys.scatter(1, exclude.long(), 2.0)  # excluded classes sort last
        classes = keys.argsort(dim=1)[:, :n]
        images = torch.rand(n_tasks, n, n_img, generator=g).argsort(dim=2)[..., : k + q]
        perm_s = torch.rand(n_tasks, n * k, generator=g).argsort(dim=1)
        perm_q = torch.rand(n_tasks, n * q, generator=g).argsort(dim=1)
        return EpisodeIndices(classes, images, perm_s, perm_q)

    def gather(self, idx: EpisodeIndices) -> Episode:
        """The images and labels behind ``idx``, as floats in [0, 1] on the device."""
        n, k, q = self.n_way, self.k_shot, self.k_query
        n_tasks = idx.classes.shape[0]
        dev = self.device
        x = self.images[idx.classes.to(dev)[..., None], idx.images.to(dev)]  # [T,N,K+Q,C,H,W]
        labels = torch.arange(n, device=dev).view(1, n, 1).expand(n_tasks, n, k + q)
        x_s = x[:, :, :k].reshape(n_tasks, n * k, *x.shape[3:])
        x_q = x[:, :, k:].reshape(n_tasks, n * q, *x.shape[3:])
        y_s = labels[:, :, :k].reshape(n_tasks, n * k)
        y_q = labels[:, :, k:].reshape(n_tasks, n * q)
        perm_s, perm_q = idx.perm_support.to(dev), idx.perm_query.to(dev)
        rows = torch.arange(n_tasks, device=dev)[:, None]
        return Episode(
            x_support=self._to_float(x_s[rows, perm_s]),
            y_support=y_s[rows, perm_s].contiguous(),
            x_query=self._to_float(x_q[rows, perm_q]),
            y_query=y_q[rows, perm_q].contiguous(),
            classes=idx.classes,
        )

    def sample(self, n_tasks: int = 1) -> Episode:
        """``n_tasks`` fresh tasks; labels are remapped to 0..N-1."""
        return self.gather(self.draw(n_tasks))

    def _to_float(self, x: Tensor) -> Tensor:
        return x.to(self.dtype).div_(255.0)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class EpisodeSet:
    """A fixed list of tasks (validation and test sets): the same seed gives the same list.

    ``disjoint_from``: another list of the same length; task i then shares no class with
    its task i (the probe's class-disjoint off-task pairs).

    Only indices are kept; images are gathered chunk by chunk, so 600 mini-ImageNet
    test tasks never sit in memory as floats at once. Chunking does not change the
    tasks: ``episodes.batches(7)`` and ``episodes.batches(100)`` yield the same ones.
    """

    def __init__(self, split: ImageSplit, n_way: int, k_shot: int, k_query: int,
                 n_episodes: int, *, seed: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, disjoint_from: EpisodeSet | None = None
                 ) -> None:
        self.sampler = EpisodeSampler(
            split, n_way, k_shot, k_query, seed=seed, device=device, dtype=dtype
        )
        if disjoint_from is not None and len(disjoint_from) != n_episodes:
            raise ValueError(f"disjoint_from has {len(disjoint_from)} tasks, not {n_episodes}")
        exclude = None if disjoint_from is None else disjoint_from.indices.classes
        self.indices = self.sampler.draw(n_episodes, exclude)
        self.n_episodes = n_episodes

    def __len__(self) -> int:
        return self.n_episodes

    def get(self, start: int, stop: int) -> Episode:
        """Tasks ``start`` to ``stop - 1`` as one :class:`Episode` batch."""
        return self.sampler.gather(self.indices.slice(start, stop))

    def batches(self, batch_size: int) -> Iterator[Episode]:
        """Consecutive batches of at most ``batch_size`` tasks."""
        for start in range(0, self.n_episodes, batch_size):
            yield self.get(start, min(start + batch_size, self.n_episodes))


def sampling_throughput(sampler: EpisodeSampler, n_tasks: int = 32, repeats: int = 5) -> float:
    """Tasks per second that ``sampler`` delivers as float tensors (median of ``repeats``)."""
    import statistics
    import time

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ep = sampler.sample(n_tasks)
        if ep.x_query.is_cuda:
            torch.cuda.synchronize(ep.x_query.device)
        times.append(time.perf_counter() - t0)
    return n_tasks / statistics.median(times)
