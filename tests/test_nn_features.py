"""The source study's spoken-digit feature files: read exactly without running their pickle, and a
pickle that asks for anything else refused with nothing run."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from rramsim.errors import DataError
from rramsim.nn.data import load_fsdd, read_feature_file, write_feature_file


def _records(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 23, 20)).astype(np.float32)
    y = rng.integers(0, 10, n)
    return x, y


def test_reads_a_file_in_the_study_format(tmp_path):
    # written the way the study's files are: np.savez of an object array of dicts
    x, y = _records(7)
    recs = np.empty(7, dtype=object)
    for j in range(7):
        recs[j] = {"feature": x[j].reshape(-1), "label": np.array([[y[j]]])}
    np.savez(tmp_path / "train_features.npz", recs)
    xr, yr = read_feature_file(tmp_path / "train_features.npz")
    assert xr.shape == (7, 1, 23, 20) and xr.dtype == np.float32
    np.testing.assert_array_equal(xr, x)  # the same float32 values, bit for bit
    np.testing.assert_array_equal(yr, y)


def test_folder_with_both_files_loads_as_fsdd(tmp_path):
    x, y = _records(5)
    write_feature_file(tmp_path / "train_features.npz", x, y)
    write_feature_file(tmp_path / "test_features.npz", x[:2], y[:2])
    ds = load_fsdd(tmp_path)
    np.testing.assert_array_equal(ds.x_train, x)
    np.testing.assert_array_equal(ds.y_test, y[:2])
    (tmp_path / "test_features.npz").unlink()
    with pytest.raises(DataError, match="both are needed"):
        load_fsdd(tmp_path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_asking_for_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(np.array([{"feature": _Evil(marker), "label": 1}], dtype=object),
                           protocol=3)
    # an npz member: the .npy header of an object array, then the pickle
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False,
                                               "shape": (1,)})
    path = tmp_path / "train_features.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("arr_0.npy", buf.getvalue() + payload)
    with pytest.raises(DataError, match=r"asks for (posix|os|nt)\.system.*nothing was run"):
        read_feature_file(path)
    assert not marker.exists()


def test_malformed_files_raise_data_error(tmp_path):
    bad = tmp_path / "a.npz"
    bad.write_text("not a zip")
    with pytest.raises(DataError, match="not a readable npz"):
        read_feature_file(bad)
    recs = np.empty(1, dtype=object)
    recs[0] = {"feature": np.zeros(10, np.float32), "label": np.array([[3]])}
    np.savez(tmp_path / "b.npz", recs)
    with pytest.raises(DataError, match="460 numeric feature values"):
        read_feature_file(tmp_path / "b.npz")
    with pytest.raises(DataError, match="does not exist"):
        read_feature_file(tmp_path / "missing.npz")
