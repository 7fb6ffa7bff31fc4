"""Data loaders: digits split, Fashion-MNIST IDX files, Free Spoken Digit wav directories.

All files are made by the tests (no downloads).
"""

import gzip
import struct

import numpy as np
import pytest

from rramsim.errors import DataError
from rramsim.nn import data


def _idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.tobytes()


def test_digits_fixed_split():
    a, b = data.load_digits(), data.load_digits()
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.x_train.min() == 0.0 and a.x_train.max() == 1.0
    assert np.bincount(a.y_test, minlength=10).min() >= 35  # stratified: 36 +- 1 per class


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = _idx_bytes(arr)
    p = tmp_path / ("x.idx.gz" if gz else "x.idx")
    p.write_bytes(gzip.compress(raw) if gz else raw)
    np.testing.assert_array_equal(data.read_idx(p), arr)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"\x00\x00\x08", "not an IDX"),
        (b"\x12\x34\x08\x01\x00\x00\x00\x02ab", "not an IDX"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05ab", "header says"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
    ],
)
def test_read_idx_malformed_names_file(tmp_path, content, match):
    p = tmp_path / "bad-images-idx3-ubyte"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        data.read_idx(p)
    assert str(p) in str(info.value)


def test_read_idx_missing_names_file(tmp_path):
    with pytest.raises(DataError, match="nothere"):
        data.read_idx(tmp_path / "nothere")


def _fashion_dir(tmp_path, gz):
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 9]),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([4, 5]),
    }
    for name, arr in files.items():
        raw = _idx_bytes(arr)
        if gz:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    return files


@pytest.mark.parametrize("gz", [False, True])
def test_load_fashion_mnist(tmp_path, gz):
    files = _fashion_dir(tmp_path, gz)
    ds = data.load_fashion_mnist(tmp_path)
    assert ds.x_train.shape == (5, 1, 28, 28) and ds.x_test.shape == (2, 1, 28, 28)
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, files["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, [4, 5])


def test_load_fashion_mnist_missing_and_mismatched(tmp_path):
    _fashion_dir(tmp_path, False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        data.load_fashion_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([1, 2, 3])))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        data.load_fashion_mnist(tmp_path)


def _tone(freq, rate=8000, dur=0.4):
    t = np.arange(int(rate * dur)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)


def test_fsdd_features_tone_lands_in_its_band():
    rate = 8000
    feat = data.fsdd_features(_tone(1000.0).astype(float), rate)
    assert feat.shape == (1, 23, 20)
    assert feat.min() >= 0 and feat.max() <= 1
    mel = 2595 * np.log10(1 + np.array([0.0, 4000.0]) / 700)
    edges = 700 * (10 ** (np.linspace(mel[0], mel[1], 24) / 2595) - 1)
    band = np.searchsorted(edges, 1000.0) - 1
    assert np.all(feat[0].argmax(axis=0) == band)


def test_load_fsdd_split_and_errors(tmp_path):
    from scipy.io import wavfile

    for digit, freq in ((0, 500.0), (7, 2000.0)):
        for idx in (0, 6):
            wavfile.write(tmp_path / f"{digit}_jackson_{idx}.wav", 8000, _tone(freq))
    (tmp_path / "README.txt").write_text("ignored")
    ds = data.load_fsdd(tmp_path)
    assert ds.x_train.shape == (2, 1, 23, 20) and ds.x_test.shape == (2, 1, 23, 20)
    assert sorted(ds.y_test.tolist()) == [0, 7]
    bad = tmp_path / "3_theo_9.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(DataError, match="3_theo_9.wav"):
        data.load_fsdd(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        data.load_fsdd(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no FSDD recordings"):
        data.load_fsdd(empty)
