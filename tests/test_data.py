"""Tests for neglr_utils.core.data: layouts, splits, cache and error messages on tiny data.

Real-data tests (marked `realdata`) read NEGLR_DATA through the `real_data_root` fixture.
"""

from __future__ import annotations

import io
import os
import pickle
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import neglr_utils.core.data as data
from neglr_utils.core.data import (
    CorruptImageError,
    DataNotFoundError,
    ImageSplit,
    UnknownLayoutError,
    default_cache_dir,
    load_split,
    load_splits,
    resolve_data_root,
    split_sizes,
)

N_ALPHABETS, N_CHARACTERS, N_DRAWINGS = 2, 5, 3  # per half: 10 + 10 = 20 characters
MINI_CLASSES = {"train": 3, "val": 2, "test": 2}
MINI_PER_CLASS, MINI_SIZE = 4, 24


@pytest.fixture(autouse=True)
def isolated_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                 tmp_path: Path) -> None:
    """Unit tests get their own cache and no NEGLR_DATA; real-data tests keep the environment."""
    if request.node.get_closest_marker("realdata"):
        return
    monkeypatch.setenv("NEGLR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NEGLR_DATA", raising=False)


# ----------------------------------------------------------------------------- synthetic data


def glyph_png(seed: int, size: int = 35) -> bytes:
    """A 1-bit drawing like Omniglot's: a black stroke on white."""
    rng = np.random.default_rng(seed)
    img = Image.new("1", (size, size), 1)
    x0, y0 = rng.integers(0, size // 2, 2)
    ImageDraw.Draw(img).rectangle([int(x0), int(y0), int(x0) + size // 3, int(y0) + 4], fill=0)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def photo_jpeg(seed: int, size: int = MINI_SIZE) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_tree(files: dict[str, bytes], target: Path, as_zip: bool) -> None:
    """Write {relative path: bytes} as loose files under `target`, or into zip `target`."""
    if as_zip:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w") as zf:
            for name, payload in files.items():
                zf.writestr(name, payload)
        return
    for name, payload in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(payload)


def omniglot_files(half: str) -> dict[str, bytes]:
    offset = 0 if half == "images_background" else 1000
    return {f"{half}/{half[7:]}_Alphabet{a}/character{c + 1:02d}/{a}{c}_{d + 1:02d}.png":
            glyph_png(offset + 100 * a + 10 * c + d)
            for a in range(N_ALPHABETS) for c in range(N_CHARACTERS) for d in range(N_DRAWINGS)}


def make_omniglot(root: Path, as_zip: bool = True, folder: str = "omniglot",
                  halves: tuple[str, ...] = ("images_background", "images_evaluation")) -> Path:
    for half in halves:
        target = root / folder / (f"{half}.zip" if as_zip else "")
        write_tree(omniglot_files(half), target, as_zip)
    return root


def mini_files(split: str, per_class: int = MINI_PER_CLASS,
               size: int = MINI_SIZE) -> dict[str, dict[str, bytes]]:
    """{wnid: {filename: jpeg}}; wnids are written unsorted to check the class order."""
    offset = {"train": 0, "val": 100, "test": 200}[split]
    wnids = [f"n{offset + i:08d}" for i in reversed(range(MINI_CLASSES[split]))]
    return {w: {f"{w}{j:08d}.jpg": photo_jpeg(offset * 100 + 10 * i + j, size)
                for j in range(per_class)} for i, w in enumerate(wnids)}


def make_mini(root: Path, layout: str, size: int = MINI_SIZE) -> Path:
    """Write all three splits under root/mini-imagenet in one layout."""
    base = root / "mini-imagenet"
    base.mkdir(parents=True, exist_ok=True)
    for split in data.SPLITS:
        classes = mini_files(split, size=size)
        tree = {f"{split}/{w}/{f}": b for w, files in classes.items() for f, b in files.items()}
        if layout == "folders":
            write_tree(tree, base, as_zip=False)
        elif layout == "zip":
            write_tree(tree, base / f"{split}.zip", as_zip=True)
        elif layout == "zip-parts":
            names = sorted(tree)
            write_tree({n: tree[n] for n in names[::2]}, base / f"{split}-1-of-2.zip", True)
            write_tree({n: tree[n] for n in names[1::2]}, base / f"{split}-2-of-2.zip", True)
        elif layout == "csv":
            rows = ["filename,label"] + [f"{f},{w}" for w, files in classes.items() for f in files]
            (base / f"{split}.csv").write_text("\n".join(rows) + "\n")
            write_tree({f: b for files in classes.values() for f, b in files.items()},
                       base / "images", as_zip=False)
        elif layout == "pickle":
            images, class_dict = [], {}
            for w, files in classes.items():
                class_dict[w] = list(range(len(images), len(images) + len(files)))
                images += [np.asarray(Image.open(io.BytesIO(b))) for b in files.values()]
            name = {"train": "train", "val": "validation", "test": "test"}[split]
            with open(base / f"mini-imagenet-cache-{name}.pkl", "wb") as f:
                pickle.dump({"image_data": np.stack(images), "class_dict": class_dict}, f)
        else:
            raise AssertionError(layout)
    return root


def expected_mini(split: str) -> tuple[torch.Tensor, list[str]]:
    """What `load_split` should return for synthetic split `split`: PIL decodes, sorted wnids."""
    classes = mini_files(split)
    names = sorted(classes)
    images = [[np.asarray(Image.open(io.BytesIO(classes[w][f]))) for f in sorted(classes[w])]
              for w in names]
    return torch.from_numpy(np.stack(images)).permute(0, 1, 4, 2, 3), names


# ----------------------------------------------------------------------------- roots and names


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NEGLR_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "neglr"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "neglr"
    monkeypatch.setenv("NEGLR_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_data_root() == default_cache_dir() / "data"
    monkeypatch.setenv("NEGLR_DATA", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(str(tmp_path / "arg")) == tmp_path / "arg"


def test_data_root_from_env_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEGLR_DATA", str(make_mini(tmp_path, "folders")))
    assert load_split("mini-imagenet", "val").n_classes == MINI_CLASSES["val"]


@pytest.mark.parametrize(("dataset", "split", "valid"), [
    ("cifar", "train", "omniglot, mini-imagenet"),
    ("omniglot", "validation", "train, val, test"),
])
def test_unknown_names_list_valid_ones(dataset: str, split: str, valid: str) -> None:
    with pytest.raises(ValueError, match=valid):
        load_split(dataset, split)


def test_image_split_properties_and_checks() -> None:
    images = torch.zeros(3, 2, 1, 5, 5, dtype=torch.uint8)
    s = ImageSplit("omniglot", "val", images, ("a", "b", "c"))
    assert (s.n_classes, s.n_per_class, s.image_shape) == (3, 2, (1, 5, 5))
    with pytest.raises(ValueError, match="2 class names"):
        ImageSplit("omniglot", "val", torch.zeros(3, 2, 1, 5, 5, dtype=torch.uint8), ("a", "b"))
    with pytest.raises(ValueError, match="uint8"):
        ImageSplit("omniglot", "val", torch.zeros(3, 2, 1, 5, 5), ("a", "b", "c"))


# ----------------------------------------------------------------------------- Omniglot


def test_omniglot_zip_layout(tmp_path: Path) -> None:
    splits = load_splits("omniglot", make_omniglot(tmp_path), download=False)
    sizes = {k: s.n_classes for k, s in splits.items()}
    assert sizes == {"train": 4 * 14, "val": 4 * 1, "test": 4 * 5}  # 1200/1623 and 100/1623 of 20
    for s in splits.values():
        assert s.images.dtype == torch.uint8
        assert (s.n_per_class, s.image_shape) == (N_DRAWINGS, (1, 28, 28))
        assert s.images.float().mean() < 64 and s.images.max() == 255  # ink high, paper 0
    train = load_split("omniglot", "train", tmp_path, rotations=False, image_size=35)
    assert train.image_shape == (1, 35, 35)  # not resized: not larger than image_size
    assert set(torch.unique(train.images).tolist()) == {0, 255}


def test_omniglot_folder_layouts_match_zips(tmp_path: Path) -> None:
    zips = load_split("omniglot", "test", make_omniglot(tmp_path / "a"), download=False)
    for folder in ("omniglot", "omniglot-py", "omniglot/omniglot-py"):  # torchvision's folders
        root = make_omniglot(tmp_path / folder.replace("/", "_"), as_zip=False, folder=folder)
        loose = load_split("omniglot", "test", root, download=False)
        assert loose.class_names == zips.class_names
        assert torch.equal(loose.images, zips.images)


def test_omniglot_splits_are_character_disjoint(tmp_path: Path) -> None:
    splits = load_splits("omniglot", make_omniglot(tmp_path), download=False)
    characters = {}
    for name, s in splits.items():
        stripped = [c.rsplit("/", 1)[0] for c in s.class_names]
        assert all(stripped.count(c) == 4 for c in stripped)  # all four rotations, same split
        characters[name] = set(stripped)
    assert not characters["train"] & characters["val"]
    assert not characters["train"] & characters["test"]
    assert not characters["val"] & characters["test"]
    assert len(set.union(*characters.values())) == 2 * N_ALPHABETS * N_CHARACTERS


def test_omniglot_rotations_are_classes(tmp_path: Path) -> None:
    make_omniglot(tmp_path)
    plain = load_split("omniglot", "train", tmp_path, rotations=False, download=False)
    rotated = load_split("omniglot", "train", tmp_path, download=False)
    assert rotated.n_classes == 4 * plain.n_classes
    assert rotated.class_names[:4] == tuple(f"{plain.class_names[0]}/rot{r:03d}"
                                            for r in (0, 90, 180, 270))
    for r in range(4):
        assert torch.equal(rotated.images[r::4], torch.rot90(plain.images, r, dims=(-2, -1)))


def test_omniglot_full_split_sizes() -> None:
    parts = {s: data._omniglot_split_indices(1623, s) for s in data.SPLITS}
    assert {s: len(p) for s, p in parts.items()} == {"train": 1100, "val": 100, "test": 423}
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(1623))


def test_omniglot_missing(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        load_split("omniglot", "train", tmp_path / "nowhere", download=False)
    message = str(err.value)
    for text in (str(tmp_path / "nowhere" / "omniglot"), str(tmp_path / "nowhere" / "omniglot-py"),
                 "data_root argument", "NEGLR_DATA", "images_background.zip", "download=False"):
        assert text in message


def test_omniglot_download_failure_is_data_not_found(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    import torchvision.datasets

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "Omniglot", offline)
    with pytest.raises(DataNotFoundError, match="download failed.*no network"):
        load_split("omniglot", "train", tmp_path)


def test_empty_folders_left_by_a_failed_download_are_not_a_layout(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """torchvision leaves empty folders behind; the next load must still say "not found"."""
    import torchvision.datasets

    monkeypatch.setenv("NEGLR_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "data" / "omniglot" / "omniglot-py").mkdir(parents=True)
    monkeypatch.setattr(torchvision.datasets, "Omniglot",
                        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")))
    with pytest.raises(DataNotFoundError, match="download failed"):
        load_split("omniglot", "train", tmp_path / "empty-root")


def test_omniglot_half_missing_is_unknown_layout(tmp_path: Path) -> None:
    make_omniglot(tmp_path, halves=("images_background",))
    with pytest.raises(UnknownLayoutError, match="found: images_background.*both halves"):
        load_split("omniglot", "train", tmp_path, download=False)


# ----------------------------------------------------------------------------- mini-ImageNet


@pytest.mark.parametrize("layout", ["folders", "zip", "zip-parts", "csv", "pickle"])
def test_mini_imagenet_layouts(tmp_path: Path, layout: str) -> None:
    splits = load_splits("mini-imagenet", make_mini(tmp_path, layout))
    for name, s in splits.items():
        images, wnids = expected_mini(name)
        assert s.class_names == tuple(wnids)
        assert s.images.dtype == torch.uint8
        assert s.images.shape == (MINI_CLASSES[name], MINI_PER_CLASS, 3, MINI_SIZE, MINI_SIZE)
        assert torch.equal(s.images, images)  # 24 < 84: decoded as is, never upscaled


def test_mini_imagenet_in_data_root_itself(tmp_path: Path) -> None:
    make_mini(tmp_path, "zip")
    s = load_split("mini-imagenet", "test", tmp_path / "mini-imagenet")
    assert s.n_classes == MINI_CLASSES["test"]


@pytest.mark.parametrize("layout", ["zip", "pickle"])
def test_mini_imagenet_resized_only_when_larger(tmp_path: Path, layout: str) -> None:
    make_mini(tmp_path, layout)
    small = load_split("mini-imagenet", "val", tmp_path, image_size=16)
    assert small.image_shape == (3, 16, 16)
    jpeg = mini_files("val")[small.class_names[0]]
    first = Image.open(io.BytesIO(jpeg[sorted(jpeg)[0]])).resize((16, 16), Image.Resampling.LANCZOS)
    assert torch.equal(small.images[0, 0], torch.from_numpy(np.array(first)).permute(2, 0, 1))
    same = load_split("mini-imagenet", "val", tmp_path, image_size=MINI_SIZE)
    assert torch.equal(same.images, expected_mini("val")[0])


def test_process_pool_matches_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_mini(tmp_path, "zip-parts")
    serial = load_split("mini-imagenet", "train", tmp_path)
    monkeypatch.setattr(data, "_POOL_MIN_IMAGES", 1)
    monkeypatch.setattr(data, "_n_workers", lambda: 2)
    monkeypatch.setenv("NEGLR_CACHE", str(tmp_path / "other-cache"))
    pooled = load_split("mini-imagenet", "train", tmp_path)
    assert torch.equal(serial.images, pooled.images)


def test_mini_imagenet_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEGLR_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError) as err:
        load_split("mini-imagenet", "train")
    message = str(err.value)
    for text in (str(tmp_path / "nowhere" / "mini-imagenet"), "NEGLR_DATA environment variable",
                 "mini-imagenet-cache-", "<split>-*.zip", "images/*.jpg", "Ravi & Larochelle",
                 "learn2learn", "--data-root", "cannot be downloaded"):
        assert text in message


def test_mini_imagenet_unknown_layout(tmp_path: Path) -> None:
    (tmp_path / "mini-imagenet").mkdir()
    (tmp_path / "mini-imagenet" / "notes.txt").write_text("hello")
    with pytest.raises(UnknownLayoutError) as err:
        load_split("mini-imagenet", "val", tmp_path)
    for text in ("split folders", "zip archives", "learn2learn", "Ravi & Larochelle", "notes.txt"):
        assert text in str(err.value)


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    make_mini(tmp_path, "folders")
    victim = sorted((tmp_path / "mini-imagenet" / "val").rglob("*.jpg"))[3]
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])  # truncated
    with pytest.raises(CorruptImageError, match=str(victim)):
        load_split("mini-imagenet", "val", tmp_path)


@pytest.mark.parametrize("pool", [False, True])
def test_corrupt_zip_member_names_member_and_archive(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path, pool: bool) -> None:
    if pool:
        monkeypatch.setattr(data, "_POOL_MIN_IMAGES", 1)
        monkeypatch.setattr(data, "_n_workers", lambda: 2)
    tree = {f"test/{w}/{f}": b for w, files in mini_files("test").items() for f, b in files.items()}
    bad = sorted(tree)[5]
    tree[bad] = tree[bad][:200]
    write_tree(tree, tmp_path / "mini-imagenet" / "test.zip", as_zip=True)
    with pytest.raises(CorruptImageError) as err:
        load_split("mini-imagenet", "test", tmp_path)
    assert bad in str(err.value) and "test.zip" in str(err.value)
    assert not list((tmp_path / "cache" / "arrays").glob("*.npy"))  # nothing half-written


def test_unequal_class_sizes(tmp_path: Path) -> None:
    make_mini(tmp_path, "folders")
    odd = sorted((tmp_path / "mini-imagenet" / "train").iterdir())[1]
    next(odd.iterdir()).unlink()
    with pytest.raises(ValueError, match=f"same number of images.*{odd.name}: 3"):
        load_split("mini-imagenet", "train", tmp_path)


def test_cache_is_reused_and_invalidated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make_mini(tmp_path, "folders")
    first = load_split("mini-imagenet", "val", tmp_path)
    arrays = tmp_path / "cache" / "arrays"
    assert (arrays / "mini-imagenet-val-84.npy").is_file()
    assert (arrays / "mini-imagenet-val-84.json").is_file()

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded although cached")

    with monkeypatch.context() as m:
        m.setattr(data, "_decode_class", no_decoding)
        again = load_split("mini-imagenet", "val", tmp_path)
        assert torch.equal(again.images, first.images) and again.class_names == first.class_names
        again.images[0, 0] = 0  # writable, and the cached file stays untouched (copy-on-write)
    assert torch.equal(load_split("mini-imagenet", "val", tmp_path).images, first.images)

    victim = tmp_path / "mini-imagenet" / "val" / first.class_names[0] / sorted(
        mini_files("val")[first.class_names[0]])[0]
    victim.write_bytes(photo_jpeg(seed=12345))
    os.utime(victim, ns=(1, 1))
    changed = load_split("mini-imagenet", "val", tmp_path)
    assert not torch.equal(changed.images[0, 0], first.images[0, 0])
    assert torch.equal(changed.images[1:], first.images[1:])


def test_unwritable_cache_decodes_in_memory(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    make_mini(tmp_path, "zip")
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("NEGLR_CACHE", str(tmp_path / "not-a-folder"))
    with pytest.warns(UserWarning, match="cannot write the array cache"):
        s = load_split("mini-imagenet", "val", tmp_path)
    assert torch.equal(s.images, expected_mini("val")[0])


def test_split_sizes(tmp_path: Path) -> None:
    make_mini(tmp_path, "zip")
    assert split_sizes("mini-imagenet", tmp_path) == {
        s: (n, MINI_PER_CLASS) for s, n in MINI_CLASSES.items()}


# ----------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_omniglot(real_data_root: Path) -> None:
    splits = load_splits("omniglot", real_data_root, rotations=False, download=False)
    assert {s: x.n_classes for s, x in splits.items()} == {"train": 1100, "val": 100, "test": 423}
    assert sum(x.n_classes for x in splits.values()) == 1623
    assert sum(x.n_classes * x.n_per_class for x in splits.values()) == 32460
    assert all(x.image_shape == (1, 28, 28) for x in splits.values())
    names = [set(x.class_names) for x in splits.values()]
    assert len(set.union(*names)) == 1623
    assert load_split("omniglot", "train", real_data_root, download=False).n_classes == 4400


@pytest.mark.realdata
def test_real_mini_imagenet(real_data_root: Path) -> None:
    splits = load_splits("mini-imagenet", real_data_root)
    assert {s: x.n_classes for s, x in splits.items()} == {"train": 64, "val": 16, "test": 20}
    for x in splits.values():
        assert x.images.shape[1:] == (600, 3, 84, 84) and x.images.dtype == torch.uint8
    names = [set(x.class_names) for x in splits.values()]
    assert len(set.union(*names)) == 100
