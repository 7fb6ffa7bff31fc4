"""Data sets: scikit-learn's bundled digits (default), Fashion-MNIST IDX files, Free Spoken Digits.

The source study (arXiv 2311.07164) evaluates Fashion-MNIST and the Free Spoken Digit Dataset
(plus DRIVE); the embedded default here is the small digits set so that a pruned network
(edge-popup, Ramanujan et al., CVPR 2020) trains in seconds without any download.

Nothing is downloaded: the digits ship with scikit-learn, the other two are read from files the user
has. A missing or malformed file raises :class:`rramsim.errors.DataError` naming the file.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rramsim.errors import DataError

#: Fixed split of the digits set: 20 % test, stratified, ``random_state=0`` (independent of the
#: run's seed), giving 1,437 training and 360 test images.
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split.

    Attributes
    ----------
    name : str
    x_train, x_test : ndarray
        Inputs ``(N, *input_shape)`` scaled to [0, 1].
    y_train, y_test : ndarray of int
        Class labels 0..9.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def load_digits() -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images), pixels / 16 -> [0, 1], as 64 features.

    Split: :data:`DIGITS_TEST_FRACTION` stratified with ``random_state`` :data:`DIGITS_SPLIT_SEED`
    (``sklearn.model_selection.train_test_split``), always the same.
    """
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = bunch.data.astype(float) / 16.0
    y = bunch.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=y
    )
    return Dataset("digits", xtr, ytr, xte, yte)


# -- IDX (Fashion-MNIST) ------------------------------------------------------------------------
_IDX_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped (``.gz``, detected by content) or not.

    Raises
    ------
    DataError
        The file is missing, truncated, or not IDX; the message names the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"IDX file {path}: corrupt gzip data ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise DataError(f"IDX file {path}: truncated header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != need:
        raise DataError(
            f"IDX file {path}: header says {dims} ({need} bytes of data), file has "
            f"{len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims)), offset=header).reshape(dims)


_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _idx_path(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"missing Fashion-MNIST file {directory / stem}[.gz]")


def load_fashion_mnist(directory: str | Path) -> Dataset:
    """Fashion-MNIST from the four standard IDX files (``train-images-idx3-ubyte[.gz]``, ...).

    Images become ``(N, 1, 28, 28)`` floats in [0, 1]; the official 60k/10k split is kept.
    """
    directory = Path(directory)
    arrays = {key: read_idx(_idx_path(directory, stem)) for key, stem in _FASHION_FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        path = _idx_path(directory, _FASHION_FILES[f"x_{split}"])
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{path}: images of shape {x.shape[1:]}, expected (28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"{_idx_path(directory, _FASHION_FILES[f'y_{split}'])}: {y.shape} labels for "
                f"{len(x)} images"
            )
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{directory}: {split} labels outside 0..9")
    return Dataset(
        "fashion-mnist",
        arrays["x_train"].astype(float)[:, None] / 255.0,
        arrays["y_train"].astype(np.int64),
        arrays["x_test"].astype(float)[:, None] / 255.0,
        arrays["y_test"].astype(np.int64),
    )


# -- Free Spoken Digit Dataset --------------------------------------------------------------------
FSDD_PATTERN = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_inv(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def fsdd_features(
    signal: np.ndarray, rate: int, *, n_bands: int = 23, n_frames: int = 20
) -> np.ndarray:
    """Spectrogram features of one recording: ``(1, n_bands, n_frames)`` in [0, 1].

    Short-time power spectrum (``scipy.signal.spectrogram``, Hann window of 256 samples -- 32 ms at
    FSDD's 8 kHz -- half overlap), averaged into ``n_bands`` mel-spaced bands between 0 Hz and the
    Nyquist frequency, linearly interpolated to ``n_frames`` frames, log-compressed and scaled to
    [0, 1] per recording. The study's network takes 23x20 feature maps (arXiv 2311.07164); this
    extraction is this project's choice.
    """
    from scipy.signal import spectrogram

    x = np.asarray(signal, dtype=float)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size < 16:
        raise DataError(f"recording too short or not 1-D ({x.shape})")
    nper = min(256, x.size)
    freqs, _, power = spectrogram(x, fs=rate, window="hann", nperseg=nper, noverlap=nper // 2)
    edges = _mel_inv(np.linspace(0.0, _mel(rate / 2.0), n_bands + 1))
    bands = np.empty((n_bands, power.shape[1]))
    for i in range(n_bands):
        sel = (freqs >= edges[i]) & (freqs < edges[i + 1])
        if sel.any():
            bands[i] = power[sel].mean(axis=0)
        else:  # band narrower than a bin: take the nearest bin
            bands[i] = power[np.argmin(np.abs(freqs - 0.5 * (edges[i] + edges[i + 1])))]
    t_old = np.linspace(0.0, 1.0, bands.shape[1]) if bands.shape[1] > 1 else np.zeros(1)
    t_new = np.linspace(0.0, 1.0, n_frames)
    frames = np.stack([np.interp(t_new, t_old, b) for b in bands])
    logp = np.log10(frames + 1e-10 * max(float(frames.max()), 1e-30) + 1e-30)
    span = logp.max() - logp.min()
    out = (logp - logp.min()) / span if span > 0 else np.zeros_like(logp)
    return out[None]


#: The source study's spoken-digit feature files (its ``CRNN_Spoken_Digit_TO`` folder).
FEATURE_FILES = ("train_features.npz", "test_features.npz")
FEATURE_SHAPE = (23, 20)

#: The only callables a feature file's pickle may name: numpy's array and dtype reconstruction.
_PICKLE_ALLOWED = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
})


def _restricted_unpickler(fh, path):
    import pickle

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in _PICKLE_ALLOWED:
                raise DataError(f"{path}: the file's pickle asks for {module}.{name}; a feature "
                                "file may only hold numpy arrays of dicts of arrays (refused, "
                                "nothing was run)")
            import importlib

            return getattr(importlib.import_module(module), name)

    return _Unpickler(fh)


def _read_npy_member(z, member: str, path):
    """One ``.npy`` member of an npz: plain arrays through numpy, object arrays through the
    restricted unpickler."""
    import pickle

    with z.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        if not dtype.hasobject:
            count = int(np.prod(shape))
            arr = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype, count=count)
            return arr.reshape(shape, order="F" if fortran else "C")
        try:
            arr = _restricted_unpickler(fh, path).load()
        except DataError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError,
                ValueError, IndexError, KeyError) as exc:
            raise DataError(f"{path}: member {member} is not a readable pickled array: {exc}") \
                from exc
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: member {member} holds a {type(arr).__name__}, not an array")
    return arr


def read_feature_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one of the source study's spoken-digit feature files without running its pickle.

    Format (the study's ``CRNN_Spoken_Digit_TO/*_features.npz``): an npz whose members are object
    arrays of dicts ``{"feature": 460 floats, "label": [[digit]]}``; the features reshape to the
    23 x 20 input map. The members are pickles, read here by an unpickler that admits only numpy's
    array and dtype reconstruction (no other callable is looked up, so nothing else can run).

    Returns
    -------
    x : ndarray, (N, 1, 23, 20), float32
    y : ndarray of int64, (N,)

    Raises
    ------
    DataError
        Missing or unreadable file, a pickle that asks for anything else, or records that are not
        dicts with a 460-value ``feature`` in [0, 1] and a digit ``label``.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            members = sorted(m for m in z.namelist() if m.endswith(".npy"))
            if not members:
                raise DataError(f"{path}: no .npy member (not an npz feature file)")
            records = [r for m in members for r in _read_npy_member(z, m, path).ravel()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable npz file: {exc}") from exc
    xs, ys = [], []
    size = FEATURE_SHAPE[0] * FEATURE_SHAPE[1]
    for j, rec in enumerate(records):
        if not (isinstance(rec, dict) and "feature" in rec and "label" in rec):
            raise DataError(f"{path}: record {j} is not a dict with 'feature' and 'label'")
        f = np.asarray(rec["feature"])
        lab = np.asarray(rec["label"])
        if f.dtype.kind not in "fiu" or f.size != size or lab.size != 1 or lab.dtype.kind not in "iu":
            raise DataError(f"{path}: record {j} needs {size} numeric feature values and one "
                            f"integer label, got {f.dtype} x {f.size} and {lab.dtype} x {lab.size}")
        xs.append(f.astype(np.float32).reshape(FEATURE_SHAPE))
        ys.append(int(lab.ravel()[0]))
    if not xs:
        raise DataError(f"{path}: no records")
    x = np.stack(xs)[:, None]
    y = np.asarray(ys, dtype=np.int64)
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise DataError(f"{path}: feature values must be finite and in [0, 1]")
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"{path}: labels must be digits 0-9, got {y.min()}..{y.max()}")
    return x, y


def write_feature_file(path: str | Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Write features ``(N, 1, 23, 20)`` in [0, 1] and labels as the study's feature file."""
    import io

    from rramsim._io import atomic_write_bytes

    x = np.asarray(x, dtype=np.float32)
    if x.shape[1:] != (1, *FEATURE_SHAPE) or len(x) != len(y):
        raise DataError(f"features must be (N, 1, 23, 20) with N labels, got {x.shape}, {len(y)}")
    recs = np.empty(len(x), dtype=object)
    for j in range(len(x)):
        recs[j] = {"feature": x[j].reshape(-1), "label": np.array([[int(y[j])]], dtype=np.int64)}
    buf = io.BytesIO()
    np.savez(buf, recs)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def load_fsdd(directory: str | Path, *, n_bands: int = 23, n_frames: int = 20) -> Dataset:
    """Free Spoken Digit Dataset from a directory of ``{digit}_{speaker}_{index}.wav`` recordings,
    or of the source study's feature files (:data:`FEATURE_FILES`, :func:`read_feature_file`).

    Recordings: the dataset's documented split, index 0-4 the test set, the rest training;
    features :func:`fsdd_features`, shape ``(1, 23, 20)``. Feature files: their own split.

    Raises
    ------
    DataError
        Missing directory, no recordings, or an unreadable/malformed wav (named).
    """
    import warnings

    from scipy.io import wavfile

    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"FSDD directory {directory} does not exist")
    present = [(directory / f).is_file() for f in FEATURE_FILES]
    if any(present):
        if not all(present):
            raise DataError(f"{directory} has only one of {FEATURE_FILES}; both are needed")
        xtr, ytr = read_feature_file(directory / FEATURE_FILES[0])
        xte, yte = read_feature_file(directory / FEATURE_FILES[1])
        return Dataset("fsdd", xtr, ytr, xte, yte)
    files = sorted(p for p in directory.iterdir() if FSDD_PATTERN.match(p.name))
    if not files:
        raise DataError(f"no FSDD recordings ('<digit>_<speaker>_<index>.wav') in {directory}")
    xs = {"train": [], "test": []}
    ys = {"train": [], "test": []}
    for path in files:
        digit, _, index = FSDD_PATTERN.match(path.name).groups()
        try:
            with warnings.catch_warnings():
                # unknown non-data chunks (e.g. LIST metadata) are legal; a broken file still raises
                warnings.simplefilter("ignore", wavfile.WavFileWarning)
                rate, sig = wavfile.read(path)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"cannot read wav file {path}: {exc}") from exc
        if np.issubdtype(sig.dtype, np.integer):
            sig = sig.astype(float) / float(np.iinfo(sig.dtype).max)
        try:
            feat = fsdd_features(sig, int(rate), n_bands=n_bands, n_frames=n_frames)
        except DataError as exc:
            raise DataError(f"wav file {path}: {exc}") from exc
        split = "test" if int(index) < 5 else "train"
        xs[split].append(feat)
        ys[split].append(int(digit))

    def stack(split):
        if not xs[split]:
            return np.zeros((0, 1, n_bands, n_frames)), np.zeros(0, np.int64)
        return np.stack(xs[split]), np.asarray(ys[split], np.int64)

    (xtr, ytr), (xte, yte) = stack("train"), stack("test")
    return Dataset("fsdd", xtr, ytr, xte, yte)
