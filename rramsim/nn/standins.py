"""Stand-in data sets of the right size and format, for benchmarks where the real files are absent.

These are *not* the study's data: they are generated, learnable look-alikes written in the formats
the real data sets ship in, so that the loaders, the memory and the run times can be exercised at
full scale without a download.

* Fashion-MNIST: the four IDX files (gzipped) with 60,000 + 10,000 images of 28 x 28 (uint8) and
  labels 0-9. The images are scikit-learn's 8 x 8 digits, enlarged 3x, shifted at random and
  noised (class = digit).
* Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` (8 kHz, 16-bit mono), 6 speakers x
  10 digits x 50 recordings = 3,000 files. Each recording is a synthetic vowel-like sound whose
  two formant frequencies and glide depend on the digit, its pitch on the speaker, plus noise.
* The source study's spoken-digit feature files: ``train_features.npz`` (2,100 records) and
  ``test_features.npz`` (900) in its format (object arrays of dicts ``{"feature": 460 float32 in
  [0, 1], "label": [[digit]]}``): the stand-in recordings' features (:func:`fsdd`,
  :func:`rramsim.nn.data.fsdd_features`), 7 of every 10 recordings for training.
* DRIVE: ``training/images/21_training.tif`` ... ``40``, ``test/images/01_test.tif`` ... ``20``
  (565 x 584 RGB TIFF), ``*/1st_manual/NN_manual1.gif`` (vessel annotations, 0/255) and
  ``*/mask/NN_training_mask.gif`` / ``NN_test_mask.gif`` (field of view, 0/255): random branching
  dark vessels on a reddish fundus-like disc.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from rramsim._io import atomic_write_bytes
from rramsim.errors import DataError

STANDIN_NOTE = "generated stand-ins, not the real data set"
FSDD_SPEAKERS = ("standina", "standinb", "standinc", "standind", "standine", "standinf")
DRIVE_SIZE = (584, 565)  # (height, width) of a DRIVE image


def _idx_bytes(arr: np.ndarray) -> bytes:
    a = np.ascontiguousarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return gzip.compress(head + a.tobytes(), compresslevel=1)


def fashion_mnist(directory, *, n_train: int = 60_000, n_test: int = 10_000, seed: int = 0) -> Path:
    """Write Fashion-MNIST-format IDX stand-ins to ``directory``; return it."""
    from sklearn.datasets import load_digits

    if n_train < 1 or n_test < 1:
        raise DataError(f"need at least one training and one test image, got {n_train}, {n_test}")
    rng = np.random.default_rng(seed)
    digits = load_digits()
    base = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8)
    directory = Path(directory)
    for n, stem in ((n_train, "train"), (n_test, "t10k")):
        idx = rng.integers(0, len(base), n)
        big = np.kron(base[idx], np.ones((1, 3, 3), np.float32))  # (n, 24, 24)
        out = np.zeros((n, 28, 28), np.float32)
        dy, dx = rng.integers(0, 5, n), rng.integers(0, 5, n)
        for oy in range(5):
            for ox in range(5):
                sel = (dy == oy) & (dx == ox)
                out[sel, oy : oy + 24, ox : ox + 24] = big[sel]
        out += rng.normal(0.0, 0.15, out.shape).astype(np.float32)
        img = np.clip(out * 255.0, 0, 255).astype(np.uint8)
        atomic_write_bytes(directory / f"{stem}-images-idx3-ubyte.gz", _idx_bytes(img))
        atomic_write_bytes(directory / f"{stem}-labels-idx1-ubyte.gz",
                           _idx_bytes(digits.target[idx].astype(np.uint8)))
        del big, out, img
    return directory


def fsdd(directory, *, per_digit_speaker: int = 50, seed: int = 0, rate: int = 8000) -> Path:
    """Write FSDD-named WAV stand-ins (6 speakers x 10 digits x ``per_digit_speaker``)."""
    import io

    from scipy.io import wavfile

    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    f1 = np.linspace(300.0, 850.0, 10)[rng.permutation(10)]
    f2 = np.linspace(900.0, 2600.0, 10)[rng.permutation(10)]
    glide = rng.uniform(-0.4, 0.4, 10)
    for s, speaker in enumerate(FSDD_SPEAKERS):
        pitch = 100.0 + 25.0 * s
        for d in range(10):
            for k in range(per_digit_speaker):
                dur = rng.uniform(0.35, 0.6)
                t = np.arange(int(dur * rate)) / rate
                u = t / dur
                sig = np.zeros_like(t)
                for f, amp in ((f1[d], 1.0), (f2[d], 0.5)):
                    fk = f * (1.0 + glide[d] * (u - 0.5)) * rng.uniform(0.95, 1.05)
                    sig += amp * np.sin(2 * np.pi * np.cumsum(fk) / rate)
                sig *= 0.6 + 0.4 * np.sin(2 * np.pi * pitch * t)  # voicing
                sig *= np.sin(np.pi * u) ** 0.5  # envelope
                sig += rng.normal(0.0, 0.1, t.size)
                pcm = (np.clip(sig / 2.0, -1, 1) * 20000).astype(np.int16)
                buf = io.BytesIO()
                wavfile.write(buf, rate, pcm)
                atomic_write_bytes(directory / f"{d}_{speaker}_{k}.wav", buf.getvalue())
    return directory


def _drive_image(rng: np.random.Generator, size=DRIVE_SIZE):
    """One fundus-like RGB image, its vessel map and its field-of-view mask (uint8 arrays)."""
    from PIL import Image, ImageDraw

    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, r = h / 2, w / 2, 0.47 * min(h, w) + 10
    fov = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r**2
    vessels = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(vessels)
    unit = min(h, w) / 565.0  # lengths below are for DRIVE's size
    oy = cy + unit * rng.uniform(-30, 30)
    ox = cx + unit * rng.uniform(60, 120) * rng.choice([-1, 1])

    def branch(y, x, angle, width, depth):
        for _ in range(int(rng.integers(6, 14))):
            step = unit * rng.uniform(12, 25)
            angle += rng.normal(0, 0.25)
            ny, nx = y + step * np.sin(angle), x + step * np.cos(angle)
            draw.line([(x, y), (nx, ny)], fill=255, width=max(1, int(round(width * unit))))
            y, x = ny, nx
            if depth < 3 and rng.random() < 0.2:
                branch(y, x, angle + rng.choice([-1, 1]) * rng.uniform(0.4, 0.9), width * 0.7,
                       depth + 1)
        if depth < 2:
            branch(y, x, angle + rng.uniform(-0.5, 0.5), width * 0.75, depth + 1)

    for a in np.linspace(0, 2 * np.pi, 6, endpoint=False) + rng.uniform(0, 0.5):
        branch(oy, ox, a, rng.uniform(4, 7), 0)
    v = (np.asarray(vessels) > 127) & fov
    light = 0.75 + 0.25 * np.exp(-(((yy - oy) ** 2 + (xx - ox) ** 2) / (2 * (120.0 * unit) ** 2)))
    base = np.stack([200 * light, 90 * light, 40 * light], axis=-1)
    base[v] *= np.array([0.8, 0.55, 0.6])
    base += rng.normal(0, 6, base.shape)
    base[~fov] = 0
    rgb = np.clip(base, 0, 255).astype(np.uint8)
    return rgb, (v * 255).astype(np.uint8), (fov * 255).astype(np.uint8)


def drive(directory, *, n_train: int = 20, n_test: int = 20, seed: int = 0,
          size: tuple[int, int] = DRIVE_SIZE) -> Path:
    """Write DRIVE-layout stand-ins (TIFF images, GIF annotations and field-of-view masks)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    directory = Path(directory)
    for split, ids in (("training", range(21, 21 + n_train)), ("test", range(1, 1 + n_test))):
        for i in ids:
            rgb, ves, fov = _drive_image(rng, size)
            for sub, name, arr, fmt in (
                ("images", f"{i:02d}_{split}.tif", rgb, "TIFF"),
                ("1st_manual", f"{i:02d}_manual1.gif", ves, "GIF"),
                ("mask", f"{i:02d}_{split}_mask.gif", fov, "GIF"),
            ):
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, format=fmt)
                atomic_write_bytes(directory / split / sub / name, buf.getvalue())
    return directory


def fsdd_features(directory, *, per_digit_speaker: int = 50, seed: int = 0) -> Path:
    """Write stand-ins of the study's feature files (``train_features.npz``, ``test_features.npz``)
    from stand-in recordings: 6 speakers x 10 digits x ``per_digit_speaker``, split 70/30 at
    random (seeded), as the study's 2,100 / 900."""
    import tempfile

    from rramsim.nn.data import FEATURE_FILES, load_fsdd, write_feature_file

    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        fsdd(tmp, per_digit_speaker=per_digit_speaker, seed=seed)
        ds = load_fsdd(tmp)
    x = np.concatenate([ds.x_train, ds.x_test]).astype(np.float32)
    y = np.concatenate([ds.y_train, ds.y_test])
    order = rng.permutation(len(x))
    n_train = int(round(0.7 * len(x)))
    write_feature_file(directory / FEATURE_FILES[0], x[order[:n_train]], y[order[:n_train]])
    write_feature_file(directory / FEATURE_FILES[1], x[order[n_train:]], y[order[n_train:]])
    return directory


TASKS = {"fashion-mnist": fashion_mnist, "fsdd": fsdd, "fsdd-features": fsdd_features,
         "drive": drive}
