"""DRIVE retinal-vessel segmentation: loader, training patches, sliding-window prediction, metrics.

DRIVE (Staal et al., "Ridge-based vessel segmentation in color images of the retina", IEEE TMI
23(4), 2004) ships 40 colour fundus images of 565 x 584 pixels: ``training/`` (21-40) and ``test/``
(01-20), each with ``images/NN_<split>.tif`` (RGB TIFF), ``1st_manual/NN_manual1.gif`` (the
first observer's vessel annotation) and ``mask/NN_<split>_mask.gif`` (the field of view, FOV).
The source study segments it with a U-Net on 64 x 64 patches and 6-bit inputs (arXiv 2311.07164).

Input channel: the green channel scaled to [0, 1] (the channel with the most vessel contrast,
the usual choice for DRIVE; this project's choice, the study does not say). Metrics are computed
over the pixels inside the FOV only, as is customary for DRIVE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rramsim.errors import DataError

_SPLITS = {"training": "training", "test": "test"}
_IMAGE = re.compile(r"^(\d+)_(training|test)\.tiff?$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class DriveSplit:
    """One split of DRIVE.

    Attributes
    ----------
    ids : tuple of int
        Image numbers.
    images : ndarray, (N, H, W) float
        Green channel in [0, 1].
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


def load_drive_split(directory, split: str) -> DriveSplit:
    """Read ``directory/<split>/{images,1st_manual,mask}`` (split ``"training"`` or ``"test"``).

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
        ids.append(i)
        imgs.append(rgb[..., 1].astype(np.float32) / 255.0)
        ves.append(v)
        fovs.append(f)
    return DriveSplit(tuple(ids), np.stack(imgs), np.stack(ves), np.stack(fovs))


def random_patches(split: DriveSplit, n: int, *, size: int = 64,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random ``size x size`` training patches: inputs ``(n, 1, size, size)`` and per-pixel
    labels ``(n, size, size)`` (1 = vessel), positions uniform over each image, images uniform."""
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


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Start positions of windows of ``size`` covering ``[0, length)`` with step ``stride`` (the last
    window flush with the end)."""
    if size > length:
        raise DataError(f"window {size} longer than the image side {length}")
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def sliding_window_predict(net, image: np.ndarray, *, stride: int | None = None,
                           matmul=None, batch_size: int = 16) -> np.ndarray:
    """Vessel probability map ``(H, W)`` of one image from overlapping patches.

    Patches of the network's input size are taken at :func:`window_starts` positions (``stride``
    defaults to half the patch), run in batches, softmaxed over the 2 classes, and the class-1
    probabilities are averaged where windows overlap.
    """
    from rramsim.nn.network import softmax

    _, ph, pw = net.input_shape
    h, w = image.shape
    stride = stride or ph // 2
    rows, cols = window_starts(h, ph, stride), window_starts(w, pw, stride)
    pos = [(r, c) for r in rows for c in cols]
    acc = np.zeros((h, w))
    cnt = np.zeros((h, w))
    for s in range(0, len(pos), batch_size):
        chunk = pos[s : s + batch_size]
        x = np.stack([image[r : r + ph, c : c + pw] for r, c in chunk])[:, None]
        p = softmax(net.forward(x, matmul=matmul), axis=1)[:, 1]
        for (r, c), q in zip(chunk, p, strict=True):
            acc[r : r + ph, c : c + pw] += q
            cnt[r : r + ph, c : c + pw] += 1
    return acc / cnt


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


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision,
    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds in decreasing order (tied
    scores form one threshold); NaN without positives."""
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # end of every block of equal scores
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def segmentation_metrics(prob: np.ndarray, vessels: np.ndarray, fov: np.ndarray, *,
                         threshold: float = 0.5) -> dict:
    """ROC-AUC, PR-AUC (average precision), F1 and accuracy inside the field of view.

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
    return {"roc_auc": roc_auc(s, y), "pr_auc": pr_auc(s, y), "f1": f1,
            "accuracy": float(np.mean(pred == y)) if y.size else float("nan"),
            "pixels": int(y.size), "threshold": float(threshold)}
