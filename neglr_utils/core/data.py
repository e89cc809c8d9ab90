"""Few-shot image datasets (Omniglot, mini-ImageNet) as dense uint8 tensors.

`load_split` returns an `ImageSplit` whose ``images`` are ``[n_classes, n_per_class, C, H, W]``
uint8 on the CPU, the layout the episode sampler indexes directly. The first load decodes the
images (a process pool, with a progress bar) and caches the array as ``.npy`` under
``default_cache_dir()/arrays``; later loads memory-map that file (copy-on-write), so they take
well under a second. A JSON file beside each array keeps its class names and a fingerprint of
the source files (paths, sizes, mtimes) plus the decode settings: a changed source or setting
re-decodes instead of loading a stale array. Images are decoded straight out of zip archives
(the archives hold stored JPEG/PNG members), so nothing is ever extracted and the data root
may be read-only.

Data root: the `data_root` argument, else the ``NEGLR_DATA`` environment variable, else
``default_cache_dir()/"data"`` (see `resolve_data_root`).

**Omniglot** (Lake et al. 2015), read from ``<root>/omniglot`` (or ``<root>/omniglot-py``):
``images_background`` and ``images_evaluation``, each either the upstream zip or the folder
torchvision extracts (``<Alphabet>/<characterNN>/*.png``). Checksums are never verified, so
re-zipped copies work. When nothing is found and ``download=True``, torchvision downloads it
into ``default_cache_dir()/"data"/"omniglot"``.

Omniglot split (Vinyals et al. 2016 sizes, as used by MAML, Finn et al. 2017): the 1,623
characters are sorted by (background before evaluation, alphabet, character) and permuted with
``numpy.random.default_rng(0)``. The first 1,200 are the meta-train characters, of which the last
100 are held out as "val": train 1,100, val 100, test 423 characters, 20 drawings each. (A copy
with a different number of characters is split in the same proportions.) Within a split,
characters keep the sorted order. With ``rotations=True`` each character rotated by 0/90/180/270
degrees (counter-clockwise, `torch.rot90`) is its own class, named
``"Alphabet/characterNN/rot090"``, so train has 4,400 classes; rotations of one character are
adjacent and in every split, so splits stay character-disjoint. Drawings are resized 105 -> 28
(PIL Lanczos, antialiased) and inverted so that ink is 255 and paper 0.

**mini-ImageNet** (Vinyals et al. 2016, split of Ravi & Larochelle 2017): 64/16/20 classes of
600 images, read from ``<root>/mini-imagenet`` or ``<root>`` itself, in the first layout found:
a learn2learn pickle ``mini-imagenet-cache-{train,validation,test}.pkl`` (trusted files only:
pickles can run code), split folders ``<split>/<wnid>/*.jpg``, zips ``<split>.zip`` or
``<split>-*.zip`` holding ``<split>/<wnid>/*.jpg``, or Ravi & Larochelle's ``images/*.jpg``
with ``<split>.csv`` (``filename,label``). Classes are sorted by wnid. Images larger than
``image_size`` are resized to ``image_size`` squared (PIL Lanczos); others are kept as they are.

**Checks**, once, when a cache array is built (errors name the archive and member, or the
file): a damaged or truncated archive or image, an image of a mode the dataset does not
have (`_SOURCE_MODES`) or of another size, a class with fewer images than the others, and
a class or image file in two splits (`SplitOverlapError`; an Omniglot character in both
halves). Byte-identical mini-ImageNet images under different names in two splits only warn:
the standard split has 7 (ImageNet photos filed under two classes).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import multiprocessing
import os
import pickle
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..progress import tqdm

__all__ = [
    "DATASETS",
    "SPLITS",
    "CorruptImageError",
    "DataNotFoundError",
    "ImageSplit",
    "SplitOverlapError",
    "UnknownLayoutError",
    "default_cache_dir",
    "load_split",
    "load_splits",
    "resolve_data_root",
    "split_sizes",
]

DATASETS = ("omniglot", "mini-imagenet")
SPLITS = ("train", "val", "test")
DEFAULT_IMAGE_SIZE = {"omniglot": 28, "mini-imagenet": 84}
OMNIGLOT_SPLIT_SEED = 0  # seed of the character permutation; changing it changes the split
OMNIGLOT_N_CHARACTERS = 1623  # the reference counts the split fractions are defined on
OMNIGLOT_N_META_TRAIN = 1200
OMNIGLOT_N_VAL = 100
_CACHE_VERSION = 1  # bump when decoding changes, so that old arrays are not reused
_POOL_MIN_IMAGES = 2000  # below this, decoding in-process beats starting workers
_MAX_WORKERS = 8
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_OMNIGLOT_HALVES = ("images_background", "images_evaluation")
# Image modes read into each array mode: grayscale or 1-bit drawings for Omniglot ("L");
# colour, grayscale or CMYK photos (all in ImageNet) for mini-ImageNet ("RGB"). Others
# (transparency, 16-bit, palettes) are not images of these datasets.
_SOURCE_MODES = {"L": ("1", "L"), "RGB": ("RGB", "L", "CMYK")}
_MINI_PICKLE_NAMES = {"train": "train", "val": "validation", "test": "test"}
_MINI_LAYOUTS = (
    "learn2learn cache: mini-imagenet-cache-{train,validation,test}.pkl",
    "split folders: <split>/<wnid>/*.jpg",
    "zip archives: <split>.zip or <split>-*.zip holding <split>/<wnid>/*.jpg",
    "Ravi & Larochelle: images/*.jpg with <split>.csv (filename,label)",
)
_OMNIGLOT_LAYOUTS = (
    "zips: images_background.zip and images_evaluation.zip (upstream omniglot/python)",
    "folders: images_background/ and images_evaluation/ holding <Alphabet>/<characterNN>/*.png"
    " (torchvision's omniglot-py/)",
)

Ref = tuple[str, str]  # (zip archive or "" for a loose file, member name or file path)


class DataNotFoundError(FileNotFoundError):
    """No copy of the dataset was found (the message lists where we looked)."""


class UnknownLayoutError(ValueError):
    """A dataset folder exists but matches none of the accepted layouts."""


class CorruptImageError(ValueError):
    """An image (or archive) cannot be decoded or is not an image of the dataset (its mode);
    the message names the file."""


class SplitOverlapError(ValueError):
    """The same class or image file is in two splits; the message names both places."""


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """One split of a dataset as a dense tensor (equality is identity: tensors inside).

    images: uint8 ``[n_classes, n_per_class, C, H, W]`` on the CPU; class ``i`` is
    ``class_names[i]``.
    """

    dataset: str
    split: str
    images: torch.Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 5:
            raise ValueError(f"images must be uint8 [n, k, C, H, W], got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.class_names) != self.images.shape[0]:
            raise ValueError(f"{len(self.class_names)} class names for "
                             f"{self.images.shape[0]} classes")

    @property
    def n_classes(self) -> int:
        return self.images.shape[0]

    @property
    def n_per_class(self) -> int:
        return self.images.shape[1]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        c, h, w = self.images.shape[2:]
        return (c, h, w)


def default_cache_dir() -> Path:
    """``NEGLR_CACHE``, else ``$XDG_CACHE_HOME/neglr``, else ``~/.cache/neglr``."""
    if os.environ.get("NEGLR_CACHE"):
        return Path(os.environ["NEGLR_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "neglr"
    return Path.home() / ".cache" / "neglr"


def resolve_data_root(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the argument, else ``NEGLR_DATA``, else ``default_cache_dir()/"data"``."""
    return _resolve_root(data_root)[0]


def _resolve_root(data_root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data root and where it came from (for error messages)."""
    if data_root is not None:
        return Path(data_root).expanduser(), "the data_root argument"
    if os.environ.get("NEGLR_DATA"):
        return Path(os.environ["NEGLR_DATA"]).expanduser(), "the NEGLR_DATA environment variable"
    return default_cache_dir() / "data", "the default (NEGLR_DATA is not set)"


def load_split(
    dataset: str,
    split: str,
    data_root: str | os.PathLike[str] | None = None,
    *,
    image_size: int | None = None,
    rotations: bool = True,
    download: bool = True,
) -> ImageSplit:
    """Load one split as uint8 ``[n_classes, n_per_class, C, H, W]`` (see the module docstring).

    image_size: side length after resizing (default 28 for Omniglot, 84 for mini-ImageNet).
    rotations: Omniglot only, each 90-degree rotation of a character is its own class.
    download: Omniglot only, download with torchvision when no local copy is found.
    """
    _check_name(dataset, DATASETS, "dataset")
    _check_name(split, SPLITS, "split")
    size = DEFAULT_IMAGE_SIZE[dataset] if image_size is None else image_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"image_size must be a positive int or None, got {image_size!r}")
    root, origin = _resolve_root(data_root)
    if dataset == "omniglot":
        images, names = _load_omniglot(root, origin, split, size, download)
        if rotations:
            images, names = _with_rotations(images, names)
    else:
        images, names = _load_mini_imagenet(root, origin, split, size)
    return ImageSplit(dataset, split, images, tuple(names))


def load_splits(
    dataset: str, data_root: str | os.PathLike[str] | None = None, **kw: object
) -> dict[str, ImageSplit]:
    """All three splits, ``{"train": ..., "val": ..., "test": ...}``; `kw` go to `load_split`."""
    return {split: load_split(dataset, split, data_root, **kw) for split in SPLITS}  # type: ignore[arg-type]


def split_sizes(
    dataset: str, data_root: str | os.PathLike[str] | None = None, **kw: object
) -> dict[str, tuple[int, int]]:
    """``{split: (n_classes, n_per_class)}``; loads the splits (cheap once cached)."""
    splits = load_splits(dataset, data_root, **kw)
    return {name: (s.n_classes, s.n_per_class) for name, s in splits.items()}


def _check_name(value: str, valid: tuple[str, ...], what: str) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


def _with_rotations(images: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, list[str]]:
    """``[n, k, C, H, W]`` -> ``[4n, k, C, H, W]``; class ``4i + r`` is ``i`` turned by r*90 deg."""
    rotated = torch.stack([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)], dim=1)
    return rotated.flatten(0, 1), [f"{n}/rot{90 * r:03d}" for n in names for r in range(4)]


# ----------------------------------------------------------------------------- listing sources


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.lower().endswith(_IMAGE_SUFFIXES) and not base.startswith(".")


def _list_folder(root: Path, depth: int) -> dict[str, list[Ref]]:
    """Images exactly `depth` folders below `root`, keyed by those folder names joined by "/"."""
    out: dict[str, list[Ref]] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(dirpath).relative_to(root).parts
        images = sorted(f for f in files if _is_image(f))
        if len(rel) == depth and images:
            out["/".join(rel)] = [("", os.path.join(dirpath, f)) for f in images]
    return dict(sorted(out.items()))


def _list_zip(archive: Path, depth: int) -> dict[str, list[Ref]]:
    """Images in a zip keyed by their last `depth` parent folders (the inner prefix is free)."""
    st = archive.stat()  # the key makes a changed archive re-list
    return {k: list(v) for k, v in _list_zip_once(str(archive), depth, st.st_size,
                                                   st.st_mtime_ns).items()}


@functools.lru_cache(maxsize=8)
def _list_zip_once(archive: str, depth: int, _size: int, _mtime: int) -> dict[str, list[Ref]]:
    """`_list_zip`, memoised: loading three splits of one archive parses its index once."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = sorted(n for n in zf.namelist() if _is_image(n) and "__MACOSX" not in n)
    except (OSError, zipfile.BadZipFile) as err:
        raise CorruptImageError(f"cannot read zip archive {archive}: {err}. It is damaged or "
                                "truncated (an interrupted download or copy?): copy or "
                                "download it again") from err
    out: dict[str, list[Ref]] = {}
    for member in members:
        parts = member.split("/")
        if len(parts) > depth:
            out.setdefault("/".join(parts[-depth - 1 : -1]), []).append((archive, member))
    return dict(sorted(out.items()))


def _fingerprint(refs: Iterable[Ref], extra_files: Iterable[Path], settings: object) -> str:
    """Hash of the settings and of every source file's path, size and mtime."""
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, settings]).encode())
    files = [str(p) for p in extra_files]
    seen: set[str] = set()
    for archive, member in refs:
        path = archive or member
        if path not in seen:
            seen.add(path)
            files.append(path)
    for path in files:
        try:
            st = os.stat(path)
        except FileNotFoundError as err:
            raise DataNotFoundError(f"listed image or data file is missing: {path}") from err
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- decoding

_OPEN_ZIPS: dict[str, zipfile.ZipFile] = {}  # per process; emptied before forking workers


def _read(ref: Ref) -> bytes:
    archive, member = ref
    if not archive:
        return Path(member).read_bytes()
    zf = _OPEN_ZIPS.get(archive)
    if zf is None:
        zf = _OPEN_ZIPS[archive] = zipfile.ZipFile(archive)
    return zf.read(member)


def _close_zips() -> None:
    for zf in _OPEN_ZIPS.values():
        zf.close()
    _OPEN_ZIPS.clear()


def _describe(ref: Ref) -> str:
    archive, member = ref
    return f"{member} in archive {archive}" if archive else member


def _short(ref: Ref) -> str:
    """`_describe` without the machine's folders (for warnings, which notebooks show)."""
    archive, member = ref
    if archive:
        return f"{member} in {Path(archive).name}"
    return "/".join(Path(member).parts[-3:])


def _class_folder(refs: list[Ref]) -> str:
    """Where a class's images are: its folder, or its folder inside an archive."""
    archive, member = refs[0]
    folder = member.rsplit("/", 1)[0] if archive else os.path.dirname(member)
    return f"{folder}/ in archive {archive}" if archive else f"{folder}/"


def _fit(img: Image.Image, size: int) -> Image.Image:
    """Resize to ``size x size`` (antialiased) only when the image is larger than that."""
    if img.width > size or img.height > size:
        return img.resize((size, size), Image.Resampling.LANCZOS)
    return img


def _decode_class(refs: list[Ref], mode: str, size: int, invert: bool) -> np.ndarray:
    """Decode one class's images to uint8 ``[n, C, H, W]`` (runs in worker processes)."""
    arrays = []
    for ref in refs:
        try:
            with Image.open(io.BytesIO(_read(ref))) as img:
                img.load()  # decode now, so truncated files fail here with their name
                source_mode = img.mode
                arrays.append(np.asarray(_fit(img if img.mode == mode else img.convert(mode),
                                              size)))
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error, zipfile.BadZipFile,
                Image.DecompressionBombError) as err:
            raise CorruptImageError(f"cannot decode image {_describe(ref)}: {err}. The file "
                                    "is damaged or truncated: replace it") from err
        if source_mode not in _SOURCE_MODES[mode]:
            raise CorruptImageError(
                f"image {_describe(ref)} has mode {source_mode}; this dataset's images must "
                f"have mode {' or '.join(_SOURCE_MODES[mode])} (PIL). Replace it, or convert "
                f"it with PIL's Image.convert({mode!r}) if that is what it shows")
        if arrays[-1].shape != arrays[0].shape:
            raise ValueError(f"image {_describe(ref)} has shape {arrays[-1].shape} but "
                             f"{_describe(refs[0])} has {arrays[0].shape}; all images must "
                             f"share one size (pass a smaller image_size to resize them)")
    out = np.stack(arrays)
    out = out[:, None] if out.ndim == 3 else out.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(255 - out if invert else out)


def _worker_init() -> None:
    _OPEN_ZIPS.clear()  # drop handles inherited through fork; each worker opens its own


def _n_workers() -> int:
    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(_MAX_WORKERS, n_cpus or 1))


def _pool() -> ProcessPoolExecutor:
    """Worker processes; fork on Linux (fast start, no re-import of torch in the workers)."""
    method = "fork" if sys.platform == "linux" else "spawn"
    return ProcessPoolExecutor(_n_workers(), multiprocessing.get_context(method), _worker_init)


def _check_equal_counts(counts: dict[str, int], where: str,
                        folders: dict[str, str] | None = None) -> int:
    """The common number of images per class; a ValueError naming the odd classes (and, given
    ``folders``, where they are) otherwise."""
    if not counts:
        raise UnknownLayoutError(f"no images found in {where}")
    values = sorted(counts.values())
    common = max(set(values), key=values.count)
    odd = {name: n for name, n in counts.items() if n != common}
    if odd:
        folders = folders or {}
        shown = ", ".join(f"{name}: {n}" + (f" in {folders[name]}" if name in folders else "")
                          for name, n in list(odd.items())[:10])
        raise ValueError(f"classes in {where} must all have the same number of images (a dense "
                         f"tensor); most have {common}, but {len(odd)} differ ({shown}). "
                         "Restore the missing images, or remove the odd class")
    return common


# Byte-identical images across splits that the standard mini-ImageNet split holds (ImageNet's
# own duplicates: 7 in train, 6 in val, 1 in test); more than these are warned about.
KNOWN_DUPLICATES = 7


def _check_disjoint(split: str, classes: dict[str, list[Ref]],
                    others: dict[str, dict[str, list[Ref]]], where: str) -> None:
    """`SplitOverlapError` when a class or an image file of `split` is also in another split.

    Images are identified by their file name (mini-ImageNet's names carry the class and an
    index); byte-identical images under different names only warn: ImageNet has a few
    duplicates across classes, and the standard mini-ImageNet split keeps 7 of them.
    """
    files = {ref[1].rsplit("/", 1)[-1]: ref for refs in classes.values() for ref in refs}
    digests = {hashlib.blake2b(_read(ref), digest_size=16).digest(): ref
               for refs in classes.values() for ref in refs}
    copies = []
    for other, other_classes in others.items():
        for name, refs in other_classes.items():
            if name in classes:
                raise SplitOverlapError(
                    f"class {name} of {where} is in split {split} "
                    f"({_class_folder(classes[name])}) and in split {other} "
                    f"({_class_folder(refs)}); each class must be in one split only")
            for ref in refs:
                mine = files.get(ref[1].rsplit("/", 1)[-1])
                if mine is not None:
                    raise SplitOverlapError(
                        f"image {_describe(mine)} of {where} split {split} is also in split "
                        f"{other} as {_describe(ref)}; each image must be in one split only")
                twin = digests.get(hashlib.blake2b(_read(ref), digest_size=16).digest())
                if twin is not None:
                    copies.append((twin, other, ref))
    _close_zips()
    if len(copies) > KNOWN_DUPLICATES:
        twin, other, ref = copies[0]
        warnings.warn(f"{len(copies)} image(s) of {where} split {split} are byte-identical to "
                      f"images of other splits, e.g. {_short(twin)} and {_short(ref)} "
                      f"({other}). A few are ImageNet's own duplicates (the standard split "
                      "has 7); many mean a copying mistake", stacklevel=2)


Allocate = Callable[[tuple[int, ...]], np.ndarray]
Producer = Callable[[Allocate], list[str]]  # fills the array it allocates; returns class names


def _decode_refs(names: list[str], classes: list[list[Ref]], mode: str, size: int,
                 invert: bool, desc: str) -> Producer:
    """A producer that decodes `classes` (one list of images each) in worker processes."""

    def produce(allocate: Allocate) -> list[str]:
        n_images = sum(len(refs) for refs in classes)
        out: np.ndarray | None = None
        _close_zips()  # no open handles may be shared with forked workers
        with warnings.catch_warnings():
            # Python 3.12 warns on fork in a threaded process; workers only run PIL and numpy.
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            pool = _pool() if n_images >= _POOL_MIN_IMAGES and _n_workers() > 1 else None
            try:
                args = [(refs, mode, size, invert) for refs in classes]
                results = (pool.map(_decode_class, *zip(*args, strict=True)) if pool
                           else (_decode_class(*a) for a in args))
                with tqdm(total=n_images, desc=desc, unit="img", leave=False,
                          disable=pool is None) as bar:
                    for i, arr in enumerate(results):
                        if out is None:
                            out = allocate((len(classes), *arr.shape))
                        if arr.shape != out.shape[1:]:
                            raise ValueError(
                                f"{desc}: class {names[i]} (e.g. {_describe(classes[i][0])}) "
                                f"decodes to {arr.shape}, {names[0]} (e.g. "
                                f"{_describe(classes[0][0])}) to {out.shape[1:]}; images must "
                                "share one size (pass a smaller image_size)")
                        out[i] = arr
                        bar.update(len(arr))
            finally:
                if pool is not None:
                    pool.shutdown(cancel_futures=True)
                _close_zips()
        return names

    return produce


# ----------------------------------------------------------------------------- array cache


def _cached(key: str, fingerprint: str, produce: Producer) -> tuple[np.ndarray, list[str]]:
    """``arrays/<key>.npy`` and its class names if the fingerprint matches, else produced anew.

    Written atomically (temporary file + `os.replace`, the array before its JSON); loaded as a
    copy-on-write memory map, so tensors are writable without reading the file up front.
    """
    folder = default_cache_dir() / "arrays"
    npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
    try:
        cached = json.loads(meta.read_text())
        if cached["fingerprint"] == fingerprint:
            return np.load(npy, mmap_mode="c"), cached["class_names"]
    except (OSError, ValueError, KeyError):  # no cache, or a partial/older one: rebuild it
        pass
    arrays: list[np.ndarray] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}-", suffix=".npy")
        os.close(fd)
    except OSError as err:
        warnings.warn(f"cannot write the array cache in {folder} ({err}); decoding in memory. "
                      f"Set NEGLR_CACHE to a writable folder to cache.", stacklevel=4)

        def in_memory(shape: tuple[int, ...]) -> np.ndarray:
            arrays.append(np.empty(shape, np.uint8))
            return arrays[0]

        names = produce(in_memory)
        return arrays[0], names

    def on_disk(shape: tuple[int, ...]) -> np.ndarray:
        arrays.append(np.lib.format.open_memmap(tmp, "w+", np.uint8, shape))
        return arrays[0]

    try:
        names = produce(on_disk)
        arrays.pop().flush()
        os.replace(tmp, npy)
        _write_atomic(meta, json.dumps({"fingerprint": fingerprint, "class_names": names}))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return np.load(npy, mmap_mode="c"), names


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    """Where one split's images are: what to fingerprint, and a listing run on a cache miss.

    Zip archives are fingerprinted by their own size and mtime, so a cached load never reads
    their (slow to parse) member lists; loose images are fingerprinted one by one.
    """

    files: tuple[Path, ...]  # archives, csv or pickle files
    refs: tuple[Ref, ...]  # loose image files
    list_classes: Callable[[], dict[str, list[Ref]]]
    pickle: Path | None = None


def _folder_or_zips(folder: Path, archives: list[Path], depth: int) -> _Source | None:
    """Images `depth` levels below `folder` if it has any, else in `archives` (merged)."""
    if folder.is_dir() and (listing := _list_folder(folder, depth)):
        refs = tuple(r for refs in listing.values() for r in refs)
        return _Source((), refs, lambda: listing)
    if not archives:
        return None

    def list_archives() -> dict[str, list[Ref]]:
        classes: dict[str, list[Ref]] = {}
        for archive in archives:
            for name, refs in _list_zip(archive, depth).items():
                classes.setdefault(name, []).extend(refs)
        if not classes:
            raise UnknownLayoutError(f"no images in {', '.join(map(str, archives))}")
        return {k: sorted(v, key=lambda r: r[1]) for k, v in sorted(classes.items())}

    return _Source(tuple(archives), (), list_archives)


# ----------------------------------------------------------------------------- Omniglot


def _find_omniglot(root: Path) -> tuple[list[_Source] | None, list[Path], list[str]]:
    """Both halves from the first candidate folder holding them; folders tried; partial finds."""
    candidates = [root / "omniglot", root / "omniglot" / "omniglot-py", root / "omniglot-py"]
    partial = []
    for folder in candidates:
        halves = [_folder_or_zips(folder / half, [p for p in [folder / f"{half}.zip"]
                                                  if p.is_file()], 2)
                  for half in _OMNIGLOT_HALVES]
        if all(h is not None for h in halves):
            return halves, candidates, partial  # type: ignore[return-value]
        # A folder holding no file at all (e.g. left by a failed download) is not a
        # partial copy: the data is simply not there.
        if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
            found = [name for name, h in zip(_OMNIGLOT_HALVES, halves, strict=True) if h]
            partial.append(f"{folder} (found: {', '.join(found) or 'neither half'})")
    return None, candidates, partial


def _download_omniglot() -> Exception | None:
    """Download Omniglot with torchvision into the default data root; the error if it fails."""
    from torchvision.datasets import Omniglot

    try:
        for background in (True, False):
            Omniglot(str(default_cache_dir() / "data" / "omniglot"), background, download=True)
    except (OSError, RuntimeError, ValueError) as err:
        return err
    return None


def _omniglot_split_indices(n: int, split: str) -> np.ndarray:
    """Sorted character indices of `split` (module docstring); proportional for n != 1623."""
    n_meta_train = round(n * OMNIGLOT_N_META_TRAIN / OMNIGLOT_N_CHARACTERS)
    n_val = max(1, round(n * OMNIGLOT_N_VAL / OMNIGLOT_N_CHARACTERS))
    if not 0 < n_meta_train - n_val < n_meta_train < n:
        raise ValueError(f"Omniglot copy has {n} characters, too few for a train/val/test split")
    perm = np.random.default_rng(OMNIGLOT_SPLIT_SEED).permutation(n)
    bounds = {"train": (0, n_meta_train - n_val), "val": (n_meta_train - n_val, n_meta_train),
              "test": (n_meta_train, n)}[split]
    return np.sort(perm[bounds[0] : bounds[1]])


def _omniglot_producer(halves: list[_Source], split: str, size: int) -> Producer:
    def produce(allocate: Allocate) -> list[str]:
        characters = [(i, name, refs) for i, half in enumerate(halves)
                      for name, refs in half.list_classes().items()]
        characters.sort(key=lambda c: (c[0], *c[1].split("/")))
        _check_unique_characters(characters)
        _check_equal_counts({name: len(refs) for _, name, refs in characters}, "Omniglot",
                            {name: _class_folder(refs) for _, name, refs in characters})
        chosen = [characters[i] for i in _omniglot_split_indices(len(characters), split)]
        return _decode_refs([name for _, name, _ in chosen], [refs for _, _, refs in chosen],
                            "L", size, True, f"decoding omniglot {split}")(allocate)

    return produce


def _check_unique_characters(characters: list[tuple[int, str, list[Ref]]]) -> None:
    """`SplitOverlapError` when a character is in both halves: it would be two classes,
    possibly in two splits (the splits are drawn from one permutation of all characters)."""
    seen: dict[str, list[Ref]] = {}
    for _, name, refs in characters:
        if name in seen:
            raise SplitOverlapError(
                f"Omniglot character {name} is in {_class_folder(seen[name])} and in "
                f"{_class_folder(refs)}; images_background and images_evaluation must hold "
                "different alphabets (keep one copy)")
        seen[name] = refs


def _load_omniglot(root: Path, origin: str, split: str, size: int,
                   download: bool) -> tuple[torch.Tensor, list[str]]:
    halves, looked, partial = _find_omniglot(root)
    download_error: Exception | None = None
    if halves is None and not partial:
        default_root = default_cache_dir() / "data"
        if download and default_root != root:
            halves, more, partial = _find_omniglot(default_root)
            looked += more
        if halves is None and not partial and download:
            download_error = _download_omniglot()
            halves, _, partial = _find_omniglot(default_root)
    if halves is None and partial:
        raise UnknownLayoutError(
            "Omniglot folder found but incomplete or in an unknown layout: "
            + "; ".join(partial) + ". Accepted layouts (both halves needed): "
            + "; ".join(_OMNIGLOT_LAYOUTS))
    if halves is None:
        why = (f"The download failed: {download_error!r}. " if download_error
               else "Downloading is off (download=False). " if not download else "")
        raise DataNotFoundError(
            f"No Omniglot data found. Data root {root} (from {origin}); looked in: "
            + ", ".join(map(str, looked)) + f". {why}Accepted layouts: "
            + "; ".join(_OMNIGLOT_LAYOUTS) + ". Get images_background.zip and "
            "images_evaluation.zip from https://github.com/brendenlake/omniglot (python/) into "
            "<data root>/omniglot/, then set NEGLR_DATA=<data root> or pass --data-root / "
            "data_root; or call with download=True where the network is reachable.")
    fingerprint = _fingerprint([r for h in halves for r in h.refs], [f for h in halves for f in
                               h.files], ["omniglot", split, size, OMNIGLOT_SPLIT_SEED])
    array, names = _cached(f"omniglot-{split}-{size}", fingerprint,
                           _omniglot_producer(halves, split, size))
    return torch.from_numpy(array), names


# ----------------------------------------------------------------------------- mini-ImageNet


def _mini_source(folder: Path, split: str) -> _Source | None:
    """The first layout in `folder` that holds `split` (order: pickle, folders, zips, csv)."""
    pkl = folder / f"mini-imagenet-cache-{_MINI_PICKLE_NAMES[split]}.pkl"
    if pkl.is_file():
        return _Source((pkl,), (), dict, pkl)
    archives = sorted({*folder.glob(f"{split}.zip"), *folder.glob(f"{split}-*.zip")})
    if source := _folder_or_zips(folder / split, archives, 1):
        return source
    table = folder / f"{split}.csv"
    if not (table.is_file() and (folder / "images").is_dir()):
        return None
    classes: dict[str, list[Ref]] = {}
    with open(table, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[:2] != ["filename", "label"]:
                classes.setdefault(row[1], []).append(("", str(folder / "images" / row[0])))
    classes = dict(sorted(classes.items()))
    return _Source((table,), tuple(r for refs in classes.values() for r in refs), lambda: classes)
def _decode_pickle(pkl: Path, size: int) -> Producer:
    """A producer reading a learn2learn ``mini-imagenet-cache-*.pkl`` (trusted files only)."""

    def produce(allocate: Allocate) -> list[str]:
        with open(pkl, "rb") as f:
            data = pickle.load(f)  # noqa: S301 - the user's own dataset file
        try:
            images, class_dict = np.asarray(data["image_data"]), data["class_dict"]
        except (KeyError, TypeError, IndexError) as err:
            raise UnknownLayoutError(f"{pkl} is not a learn2learn mini-ImageNet cache (a dict "
                                     f"with 'image_data' and 'class_dict')") from err
        names = sorted(class_dict)
        k = _check_equal_counts({n: len(class_dict[n]) for n in names}, str(pkl))
        first = np.asarray(_fit(Image.fromarray(images[class_dict[names[0]][0]]), size))
        out = allocate((len(names), k, first.shape[2], first.shape[0], first.shape[1]))
        for c, name in enumerate(names):
            for j, index in enumerate(class_dict[name]):
                image = images[index]
                if image.shape[0] > size or image.shape[1] > size:
                    image = np.asarray(_fit(Image.fromarray(image), size))
                out[c, j] = image.transpose(2, 0, 1)
        return names

    return produce


def _mini_not_found(root: Path, origin: str, split: str, looked: list[Path]) -> DataNotFoundError:
    return DataNotFoundError(
        f"No mini-ImageNet '{split}' split found. Data root {root} (from {origin}); looked in: "
        + ", ".join(map(str, looked)) + ". Accepted layouts: " + "; ".join(_MINI_LAYOUTS)
        + ". mini-ImageNet cannot be downloaded automatically (ImageNet terms of access). "
        "Usual sources: the Ravi & Larochelle split files (train/val/test.csv, "
        "github.com/twitter/meta-learning-lstm) with the ILSVRC-2012 images, prepared by the "
        "MAML repository's script (github.com/cbfinn/maml, data/miniImagenet/proc_images.py), "
        "or learn2learn's mini-imagenet-cache-*.pkl files. Put them in <data root>/mini-imagenet/ "
        "and set NEGLR_DATA=<data root> or pass --data-root / data_root.")


def _load_mini_imagenet(root: Path, origin: str, split: str,
                        size: int) -> tuple[torch.Tensor, list[str]]:
    named = root / "mini-imagenet"
    looked = [named, root]
    folder = named
    source = _mini_source(named, split) if named.is_dir() else None
    if source is None and root.is_dir():
        folder, source = root, _mini_source(root, split)
    if source is None:
        if named.is_dir():
            entries = sorted(p.name for p in named.iterdir())
            raise UnknownLayoutError(
                f"{named} exists but holds no mini-ImageNet '{split}' split in an accepted "
                f"layout: " + "; ".join(_MINI_LAYOUTS)
                + f". Its entries: {', '.join(entries[:20]) or '(empty)'}")
        raise _mini_not_found(root, origin, split, looked)
    fingerprint = _fingerprint(source.refs, source.files, ["mini-imagenet", split, size])
    if source.pickle is not None:
        produce = _decode_pickle(source.pickle, size)
    else:
        others = {s: _mini_source(folder, s) for s in SPLITS if s != split}
        produce = _mini_producer(source, split, size,
                                 {s: o for s, o in others.items() if o is not None})
    array, names = _cached(f"mini-imagenet-{split}-{size}", fingerprint, produce)
    return torch.from_numpy(array), names


def _mini_producer(source: _Source, split: str, size: int,
                   others: dict[str, _Source]) -> Producer:
    """Decodes `source`, after checking it against the `others` splits (cache builds only)."""

    def produce(allocate: Allocate) -> list[str]:
        classes = source.list_classes()
        _check_equal_counts({n: len(r) for n, r in classes.items()}, f"mini-ImageNet {split}",
                            {n: _class_folder(r) for n, r in classes.items()})
        _check_disjoint(split, classes, {s: o.list_classes() for s, o in others.items()},
                        "mini-ImageNet")
        return _decode_refs(list(classes), list(classes.values()), "RGB", size, False,
                            f"decoding mini-imagenet {split}")(allocate)

    return produce
