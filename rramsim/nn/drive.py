"""DRIVE retinal-vessel segmentation as the source study prepares it: loader, pre-processing,
training patches and augmentation, sliding-window prediction, field-of-view metrics.

DRIVE (Staal et al., "Ridge-based vessel segmentation in color images of the retina", IEEE TMI
23(4), 2004) ships 40 colour fundus images of 565 x 584 pixels: ``training/`` (21-40) and ``test/``
(01-20), each with ``images/NN_<split>.tif`` (RGB TIFF), ``1st_manual/NN_manual1.gif`` (the
first observer's vessel annotation) and ``mask/NN_<split>_mask.gif`` (the field of view, FOV).

Every step follows the study's code (``UNET_DRIVE_TO`` in the public repository of arXiv
2311.07164: ``lib/pre_processing.py``, ``lib/datasetV2.py``, ``lib/dataset.py``,
``lib/extract_patches.py``, ``lib/metrics.py``, ``config.py``):

* :func:`preprocess`: grey ``0.299 R + 0.587 G + 0.114 B``, per-image min-max to [0, 255], CLAHE
  (clip limit 2.0, 8 x 8 tiles, OpenCV's), gamma 1.2 by a 256-entry table, then / 255;
* :func:`fov_centred_patches`: 64 x 64 training patches whose centre lies in the FOV;
  :func:`split_validation` holds out the last 10 %;
* :func:`augment`: every training step crops each patch to 48 x 48 at random and flips it left-right
  and up-down (each with probability 1/2) and rotates it by a random multiple of 90 degrees;
* :func:`sliding_window_predict`: 96 x 96 windows at stride 16 over the image zero-padded at the
  bottom and right to fit the stride, the vessel probabilities averaged where windows overlap;
* :func:`segmentation_metrics`: ROC-AUC, PR-AUC (trapezoidal area under the precision-recall curve,
  the study's), F1 at threshold 0.5, inside the FOV.

Changed from this project's earlier reading: the input was the green channel scaled to [0, 1],
training patches were 64 x 64 anywhere in the image without augmentation, the test windows 64 x 64
at stride 32, and PR-AUC the average precision (kept as ``average_precision``).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rramsim.errors import DataError

_SPLITS = {"training": "training", "test": "test"}
_IMAGE = re.compile(r"^(\d+)_(training|test)\.tiff?$", re.IGNORECASE)

#: The study's patch sizes: training patches, training crops, test windows, test stride.
TRAIN_PATCH, TRAIN_CROP, TEST_WINDOW, TEST_STRIDE = 64, 48, 96, 16


@dataclass(frozen=True, eq=False)
class DriveSplit:
    """One split of DRIVE.

    Attributes
    ----------
    ids : tuple of int
        Image numbers.
    images : ndarray, (N, H, W) float32
        The pre-processed grey images in [0, 1] (:func:`preprocess`).
    vessels : ndarray, (N, H, W) bool
        Manual annotation (True = vessel).
    fov : ndarray, (N, H, W) bool
        Field of view.
    """

    ids: tuple
    images: np.ndarray
    vessels: np.ndarray
    fov: np.ndarray


def _read(path: Path, *, rgb: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if rgb:
                arr = np.asarray(im.convert("RGB"))
            else:
                arr = np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read DRIVE file {path}: {exc}") from exc
    return arr


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """The study's pre-processing of one RGB image ``(H, W, 3)`` (0-255): a float32 ``(H, W)`` image
    in [0, 1].

    Steps: grey ``0.299 R + 0.587 G + 0.114 B``; min-max to [0, 255] (the study first standardises
    over the whole split, then min-maxes each image: the same result, an affine map does not change
    a min-max); truncation to 8 bits (``uint8`` conversion, as the study's); CLAHE with clip limit
    2.0 on 8 x 8 tiles (OpenCV's ``createCLAHE``, the study's); gamma 1.2 through the table
    ``uint8(255 (i / 255)^(1 / 1.2))``; division by 255.

    Raises
    ------
    DataError
        Not ``(H, W, 3)``, or a constant image (no contrast to normalise).
    """
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DataError(f"preprocess needs an (H, W, 3) RGB image, got shape {rgb.shape}")
    rgb = rgb.astype(np.float64)
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    lo, hi = float(grey.min()), float(grey.max())
    if not hi > lo:
        raise DataError("preprocess: the image is constant (no contrast to normalise)")
    norm = (grey - lo) / (hi - lo) * 255.0
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    eq = clahe.apply(norm.astype(np.uint8))
    table = ((np.arange(256) / 255.0) ** (1.0 / 1.2) * 255).astype(np.uint8)
    return (table[eq].astype(np.float64) / 255.0).astype(np.float32)


def load_drive_split(directory, split: str) -> DriveSplit:
    """Read ``directory/<split>/{images,1st_manual,mask}`` (split ``"training"`` or ``"test"``) and
    pre-process the images (:func:`preprocess`).

    Raises
    ------
    DataError
        Missing folder or file (named), unreadable image, or sizes that do not match.
    """
    if split not in _SPLITS:
        raise DataError(f"DRIVE split must be 'training' or 'test', got {split!r}")
    root = Path(directory) / split
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise DataError(f"DRIVE folder {img_dir} does not exist")
    files = sorted((int(m.group(1)), p) for p in img_dir.iterdir()
                   if (m := _IMAGE.match(p.name)) and m.group(2).lower() == split)
    if not files:
        raise DataError(f"no DRIVE images 'NN_{split}.tif' in {img_dir}")
    ids, imgs, ves, fovs = [], [], [], []
    for i, path in files:
        rgb = _read(path, rgb=True)
        manual = root / "1st_manual" / f"{i:02d}_manual1.gif"
        mask = root / "mask" / f"{i:02d}_{split}_mask.gif"
        for p in (manual, mask):
            if not p.is_file():
                raise DataError(f"missing DRIVE file {p} (for image {path.name})")
        v = _read(manual, rgb=False) > 127
        f = _read(mask, rgb=False) > 127
        if v.shape != rgb.shape[:2] or f.shape != rgb.shape[:2]:
            raise DataError(f"DRIVE image {path} is {rgb.shape[:2]}, its annotation {v.shape} and "
                            f"mask {f.shape}")
        if imgs and rgb.shape[:2] != imgs[0].shape:
            raise DataError(f"DRIVE image {path} is {rgb.shape[:2]}, the others {imgs[0].shape}")
        try:
            imgs.append(preprocess(rgb))
        except DataError as exc:
            raise DataError(f"DRIVE image {path}: {exc}") from exc
        ids.append(i)
        ves.append(v)
        fovs.append(f)
    return DriveSplit(tuple(ids), np.stack(imgs), np.stack(ves), np.stack(fovs))


def fov_centred_patches(split: DriveSplit, n: int, *, size: int = TRAIN_PATCH,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training patches ``size x size`` whose centre pixel lies in the field of view: inputs
    ``(n, 1, size, size)`` float32 and labels ``(n, size, size)`` int64 (1 = vessel).

    As the study's ``create_patch_idx`` (``inside_FOV='center'``): draw an image uniformly and a
    centre ``(y, x)`` uniformly with ``size/2 <= y <= H - size/2`` (likewise x), keep it if
    ``fov[y, x]``, else draw again; the patch is ``[y - size/2, y + size/2)`` on each axis.
    """
    n_img, h, w = split.images.shape
    half = size // 2
    if size < 2 or size % 2 or size > h or size > w:
        raise DataError(f"patch size {size} must be even and at most the image size ({h} x {w})")
    if int(n) != n or n < 1:
        raise DataError(f"number of patches must be an integer >= 1, got {n!r}")
    inner = split.fov[:, half : h - half + 1, half : w - half + 1]
    if not inner.any():
        raise DataError("no pixel of the field of view can centre a training patch")
    picked: list[tuple[int, int, int]] = []
    while len(picked) < n:
        m = 2 * (n - len(picked)) + 16
        k = rng.integers(0, n_img, m)
        yc = rng.integers(half, h - half + 1, m)
        xc = rng.integers(half, w - half + 1, m)
        ok = split.fov[k, yc, xc]
        picked += list(zip(k[ok], yc[ok], xc[ok], strict=True))[: n - len(picked)]
    x = np.empty((n, 1, size, size), np.float32)
    y = np.empty((n, size, size), np.int64)
    for t, (k, yc, xc) in enumerate(picked):
        x[t, 0] = split.images[k, yc - half : yc + half, xc - half : xc + half]
        y[t] = split.vessels[k, yc - half : yc + half, xc - half : xc + half]
    return x, y


def random_patches(split: DriveSplit, n: int, *, size: int = TRAIN_PATCH,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random ``size x size`` patches anywhere in the images (image and position uniform):
    inputs ``(n, 1, size, size)`` and per-pixel labels ``(n, size, size)``. For evaluation samples
    of the circuit studies; training uses :func:`fov_centred_patches`."""
    _, h, w = split.images.shape
    if size > h or size > w:
        raise DataError(f"patch size {size} larger than the images ({h} x {w})")
    k = rng.integers(0, len(split.images), n)
    r = rng.integers(0, h - size + 1, n)
    c = rng.integers(0, w - size + 1, n)
    x = np.empty((n, 1, size, size), np.float32)
    y = np.empty((n, size, size), np.int64)
    for t in range(n):
        x[t, 0] = split.images[k[t], r[t] : r[t] + size, c[t] : c[t] + size]
        y[t] = split.vessels[k[t], r[t] : r[t] + size, c[t] : c[t] + size]
    return x, y


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float = 0.1):
    """``(x_train, y_train, x_val, y_val)``: the last ``fraction`` of the patches held out (the
    study's ``val_ratio``; the first ``floor((1 - fraction) n)`` train)."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"validation fraction must be in [0, 1), got {fraction!r}")
    cut = int(np.floor((1.0 - fraction) * len(x)))
    if cut < 1:
        raise DataError(f"{len(x)} patches leave none for training at validation fraction {fraction}")
    return x[:cut], y[:cut], x[cut:], y[cut:]


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
            crop: int = TRAIN_CROP) -> tuple[np.ndarray, np.ndarray]:
    """The study's training augmentation, per sample: a random ``crop x crop`` window, a left-right
    flip and an up-down flip (each with probability 1/2), then a rotation by ``90 r`` degrees,
    ``r`` uniform in {0, 1, 2, 3}; inputs ``(B, 1, H, W)``, labels ``(B, H, W)``."""
    b, _, h, w = x.shape
    if crop > h or crop > w:
        raise DataError(f"crop {crop} larger than the patches ({h} x {w})")
    r0 = rng.integers(0, h - crop + 1, b)
    c0 = rng.integers(0, w - crop + 1, b)
    flips = rng.random((b, 2)) < 0.5
    rot = rng.integers(0, 4, b)
    xo = np.empty((b, x.shape[1], crop, crop), x.dtype)
    yo = np.empty((b, crop, crop), y.dtype)
    for t in range(b):
        xi = x[t, :, r0[t] : r0[t] + crop, c0[t] : c0[t] + crop]
        yi = y[t, r0[t] : r0[t] + crop, c0[t] : c0[t] + crop]
        if flips[t, 0]:
            xi, yi = xi[:, :, ::-1], yi[:, ::-1]
        if flips[t, 1]:
            xi, yi = xi[:, ::-1, :], yi[::-1, :]
        xo[t] = np.rot90(xi, rot[t], axes=(1, 2))
        yo[t] = np.rot90(yi, rot[t], axes=(0, 1))
    return xo, yo


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Start positions of the study's test windows on one axis: ``0, stride, ...`` over the side
    zero-padded up to ``size + stride * m`` (see :func:`padded_length`)."""
    if size < 1 or stride < 1:
        raise DataError(f"window size and stride must be >= 1, got {size}, {stride}")
    if size > length:
        raise DataError(f"window {size} longer than the image side {length}")
    return list(range(0, padded_length(length, size, stride) - size + 1, stride))


def padded_length(length: int, size: int, stride: int) -> int:
    """The side after the study's ``paint_border_overlap``: ``length`` plus ``stride - leftover``
    zeros when ``leftover = (length - size) % stride`` is not 0."""
    left = (length - size) % stride
    return length + (stride - left if left else 0)


@contextlib.contextmanager
def at_input_size(net, hw: tuple[int, int]):
    """``net``'s layers as a network of spatial input size ``hw`` (fully convolutional networks
    run at any size their poolings divide); the original bindings are restored afterwards."""
    from rramsim.nn.layers import Concat, Stash
    from rramsim.nn.network import Network

    if tuple(net.input_shape[1:]) == tuple(hw):
        yield net
        return
    saved = [(la, la.store, getattr(la, "skip_shape", None)) for la in net.layers
             if isinstance(la, (Stash, Concat))]
    twin = Network(net.layers, input_shape=(net.input_shape[0], *hw), name=net.name)
    twin.dtype = net.dtype
    try:
        yield twin
    finally:
        for la, store, skip in saved:
            la.store = store
            if isinstance(la, Concat):
                la.skip_shape = skip
        for i, la in enumerate(net.weight_layers):
            la.index, la.needs_input_grad = i, i > 0


def sliding_window_predict(net, image: np.ndarray, *, window: int = TEST_WINDOW,
                           stride: int = TEST_STRIDE, matmul=None, batch_size: int = 64
                           ) -> np.ndarray:
    """Vessel probability map ``(H, W)`` of one image from overlapping windows, as the study tests.

    The image is zero-padded at the bottom and right to fit the stride (:func:`padded_length`),
    cut into ``window x window`` windows at ``stride`` (row by row), run through the network in
    batches of ``batch_size`` (the per-batch quantisers see one batch at a time), softmaxed over
    the 2 classes; the class-1 probabilities are summed per pixel and divided by the number of
    windows covering it, and the map is cropped back to ``(H, W)``.
    """
    from rramsim.nn.network import softmax

    image = np.asarray(image)
    if image.ndim != 2:
        raise DataError(f"sliding_window_predict needs one (H, W) image, got shape {image.shape}")
    h, w = image.shape
    rows, cols = window_starts(h, window, stride), window_starts(w, window, stride)
    hp, wp = rows[-1] + window, cols[-1] + window
    padded = np.zeros((hp, wp), dtype=net.dtype)
    padded[:h, :w] = image
    pos = [(r, c) for r in rows for c in cols]
    acc = np.zeros((hp, wp))
    with at_input_size(net, (window, window)) as sized:
        for s in range(0, len(pos), batch_size):
            chunk = pos[s : s + batch_size]
            x = np.stack([padded[r : r + window, c : c + window] for r, c in chunk])[:, None]
            p = softmax(sized.forward(x, matmul=matmul), axis=1)[:, 1]
            for (r, c), q in zip(chunk, p, strict=True):
                acc[r : r + window, c : c + window] += q
    cnt = _coverage(len(rows), len(cols), window, stride)
    return (acc / cnt)[:h, :w]


def _coverage(n_rows: int, n_cols: int, window: int, stride: int) -> np.ndarray:
    """How many windows cover each pixel of the padded image (separable: rows times columns)."""
    def axis(n):
        c = np.zeros((n - 1) * stride + window)
        for i in range(n):
            c[i * stride : i * stride + window] += 1
        return c

    return np.outer(axis(n_rows), axis(n_cols))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative, ties counting one half (Mann-Whitney U / (n_pos n_neg)); NaN without both classes."""
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds in
    decreasing order (tied scores form one threshold); NaN without positives."""
    curve = _pr_points(scores, labels)
    if curve is None:
        return float("nan")
    precision, recall = curve
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _pr_points(scores, labels):
    """Precision and recall at every distinct threshold, decreasing (None without positives)."""
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # end of every block of equal scores
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return tp / (tp + fp), tp / n_pos


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve by the trapezoidal rule, as the study's code computes
    it (scikit-learn's ``precision_recall_curve`` and ``numpy.trapz``): the points of the distinct
    thresholds plus the end point (recall 0, precision 1); NaN without positives."""
    curve = _pr_points(scores, labels)
    if curve is None:
        return float("nan")
    precision, recall = curve
    r, p = np.r_[0.0, recall], np.r_[1.0, precision]
    return float(np.sum(np.diff(r) * (p[1:] + p[:-1]) / 2))


def segmentation_metrics(prob: np.ndarray, vessels: np.ndarray, fov: np.ndarray, *,
                         threshold: float = 0.5) -> dict:
    """ROC-AUC, PR-AUC (trapezoidal, :func:`pr_auc`), average precision, F1 and accuracy inside the
    field of view.

    ``prob`` is the vessel probability per pixel; F1 and accuracy threshold it at ``threshold``
    (predicted vessel where ``prob >= threshold``). All arrays of the same shape (any number of
    images).
    """
    prob, vessels, fov = np.asarray(prob), np.asarray(vessels, bool), np.asarray(fov, bool)
    if prob.shape != vessels.shape or prob.shape != fov.shape:
        raise DataError(f"shapes differ: prob {prob.shape}, vessels {vessels.shape}, fov {fov.shape}")
    s, y = prob[fov], vessels[fov]
    pred = s >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else float("nan")
    return {"roc_auc": roc_auc(s, y), "pr_auc": pr_auc(s, y),
            "average_precision": average_precision(s, y), "f1": f1,
            "accuracy": float(np.mean(pred == y)) if y.size else float("nan"),
            "pixels": int(y.size), "threshold": float(threshold)}
