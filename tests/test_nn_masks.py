"""Top-k masks (edge-popup, Ramanujan et al. CVPR 2020) and the flip limiter (arXiv 2311.07164)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rramsim.nn.masks import FlipLimiter, MaskError, limited_update, n_kept, topk_mask


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    k=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_topk_exact_count_and_largest(rows, cols, k, seed):
    s = np.random.default_rng(seed).normal(size=(rows, cols))
    before = s.copy()
    m = topk_mask(s, k)
    keep = max(1, int(round(k * s.size)))
    assert m.shape == s.shape and m.dtype == bool
    assert m.sum() == keep
    # every kept |score| >= every pruned |score|
    if keep < s.size:
        assert np.abs(s[m]).min() >= np.abs(s[~m]).max()
    np.testing.assert_array_equal(s, before)  # caller's array untouched


def test_topk_half_hand_example():
    s = np.array([[0.1, -3.0], [2.0, -0.5]])
    np.testing.assert_array_equal(topk_mask(s, 0.5), [[False, True], [True, False]])


def test_topk_exact_with_ties():
    m = topk_mask(np.ones((10, 10)), 0.5)
    assert m.sum() == 50


@pytest.mark.parametrize("k", [0.0, -0.1, 1.5])
def test_n_kept_rejects_fraction_outside_zero_one(k):
    with pytest.raises(MaskError, match="k must be"):
        n_kept(10, k)


def test_topk_rejects_nan():
    with pytest.raises(MaskError, match="NaN"):
        topk_mask(np.array([1.0, np.nan]), 0.5)


def test_limiter_threshold_decays_linearly():
    lim = FlipLimiter(0.01, 0.007)
    assert lim.threshold(0, 101) == pytest.approx(0.01, abs=1e-15)
    assert lim.threshold(50, 101) == pytest.approx(0.0085, abs=1e-15)
    assert lim.threshold(100, 101) == pytest.approx(0.007, abs=1e-15)


@pytest.mark.parametrize("bad", [{"start": -0.1}, {"end": 1.0}, {"start": float("nan")}])
def test_flip_limiter_rejects_thresholds_outside_zero_one(bad):
    with pytest.raises(MaskError):
        FlipLimiter(**bad)


def test_limited_update_theta_zero_is_topk():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(20, 30))
    m0 = topk_mask(rng.normal(size=(20, 30)), 0.5)
    np.testing.assert_array_equal(limited_update(m0, s, 0.5, 0.0), topk_mask(s, 0.5))


def test_limited_update_hysteresis_hand_example():
    # |s| = 1, 2, 3, 4 with mask keeping {3, 4}; then scores move so that 2.0 -> 2.05 and 3 -> 1.99.
    mask = np.array([False, False, True, True])
    s = np.array([1.0, 2.05, 1.99, 4.0])
    # top-2 proposes {2.05, 4.0}; boundary t = 2.05 (2nd largest).
    # in-candidate 2.05 > t(1+theta)? no for any theta > 0 -> nothing flips
    np.testing.assert_array_equal(limited_update(mask, s, 0.5, 0.01), mask)
    # a decisive move flips exactly one pair
    s2 = np.array([1.0, 3.0, 1.0, 4.0])  # t = 3.0; in: 3.0 > 3.03? no -> still no flip
    np.testing.assert_array_equal(limited_update(mask, s2, 0.5, 0.01), mask)
    s3 = np.array([1.0, 3.0, 1.0, 4.0, 3.5, 0.5])
    mask3 = np.array([False, False, True, True, False, True])
    # top-3 = {4.0, 3.5, 3.0}, t = 3.0; ins: 3.5 (> 3.03), 3.0 (not > 3.03); outs: 1.0, 0.5 (< 2.97)
    new = limited_update(mask3, s3, 0.5, 0.01)
    np.testing.assert_array_equal(new, [False, False, True, True, True, False])
    assert new.sum() == 3


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), theta=st.floats(0.0, 0.5), k=st.floats(0.05, 0.95))
def test_limited_update_keeps_count_and_only_admits_margin_flips(seed, theta, k):
    rng = np.random.default_rng(seed)
    s0 = rng.normal(size=(12, 9))
    m0 = topk_mask(s0, k)
    s1 = s0 + 0.3 * rng.normal(size=s0.shape)
    new = limited_update(m0, s1, k, theta)
    assert new.sum() == m0.sum()
    a = np.abs(s1)
    keep = int(m0.sum())
    t = np.sort(a.ravel())[::-1][keep - 1]
    assert np.all(a[new & ~m0] > t * (1 + theta) - 1e-12)
    assert np.all(a[~new & m0] < t * (1 - theta) + 1e-12)
