"""Episodes: same seed -> same tasks; labels and shapes; class-disjoint pairs; errors."""

import pytest
import torch

from neglr_utils.core.data import ImageSplit
from neglr_utils.core.episodes import EpisodeSampler, EpisodeSet


def split(n_classes: int = 20, n_per_class: int = 8, size: int = 6) -> ImageSplit:
    """Image j of class c is filled with the value 10 * c + j, so images name themselves."""
    values = (10 * torch.arange(n_classes)[:, None] + torch.arange(n_per_class)[None, :])
    imgs = values[:, :, None, None, None].expand(n_classes, n_per_class, 1, size, size)
    return ImageSplit("omniglot", "test", imgs.to(torch.uint8).contiguous(),
                      tuple(f"c{i}" for i in range(n_classes)))


def test_same_seed_same_episodes_other_seed_other_episodes():
    a = EpisodeSampler(split(), 5, 1, 3, seed=4).sample(6)
    b = EpisodeSampler(split(), 5, 1, 3, seed=4).sample(6)
    c = EpisodeSampler(split(), 5, 1, 3, seed=5).sample(6)
    assert torch.equal(a.x_query, b.x_query) and torch.equal(a.y_support, b.y_support)
    assert not torch.equal(a.classes, c.classes)


def test_shapes_and_labels_follow_the_classes():
    ep = EpisodeSampler(split(), 5, 2, 3, seed=0).sample(4)
    assert ep.x_support.shape == (4, 10, 1, 6, 6) and ep.x_query.shape == (4, 15, 1, 6, 6)
    assert ep.y_support.shape == (4, 10) and ep.y_query.shape == (4, 15)
    for x, y in ((ep.x_support, ep.y_support), (ep.x_query, ep.y_query)):
        cls_of_image = (x[:, :, 0, 0, 0] * 255).round().long() // 10  # [T, M]
        assert torch.equal(cls_of_image, torch.gather(ep.classes, 1, y))
        assert (torch.bincount(y[0], minlength=5) == y.shape[1] // 5).all()


def test_support_and_query_images_differ_within_a_task():
    ep = EpisodeSampler(split(), 5, 1, 7, seed=2).sample(3)
    ids_s = set((ep.x_support[0, :, 0, 0, 0] * 255).round().long().tolist())
    ids_q = set((ep.x_query[0, :, 0, 0, 0] * 255).round().long().tolist())
    assert not ids_s & ids_q


def test_episode_set_is_independent_of_chunking():
    tasks = EpisodeSet(split(), 5, 1, 2, 9, seed=3)
    small = torch.cat([e.x_query for e in tasks.batches(2)])
    large = torch.cat([e.x_query for e in tasks.batches(100)])
    assert torch.equal(small, large)


def test_disjoint_pairs_never_share_a_class_and_stay_reproducible():
    s = split()
    a = EpisodeSet(s, 5, 1, 2, 400, seed=1)
    b = EpisodeSet(s, 5, 1, 2, 400, seed=2, disjoint_from=a)
    again = EpisodeSet(s, 5, 1, 2, 400, seed=2, disjoint_from=a)
    shared = (a.indices.classes[:, :, None] == b.indices.classes[:, None, :]).any(2)
    assert not shared.any()
    assert torch.equal(b.indices.classes, again.indices.classes)
    independent = EpisodeSet(s, 5, 1, 2, 400, seed=2)
    overlap = (a.indices.classes[:, :, None] == independent.indices.classes[:, None, :])
    assert overlap.any(2).any(1).double().mean() > 0.5  # 20 classes: most pairs share one
    # the images and orders are drawn as without the constraint
    assert torch.equal(b.indices.images, independent.indices.images)


def test_errors_say_what_to_change():
    with pytest.raises(ValueError, match="n_way=30 exceeds the 20 classes"):
        EpisodeSampler(split(), 30, 1, 1)
    with pytest.raises(ValueError, match="exceeds the 8 images"):
        EpisodeSampler(split(), 5, 4, 5)
    a = EpisodeSet(split(n_classes=8), 5, 1, 1, 3, seed=0)
    with pytest.raises(ValueError, match="need 10 classes"):
        EpisodeSet(split(n_classes=8), 5, 1, 1, 3, seed=1, disjoint_from=a)
    with pytest.raises(ValueError, match="has 3 tasks, not 4"):
        EpisodeSet(split(), 5, 1, 1, 4, seed=1, disjoint_from=a)
