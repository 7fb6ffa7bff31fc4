"""Layers of random-weight networks: fixed weights, trainable scores, top-k masks.

Every layer with weights stores them as one ``(fan_in, fan_out)`` matrix, the orientation of a
crossbar (rows = inputs = word lines, columns = outputs = bit lines), so a convolution (through
im2col) or a recurrent step is the same product ``x2d @ W`` a crossbar computes. The forward pass
of every weight layer goes through a *matmul hook* ``matmul(layer_index, x2d, w) -> y2d``; by
default the ideal ``x2d @ w``, replaceable by a circuit-accurate product.

Parameterisation ("trainable"):

* ``"scores"`` (edge-popup, Ramanujan et al., CVPR 2020; source study arXiv 2311.07164): the
  weights are fixed (random conductance pairs), the effective weight is ``W * M`` with
  ``M = topk(|S|, k)``; the straight-through estimator gives ``dL/dS = sign(S) * W * dL/d(W*M)``.
* ``"weights"`` (the conventional baseline): the weights are trained, the mask is all ones.

Array layout: images are ``(batch, channels, height, width)``; sequences ``(batch, time, features)``.
im2col orders a convolution's ``fan_in`` as ``(in_channels, kernel_h, kernel_w)`` flattened C-order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from rramsim.errors import LayerError
from rramsim.nn.masks import topk_mask
from rramsim.nn.quant import MODES as QUANT_MODES
from rramsim.nn.quant import batch_quantize, nearest_level, quantile_levels, quantize, quantize_grad

MatMul = Callable[[int, np.ndarray, np.ndarray], np.ndarray]
Trainable = Literal["scores", "weights"]


def ideal_matmul(layer_index: int, x2d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The ideal product ``x2d @ w`` (the default matmul hook)."""
    return x2d @ w


class Layer:
    """Base class: ``forward(x, train, matmul)`` and ``backward(grad) -> grad_x``."""

    def forward(self, x: np.ndarray, *, train: bool, matmul: MatMul) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape."""
        raise NotImplementedError


class WeightLayer(Layer):
    """A layer with one ``(fan_in, fan_out)`` weight matrix, its scores and its top-k mask.

    Attributes
    ----------
    weight : ndarray, (fan_in, fan_out)
        The weights. Fixed when ``trainable == "scores"``.
    scores : ndarray, (fan_in, fan_out)
        Edge-popup scores (used when ``trainable == "scores"``).
    mask : ndarray of bool, (fan_in, fan_out)
        Current top-k mask (all True when ``trainable == "weights"``).
    k : float
        Kept fraction of the top-k mask (study: 0.5).
    index : int
        Position among the network's weight layers (the ``layer_index`` of the matmul hook).
    grad : ndarray or None
        Gradient of the loss w.r.t. the trainable parameter after :meth:`backward`.
    """

    def __init__(self, fan_in: int, fan_out: int, *, k: float = 0.5) -> None:
        if fan_in < 1 or fan_out < 1:
            raise LayerError(f"fan_in and fan_out must be >= 1, got {fan_in}, {fan_out}")
        if not 0.0 < k <= 1.0:
            raise LayerError(f"kept fraction k must be in (0, 1], got {k!r}")
        self.fan_in, self.fan_out, self.k = int(fan_in), int(fan_out), float(k)
        self.weight = np.zeros((self.fan_in, self.fan_out))
        self.scores = np.zeros((self.fan_in, self.fan_out))
        self.mask = np.ones((self.fan_in, self.fan_out), dtype=bool)
        self.pruned_weight: np.ndarray | None = None
        self.trainable: Trainable = "scores"
        self.index = -1
        self.needs_input_grad = True
        self.grad: np.ndarray | None = None
        self._gw = np.zeros((self.fan_in, self.fan_out))

    @property
    def n_weights(self) -> int:
        return self.fan_in * self.fan_out

    def effective_weight(self) -> np.ndarray:
        """``weight * mask`` as a new ``(fan_in, fan_out)`` array, or ``weight`` where the mask is
        True and :attr:`pruned_weight` where it is False when that is set."""
        if self.pruned_weight is None:
            return self.weight * self.mask
        return np.where(self.mask, self.weight, self.pruned_weight)

    def set_pruned_weight(self, w: np.ndarray | None) -> None:
        """What a pruned weight is in the forward pass: None for exactly 0, or a ``(fan_in,
        fan_out)`` array (a device pair's RESET-state weight: the source study's hardware runs
        train with ``G_zero`` where the mask is 0)."""
        if w is None:
            self.pruned_weight = None
            return
        w = np.array(w, dtype=float)
        if w.shape != (self.fan_in, self.fan_out) or not np.all(np.isfinite(w)):
            raise LayerError(f"layer {self.index}: pruned weights must be finite, shape "
                             f"{(self.fan_in, self.fan_out)}, got shape {w.shape}")
        self.pruned_weight = w

    def update_mask(self) -> None:
        """Recompute ``mask = topk(|scores|, k)`` (plain edge-popup, no flip limiter)."""
        self.mask = topk_mask(self.scores, self.k)

    def _weight_for(self, x: np.ndarray) -> np.ndarray:
        """The effective weight in the compute precision of ``x`` (float32 or float64)."""
        w = self.effective_weight()
        return w if w.dtype == x.dtype else w.astype(x.dtype)

    def _product(self, matmul: MatMul, x2d: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``matmul(index, x2d, w)`` with its result's shape checked, in ``x2d``'s precision."""
        y = np.asarray(matmul(self.index, x2d, w))
        if y.dtype != x2d.dtype:
            y = y.astype(x2d.dtype)
        if y.shape != (x2d.shape[0], self.fan_out):
            raise LayerError(
                f"layer {self.index}: matmul returned shape {y.shape}, expected "
                f"{(x2d.shape[0], self.fan_out)}"
            )
        return y

    def _accumulate(self, gw_eff: np.ndarray) -> None:
        self._gw += gw_eff

    def zero_grad(self) -> None:
        self._gw = np.zeros((self.fan_in, self.fan_out))
        self.grad = None

    def finish_grad(self) -> None:
        """Turn the accumulated ``dL/dW_eff`` into the gradient of the trainable parameter."""
        if self.trainable == "scores":
            # straight-through estimator through topk(|S|): d|S|/dS = sign(S); a pruned pair's
            # own weight makes dW_eff/dM = weight - pruned_weight
            kept = self.weight if self.pruned_weight is None else self.weight - self.pruned_weight
            self.grad = np.sign(self.scores) * kept * self._gw
        else:
            self.grad = self._gw * self.mask


class Dense(WeightLayer):
    """Fully connected layer ``y = x @ (W * M)`` without bias (the study's networks have none)."""

    def forward(self, x, *, train, matmul):
        x = _floating(x)
        if x.ndim != 2 or x.shape[1] != self.fan_in:
            raise LayerError(f"Dense({self.fan_in}->{self.fan_out}) got input shape {x.shape}")
        w = self._weight_for(x)
        if train:
            self._x, self._w = x, w
        return self._product(matmul, x, w)

    def backward(self, grad):
        self._accumulate(self._x.T @ grad)
        if not self.needs_input_grad:
            return None
        return grad @ self._w.T

    def output_shape(self, shape):
        return (self.fan_out,)


def _floating(x) -> np.ndarray:
    """``x`` as a float32 or float64 array (other types become float64), not copied if it is one."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


class Conv2d(WeightLayer):
    """2-D convolution by im2col: ``cols @ (W * M)`` with ``fan_in = C_in * kh * kw``, no bias.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel : int or (int, int)
    stride : int or (int, int)
    padding : int or (int, int)
        Zero padding on both sides of each spatial axis.
    k : float
        Kept fraction of the top-k mask.
    """

    def __init__(self, in_channels, out_channels, kernel, *, stride=1, padding=0, k=0.5):
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel, self.stride, self.padding = _pair(kernel), _pair(stride), _pair(padding)
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise LayerError("kernel and stride must be >= 1, padding >= 0")
        super().__init__(self.in_channels * self.kernel[0] * self.kernel[1], out_channels, k=k)

    def output_shape(self, shape):
        c, h, w = shape
        if c != self.in_channels:
            raise LayerError(f"Conv2d expects {self.in_channels} channels, got {c}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if ho < 1 or wo < 1:
            raise LayerError(f"Conv2d kernel {self.kernel} larger than padded input {(h, w)}")
        return (self.out_channels, ho, wo)

    def _permute_rows(self, w: np.ndarray, *, to_taps: bool) -> np.ndarray:
        """Weight rows between the canonical ``(c, ky, kx)`` order and the tap-major
        ``(ky, kx, c)`` order of the training path."""
        kh, kw = self.kernel
        c = self.in_channels
        if to_taps:
            return w.reshape(c, kh, kw, -1).transpose(1, 2, 0, 3).reshape(self.fan_in, -1)
        return w.reshape(kh, kw, c, -1).transpose(2, 0, 1, 3).reshape(self.fan_in, -1)

    def _shifted(self, x: np.ndarray, matmul: MatMul) -> bool:
        """Whether the shifted-product path applies: the ideal product, stride 1, an odd square
        kernel larger than 1 with "same" padding, and at least 8 input channels (below that the
        per-tap products are too thin and im2col is faster)."""
        (kh, kw), (ph, pw) = self.kernel, self.padding
        return (matmul is ideal_matmul and self.stride == (1, 1) and kh == kw and kh % 2 == 1
                and kh > 1 and ph == pw == kh // 2 and self.in_channels >= 8
                and x.dtype in (np.float32, np.float64))

    def forward(self, x, *, train, matmul):
        """Evaluation and any custom ``matmul`` use im2col with the canonical column order
        ``(c, ky, kx)``; training with the ideal product uses the tap-major order ``(ky, kx, c)``
        (contiguous channel runs, the weight rows permuted to match). A stride-1 "same"
        convolution with the ideal product skips im2col altogether (:meth:`_forward_shifted`).
        All are the same sums in other orders."""
        x = _floating(x)
        if x.ndim != 4:
            raise LayerError(f"Conv2d expects (B, C, H, W), got shape {x.shape}")
        _, ho, wo = self.output_shape(x.shape[1:])
        if self._shifted(x, matmul):
            return self._forward_shifted(x, train)
        b = x.shape[0]
        xp = _pad_nhwc(x.transpose(0, 2, 3, 1), self.padding, self.padding)
        fast = train and matmul is ideal_matmul
        cols = _im2col_nhwc(xp, self.kernel, self.stride, (ho, wo), tap_major=fast)
        w = self._weight_for(x)
        if fast:
            w = np.ascontiguousarray(self._permute_rows(w, to_taps=True))
        if train:
            self._cols, self._xpshape, self._xshape, self._w, self._fast = (
                cols, xp.shape, x.shape, w, fast)
            self._shift = False
        y = self._product(matmul, cols, w)
        return np.ascontiguousarray(y.reshape(b, ho, wo, self.out_channels).transpose(0, 3, 1, 2))

    def _forward_shifted(self, x: np.ndarray, train: bool) -> np.ndarray:
        """Stride-1 "same" convolution as ``kh * kw`` shifted products without im2col.

        The input is padded channels-last and flattened to rows ``(B (H + 2p) (W + 2p), C)``; the
        output at padded-grid row ``q`` is ``sum_taps X[q + ky (W + 2p) + kx] @ W_tap``, so every tap
        is one product of a contiguous block of rows, accumulated in place by BLAS ``gemm``
        (``beta = 1``); rows that fall on the padding are computed and dropped.
        """
        b, c, h, w_ = x.shape
        k, p = self.kernel[0], self.padding[0]
        hp, wp = h + 2 * p, w_ + 2 * p
        # reused buffers: fresh large arrays cost a page fault per 4 kB on every call. In training
        # the padded input is kept for the backward pass, in this layer's own buffer (the next
        # training forward of this layer comes after that backward pass)
        if train:
            size = b * hp * wp * c
            buf = getattr(self, "_xp_buf", None)
            if buf is None or buf.size < size or buf.dtype != x.dtype:
                buf = self._xp_buf = np.empty(size, dtype=x.dtype)
            xp = buf[:size].reshape(b, hp, wp, c)
        else:
            xp = _scratch("conv_in", (b, hp, wp, c), x.dtype)
        _fill_padded(xp, x.transpose(0, 2, 3, 1), p)
        flat = xp.reshape(-1, c)
        n_rows = flat.shape[0] - (k - 1) * (wp + 1)
        wt = np.ascontiguousarray(self._permute_rows(self._weight_for(x), to_taps=True)).reshape(
            k * k, c, self.out_channels)
        gemm = _gemm(x.dtype)
        y = _scratch("conv_out", (flat.shape[0], self.out_channels), x.dtype)
        for t in range(k * k):
            off = (t // k) * wp + t % k
            # the first tap overwrites (beta 0: the buffer's old contents are not read)
            gemm(1.0, wt[t].T, flat[off : off + n_rows].T, beta=1.0 if t else 0.0,
                 c=y[:n_rows].T, overwrite_c=1)
        if train:
            self._shift = True
            self._flat, self._wt, self._xshape = flat, wt, x.shape
        return np.ascontiguousarray(y.reshape(b, hp, wp, self.out_channels)[:, :h, :w_, :]
                                    .transpose(0, 3, 1, 2))

    def _backward_shifted(self, grad: np.ndarray):
        """Gradients of :meth:`_forward_shifted`: per tap, ``dW_tap = X_shift^T G`` and
        ``dX_shift += G W_tap^T`` over the same shifted row blocks (``G`` is the output gradient on
        the padded grid, zero on the padding rows)."""
        b, c, h, w_ = self._xshape
        k, p = self.kernel[0], self.padding[0]
        hp, wp = h + 2 * p, w_ + 2 * p
        o = self.out_channels
        flat, wt = self._flat, self._wt
        n_rows = flat.shape[0] - (k - 1) * (wp + 1)
        gp = _scratch("conv_grad_out", (b, hp, wp, o), grad.dtype)
        gp[:, h:] = 0
        gp[:, :h, w_:] = 0
        gp[:, :h, :w_, :] = grad.transpose(0, 2, 3, 1)
        g2 = gp.reshape(-1, o)[:n_rows]
        gw = np.empty((k * k, c, o), dtype=grad.dtype)
        for t in range(k * k):
            off = (t // k) * wp + t % k
            np.matmul(flat[off : off + n_rows].T, g2, out=gw[t])
        self._accumulate(self._permute_rows(gw.reshape(self.fan_in, o), to_taps=False))
        if not self.needs_input_grad:
            return None
        gemm = _gemm(grad.dtype)
        gflat = _scratch("conv_grad_in", flat.shape, grad.dtype)
        gflat[n_rows:] = 0  # the first tap (offset 0) overwrites rows [0, n_rows), beta 0
        for t in range(k * k):
            off = (t // k) * wp + t % k
            gemm(1.0, wt[t].T, g2.T, beta=1.0 if t else 0.0, c=gflat[off : off + n_rows].T,
                 overwrite_c=1, trans_a=1)
        gx = gflat.reshape(b, hp, wp, c)[:, p : p + h, p : p + w_, :]
        return np.ascontiguousarray(gx.transpose(0, 3, 1, 2))

    def backward(self, grad):
        if self._shift:
            return self._backward_shifted(grad)
        b, _, ho, wo = grad.shape
        g4 = np.ascontiguousarray(grad.transpose(0, 2, 3, 1))  # (B, Ho, Wo, out)
        g2 = g4.reshape(b * ho * wo, self.out_channels)
        gw = self._cols.T @ g2
        self._accumulate(self._permute_rows(gw, to_taps=False) if self._fast else gw)
        if not self.needs_input_grad:
            return None
        kh, kw = self.kernel
        c, o = self.in_channels, self.out_channels
        (sh, sw), (ph, pw) = self.stride, self.padding
        _, _, h, w = self._xshape
        w_taps = self._w if self._fast else self._permute_rows(self._w, to_taps=True)
        if (sh, sw) == (1, 1) and ph < kh and pw < kw:
            # stride 1: the input gradient is the full correlation of the output gradient with the
            # flipped kernel (channels swapped), computed as one more im2col product
            gp = _pad_nhwc(g4, (kh - 1 - ph, kw - 1 - pw), (kh - 1 - ph, kw - 1 - pw))
            cols = _im2col_nhwc(gp, self.kernel, (1, 1), (h, w), tap_major=True)
            wf = w_taps.reshape(kh, kw, c, o)[::-1, ::-1].transpose(0, 1, 3, 2).reshape(kh * kw * o, c)
            gx = (cols @ wf).reshape(b, h, w, c)
        else:  # col2im: scatter-add every tap's share
            gcols = (g2 @ w_taps.T).reshape(b, ho, wo, kh, kw, c)
            gxp = np.zeros(self._xpshape, dtype=grad.dtype)
            for i, j, rs, cs in _taps(self.kernel, self.stride, (ho, wo)):
                gxp[:, rs, cs, :] += gcols[:, :, :, i, j, :]
            gx = gxp[:, ph : ph + h, pw : pw + w, :]
        return np.ascontiguousarray(gx.transpose(0, 3, 1, 2))


_SCRATCH: dict = {}


def _scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A reusable C-contiguous work array of ``shape`` (contents undefined), one per ``name`` and
    dtype, grown as needed. Only for temporaries that die before the next call with the same
    name (the convolutions run one after another)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    buf = _SCRATCH.get((name, dtype.str))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        _SCRATCH[(name, dtype.str)] = buf
    return buf[:size].reshape(shape)


def _fill_padded(out: np.ndarray, x: np.ndarray, p: int) -> None:
    """``out`` (B, H + 2p, W + 2p, C) = ``x`` (B, H, W, C, any strides) zero-padded by ``p``."""
    _, hp, wp, _ = out.shape
    if p:
        out[:, :p] = 0
        out[:, hp - p :] = 0
        out[:, :, :p] = 0
        out[:, :, wp - p :] = 0
    out[:, p : hp - p, p : wp - p, :] = x


def _gemm(dtype):
    """BLAS ``gemm`` of the precision (single for float32, double for float64)."""
    from scipy.linalg import blas

    return blas.sgemm if np.dtype(dtype) == np.float32 else blas.dgemm


def _pad_nhwc(x: np.ndarray, before: tuple[int, int], after: tuple[int, int]) -> np.ndarray:
    """``(B, H, W, C)`` (any strides) zero-padded on the two spatial axes, as a new contiguous
    array."""
    b, h, w, c = x.shape
    out = np.zeros((b, h + before[0] + after[0], w + before[1] + after[1], c), dtype=x.dtype)
    out[:, before[0] : before[0] + h, before[1] : before[1] + w, :] = x
    return out


def _taps(kernel, stride, out_hw):
    """``(i, j, row slice, column slice)`` of every kernel tap in a padded input."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    return [(i, j, slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def _im2col_nhwc(xp: np.ndarray, kernel, stride, out_hw, *, tap_major: bool) -> np.ndarray:
    """im2col of a padded channels-last input: ``(B * Ho * Wo, C * kh * kw)`` rows of patches, the
    columns in ``(ky, kx, c)`` order if ``tap_major`` else in the canonical ``(c, ky, kx)``."""
    b, _, _, c = xp.shape
    (kh, kw), (ho, wo) = kernel, out_hw
    shape = (b, ho, wo, kh, kw, c) if tap_major else (b, ho, wo, c, kh, kw)
    cols = np.empty(shape, dtype=xp.dtype)
    for i, j, rs, cs in _taps(kernel, stride, out_hw):
        if tap_major:
            cols[:, :, :, i, j, :] = xp[:, rs, cs, :]
        else:
            cols[..., i, j] = xp[:, rs, cs, :]
    return cols.reshape(b * ho * wo, c * kh * kw)


class ReLURNN(WeightLayer):
    """Elman RNN with ReLU, ``h_t = relu([x_t, s q(h_{t-1})] @ (W * M))``, ``h_0 = 0``, no bias.

    The input and recurrent matrices are stacked into one ``(input_size + hidden, hidden)`` matrix,
    which is how one crossbar computes a step (inputs and fed-back state on the word lines); the
    hook's ``x2d`` is the step's word-line input ``[x_t, s q(h_{t-1})]``. Input
    ``(B, T, input_size)``, output all states ``(B, T, hidden)``: the quantised states ``q(h_t)``,
    or with ``raw_output`` the states before the quantiser (the source study's spoken-digit code
    averages those, and quantises only the state it feeds back). The study's spoken-digit network
    uses a ReLU-RNN 32 -> 128 with a 3-bit state (arXiv 2311.07164).

    Parameters
    ----------
    input_size, hidden_size : int
    k : float
        Kept fraction of the top-k mask.
    state_bits : int or None
        Quantise the fed-back state to this many bits; None: no quantiser.
    state_max : float
        Full scale of the fixed state quantiser (set by :meth:`rramsim.nn.Network.calibrate`).
    state_scale : float
        Digital gain ``s`` on the fed-back state (> 0; 1 = plain Elman). With one weight scale for
        the stacked matrix, ``s = sqrt(input_size / hidden_size)`` gives the recurrent block the
        scale of its own fan-in (the study scales the two blocks separately); :meth:`bound_state`
        instead makes the recurrence contract.
    state_mode : {"fixed", "minmax", "quantile"}
        Levels of the state quantiser (as :class:`Quantize`): a fixed range ``[0, state_max]``
        with the gradient 1 inside it, or levels recomputed from each step's batch of states.
    state_levels : sequence of float, optional
        Per-batch modes: fixed levels for inference (:func:`rramsim.nn.quant.calibrate_levels`).
    state_inference : {"batch", "fixed"}, optional
        Per-batch modes: the levels evaluation uses (default "fixed" when ``state_levels`` are
        given, else "batch").
    state_grad : {"ste", "levels"}
        Per-batch modes: gradient through the state quantiser. "ste" passes it unchanged;
        "levels" (quantile mode only) is the study's software code, whose state quantiser is
        differentiated by autograd: the gradient of all states that went to a level reaches only
        the state that level was read from.
    raw_output : bool
        Output the states before the quantiser (the last step's state is then not quantised:
        nothing reads it).
    """

    def __init__(self, input_size, hidden_size, *, k=0.5, state_bits=None, state_max=1.0,  # noqa: PLR0913 - one keyword per field of the network file's layer spec
                 state_scale=1.0, state_mode="fixed", state_levels=None, state_inference=None,
                 state_grad="ste", raw_output=False):
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        super().__init__(self.input_size + self.hidden_size, self.hidden_size, k=k)
        if state_bits is not None:
            quantize(np.zeros(1), state_bits, state_max)  # validates
        if not (np.isfinite(state_scale) and state_scale > 0):
            raise LayerError(f"state_scale must be > 0, got {state_scale!r}")
        if state_mode not in QUANT_MODES:
            raise LayerError(f"state_mode must be one of {QUANT_MODES}, got {state_mode!r}")
        if state_grad not in ("ste", "levels") or (state_grad == "levels"
                                                    and state_mode != "quantile"):
            raise LayerError(f"state_grad must be 'ste', or 'levels' with state_mode 'quantile'; "
                             f"got {state_grad!r} with {state_mode!r}")
        self.state_bits = None if state_bits is None else int(state_bits)
        self.state_max, self.state_scale = float(state_max), float(state_scale)
        self.state_mode, self.state_grad, self.raw_output = state_mode, state_grad, bool(raw_output)
        if state_mode == "fixed" and (state_levels is not None
                                      or state_inference not in (None, "fixed")):
            raise LayerError("a fixed-range state quantiser has no level table")
        self.state_levels = (None if state_levels is None or self.state_bits is None
                             else _check_levels(state_levels, self.state_bits))
        if state_inference is None:
            state_inference = ("fixed" if state_mode == "fixed" or self.state_levels is not None
                               else "batch")
        if state_inference not in ("batch", "fixed") or (
                state_inference == "fixed" and state_mode != "fixed" and self.state_levels is None
                and self.state_bits is not None):
            raise LayerError(f"state_inference must be 'batch' or 'fixed' (with state_levels), got "
                             f"{state_inference!r}")
        self.state_inference = state_inference
        self.recorded: list | None = None  # filled by calibrate_levels

    @property
    def per_batch(self) -> bool:
        """Whether the state quantiser's levels follow each batch in training."""
        return self.state_bits is not None and self.state_mode != "fixed"

    # the attributes calibrate_levels sets, under the names Quantize uses
    @property
    def levels(self):
        return self.state_levels

    @levels.setter
    def levels(self, value):
        self.state_levels = value

    @property
    def inference(self):
        return self.state_inference

    @inference.setter
    def inference(self, value):
        self.state_inference = value

    def output_shape(self, shape):
        t, f = shape
        if f != self.input_size:
            raise LayerError(f"ReLURNN expects {self.input_size} features, got {f}")
        return (t, self.hidden_size)

    def bound_state(self, gain: float = 0.5) -> float:
        """Set :attr:`state_scale` so that ``s ||W_hh * M_hh||_2 <= gain`` (no change if already):
        then ``||h_t|| <= ||input drive|| / (1 - gain)`` for every t, since ReLU does not increase
        the norm. Returns the new scale."""
        rec = self.effective_weight()[self.input_size :]
        norm = float(np.linalg.norm(rec, 2))
        self.state_scale = min(1.0, gain / norm) if norm > 0 else 1.0
        return self.state_scale

    def _quantise_state(self, h, train):
        """``(q(h), (source positions, level of each value)`` or None)`` for one step."""
        if self.state_mode == "fixed":
            return quantize(h, self.state_bits, self.state_max), None
        if not (train or self.state_inference == "batch"):
            return nearest_level(h, np.asarray(self.state_levels, dtype=h.dtype)), None
        if self.state_mode == "minmax":
            q, levels = batch_quantize(h, self.state_bits, "minmax")
            route = None
        else:
            levels, src = quantile_levels(h, self.state_bits, return_index=True)
            q, which = nearest_level(h, levels, return_index=True)
            route = (src, which) if train and self.state_grad == "levels" else None
        if self.recorded is not None:
            self.recorded.append(levels)
        return q, route

    def forward(self, x, *, train, matmul):
        x = _floating(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise LayerError(f"ReLURNN expects (B, T, {self.input_size}), got {x.shape}")
        b, t, _ = x.shape
        w = self._weight_for(x)
        h = np.zeros((b, self.hidden_size), dtype=x.dtype)
        zs, ins, hs, routes = [], [], [], []
        scale = x.dtype.type(self.state_scale)
        for step in range(t):
            u = np.concatenate([x[:, step], h * scale if self.state_scale != 1.0 else h], axis=1)
            z = self._product(matmul, u, w)
            h = np.maximum(z, 0.0)
            raw = h
            route = None
            if self.state_bits is not None and not (self.raw_output and step == t - 1):
                h, route = self._quantise_state(h, train)
            ins.append(u)
            zs.append(z)
            routes.append(route)
            hs.append(raw if self.raw_output else h)
        if train:
            self._ins, self._zs, self._routes = ins, zs, routes
        return np.stack(hs, axis=1)

    def _state_grad(self, g_q, z, route):
        """Gradient w.r.t. the state before the quantiser from that w.r.t. the quantised state."""
        if self.state_bits is None:
            return g_q
        if self.state_mode == "fixed":
            return g_q * (z <= self.state_max)
        if route is None:  # straight through
            return g_q
        src, which = route
        sums = np.bincount(which.ravel(), weights=g_q.ravel(), minlength=len(src))
        g = np.zeros(g_q.size, dtype=g_q.dtype)
        np.add.at(g, src, sums.astype(g_q.dtype))
        return g.reshape(g_q.shape)

    def backward(self, grad):
        w = self._weight_for(grad)
        b, t, _ = grad.shape
        gx = np.zeros((b, t, self.input_size), dtype=grad.dtype)
        gh = np.zeros((b, self.hidden_size), dtype=grad.dtype)
        gw = np.zeros_like(w)
        for step in range(t - 1, -1, -1):
            z = self._zs[step]
            if self.raw_output:
                g_raw = grad[:, step] + self._state_grad(gh, z, self._routes[step])
            else:
                g_raw = self._state_grad(grad[:, step] + gh, z, self._routes[step])
            gz = g_raw * (z > 0)
            gw += self._ins[step].T @ gz
            gu = gz @ w.T
            gx[:, step] = gu[:, : self.input_size]
            gh = gu[:, self.input_size :]
            if self.state_scale != 1.0:
                gh = gh * grad.dtype.type(self.state_scale)
        self._accumulate(gw)
        return gx


class ReLU(Layer):
    """Rectifier ``max(x, 0)``."""

    def forward(self, x, *, train, matmul):
        if train:
            self._pos = x > 0
        return np.maximum(x, 0.0)

    def backward(self, grad):
        return grad * self._pos

    def output_shape(self, shape):
        return shape


class MaxPool2d(Layer):
    """Non-overlapping max pooling of size ``p`` (trailing rows/columns that do not fill a window
    are dropped, as in PyTorch's default)."""

    def __init__(self, size: int = 2) -> None:
        if size < 1:
            raise LayerError(f"pool size must be >= 1, got {size}")
        self.size = int(size)

    def output_shape(self, shape):
        c, h, w = shape
        return (c, h // self.size, w // self.size)

    def _views(self, a: np.ndarray, ho: int, wo: int):
        """The ``p * p`` strided views of the window positions, row-major within the window."""
        p = self.size
        return [a[:, :, i : ho * p : p, j : wo * p : p] for i in range(p) for j in range(p)]

    def forward(self, x, *, train, matmul):
        b, c, h, w = x.shape
        p = self.size
        ho, wo = h // p, w // p
        if ho < 1 or wo < 1:
            raise LayerError(f"MaxPool2d({p}) on input {x.shape[2:]}")
        views = self._views(x, ho, wo)
        out = views[0].copy()
        arg = np.zeros(out.shape, dtype=np.int8 if p * p < 128 else np.int32)
        for t, v in enumerate(views[1:], start=1):
            better = v > out  # strict: the first maximum in the window wins, as argmax
            np.copyto(out, v, where=better)
            arg[better] = t
        if train:
            self._arg, self._xshape = arg, x.shape
        return out

    def backward(self, grad):
        b, c, h, w = self._xshape
        p = self.size
        ho, wo = h // p, w // p
        gx = np.zeros(self._xshape, dtype=grad.dtype)
        for t, v in enumerate(self._views(gx, ho, wo)):
            np.multiply(grad, self._arg == t, out=v)
        return gx


class BatchNorm(Layer):
    """Batch normalisation, non-affine by default (edge-popup's) or affine (``gamma x_hat + beta``).

    Normalises over every axis but the channel axis 1 (``(B, C)`` or ``(B, C, H, W)``) with batch
    statistics in training and running statistics (exponential average, ``momentum``; the unbiased
    batch variance, as PyTorch) otherwise. With ``affine=True`` the per-channel scale ``gamma``
    (initially 1) and shift ``beta`` (initially 0) are trained beside the scores (the study's U-Net
    does, arXiv 2311.07164: its code leaves PyTorch's affine batch norm trainable); after
    :meth:`backward` their gradients are in ``grad_gamma`` and ``grad_beta``.
    """

    def __init__(self, channels: int, *, momentum: float = 0.1, eps: float = 1e-5,
                 affine: bool = False) -> None:
        if not 0.0 < momentum <= 1.0 or eps <= 0:
            raise LayerError("BatchNorm needs 0 < momentum <= 1 and eps > 0")
        if int(channels) != channels or channels < 1:
            raise LayerError(f"BatchNorm needs channels >= 1, got {channels!r}")
        self.channels, self.momentum, self.eps = int(channels), float(momentum), float(eps)
        self.affine = bool(affine)
        self.running_mean = np.zeros(self.channels)
        self.running_var = np.ones(self.channels)
        self.gamma = np.ones(self.channels)
        self.beta = np.zeros(self.channels)
        self.grad_gamma: np.ndarray | None = None
        self.grad_beta: np.ndarray | None = None

    def output_shape(self, shape):
        if shape[0] != self.channels:
            raise LayerError(f"BatchNorm expects {self.channels} channels, got {shape[0]}")
        return shape

    def _axes(self, x):
        return (0,) + tuple(range(2, x.ndim))

    def _bshape(self, x):
        return (1, self.channels) + (1,) * (x.ndim - 2)

    def _stats(self, x):
        """Per-channel mean and (biased) variance in one pass over ``x`` (float64 sums of a
        float32 input: no cancellation in ``E[x^2] - E[x]^2`` at these magnitudes)."""
        if x.ndim == 4:
            b, c, h, w = x.shape
            x3 = x.reshape(b, c, h * w)
            s1 = np.einsum("bcp->c", x3, dtype=np.float64)
            s2 = np.einsum("bcp,bcp->c", x3, x3, dtype=np.float64)
            n = b * h * w
        else:
            s1 = x.sum(axis=0, dtype=np.float64)
            s2 = np.einsum("bc,bc->c", x, x, dtype=np.float64)
            n = x.shape[0]
        mean = s1 / n
        return mean, np.maximum(s2 / n - mean * mean, 0.0), n

    def forward(self, x, *, train, matmul):
        if x.shape[1] != self.channels:
            raise LayerError(f"BatchNorm expects {self.channels} channels, got {x.shape}")
        bs = self._bshape(x)
        if train:
            mean, var, n = self._stats(x)
            unbiased = var * n / max(n - 1, 1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        else:
            mean, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        # one fused pass: y = x * a + c with a = gamma * inv, c = beta - mean * a
        a = inv * self.gamma if self.affine else inv
        c = (self.beta if self.affine else 0.0) - mean * a
        y = x * a.astype(x.dtype).reshape(bs)
        y += c.astype(x.dtype).reshape(bs)
        if train:
            self._x, self._mean, self._inv = x, mean, inv
        return y

    def backward(self, grad):
        axes, bs = self._axes(grad), self._bshape(grad)
        x, dt = self._x, grad.dtype
        n = grad.size // self.channels
        # per-channel sums of grad and grad * x_hat, x_hat = (x - mean) * inv, without forming x_hat
        if grad.ndim == 4:
            b, c, h, w = grad.shape
            g3, x3 = grad.reshape(b, c, h * w), x.reshape(b, c, h * w)
            sg = np.einsum("bcp->c", g3, dtype=np.float64)
            sgx = np.einsum("bcp,bcp->c", g3, x3, dtype=np.float64)
        else:
            sg = grad.sum(axis=axes, dtype=np.float64)
            sgx = np.einsum("bc,bc->c", grad, x, dtype=np.float64)
        sgxhat = (sgx - self._mean * sg) * self._inv
        scale = self._inv * self.gamma if self.affine else self._inv
        if self.affine:
            self.grad_gamma, self.grad_beta = sgxhat, sg
        # dx = scale * (g - mean(g) - x_hat * mean(g x_hat)) = g * scale + x * k1 + k0
        k1 = -scale * self._inv * sgxhat / n
        k0 = -scale * sg / n - self._mean * k1
        gx = grad * scale.astype(dt).reshape(bs)
        gx += x * k1.astype(dt).reshape(bs)
        gx += k0.astype(dt).reshape(bs)
        return gx


class Flatten(Layer):
    """``(B, ...) -> (B, prod(...))`` in C order."""

    def forward(self, x, *, train, matmul):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._shape)

    def output_shape(self, shape):
        return (int(np.prod(shape)),)


class Quantize(Layer):
    """n-bit quantiser of activations with a straight-through gradient.

    ``mode`` picks the levels (see :mod:`rramsim.nn.quant`):

    * ``"fixed"`` (default): ``2**bits`` uniform levels on ``[0, x_max]``
      (:func:`rramsim.nn.quant.quantize`), gradient 1 inside the range and 0 outside; ``x_max`` is
      given or set from data by :meth:`rramsim.nn.Network.calibrate` (``calibrate=True``).
    * ``"minmax"``: uniform levels between the batch's minimum and maximum, recomputed for every
      batch (the source study's Fashion-MNIST, U-Net and hardware spoken-digit code).
    * ``"quantile"``: levels at the batch's quantiles, recomputed for every batch (the study's
      software spoken-digit code, "un-uni").

    The per-batch modes pass the gradient straight through unchanged (the study assigns the
    quantised values to ``x.data``). In training they always use the batch's levels; in evaluation
    ``inference`` says which: ``"batch"`` (as the study evaluates) or ``"fixed"``, the ``levels``
    fixed after training by :func:`rramsim.nn.quant.calibrate_levels` (a chip's DAC has fixed levels).

    Parameters
    ----------
    bits : int
    x_max : float
        Full scale of the fixed mode (1.0 for inputs scaled to [0, 1]); unused by the others.
    mode : {"fixed", "minmax", "quantile"}
    calibrate : bool
        Fixed mode: whether :meth:`rramsim.nn.Network.calibrate` may set ``x_max`` from data.
    signed : bool
        Per-batch modes: the values may be negative (no ReLU before the quantiser); False takes the
        study's after-ReLU variant of the levels. The fixed mode is unsigned.
    levels : sequence of float, optional
        Per-batch modes: the ``2**bits`` ascending fixed levels for inference.
    inference : {"batch", "fixed"}, optional
        Per-batch modes: the levels evaluation uses; default ``"fixed"`` when ``levels`` are given,
        else ``"batch"``. The fixed mode: always ``"fixed"``.
    """

    def __init__(self, bits: int, x_max: float = 1.0, *, mode: str = "fixed",
                 calibrate: bool = False, signed: bool = False, levels=None,
                 inference: str | None = None) -> None:
        quantize(np.zeros(1), bits, x_max)  # validates bits and x_max
        if mode not in QUANT_MODES:
            raise LayerError(f"Quantize mode must be one of {QUANT_MODES}, got {mode!r}")
        if mode == "fixed" and (signed or levels is not None or inference not in (None, "fixed")):
            raise LayerError("a fixed-range Quantize is unsigned, has no level table and infers "
                             "with its range (signed, levels and inference are for the per-batch "
                             "modes)")
        if mode != "fixed" and calibrate:
            raise LayerError("calibrate=True sets a fixed range; a per-batch Quantize fixes its "
                             "levels with rramsim.nn.quant.calibrate_levels")
        self.bits, self.x_max, self.calibrate = int(bits), float(x_max), bool(calibrate)
        self.mode, self.signed = mode, bool(signed)
        self.levels = None if levels is None else _check_levels(levels, self.bits)
        if inference is None:
            inference = "fixed" if (mode == "fixed" or self.levels is not None) else "batch"
        if inference not in ("batch", "fixed"):
            raise LayerError(f"Quantize inference must be 'batch' or 'fixed', got {inference!r}")
        if inference == "fixed" and mode != "fixed" and self.levels is None:
            raise LayerError("inference='fixed' needs the fixed levels")
        self.inference = inference
        self.recorded: list | None = None  # filled by calibrate_levels

    @property
    def per_batch(self) -> bool:
        """Whether the levels follow each batch in training (modes "minmax" and "quantile")."""
        return self.mode != "fixed"

    def forward(self, x, *, train, matmul):
        if train:
            self._x = x
        if self.mode == "fixed":
            return quantize(x, self.bits, self.x_max)
        if train or self.inference == "batch":
            q, levels = batch_quantize(x, self.bits, self.mode, signed=self.signed)
            if self.recorded is not None:
                self.recorded.append(levels)
            return q
        return nearest_level(x, np.asarray(self.levels, dtype=x.dtype))

    def backward(self, grad):
        if self.mode == "fixed":
            return quantize_grad(self._x, grad, self.x_max)
        return grad

    def output_shape(self, shape):
        return shape


def _check_levels(levels, bits: int) -> tuple:
    lv = np.asarray(levels, dtype=float)
    if lv.shape != (2**bits,) or not np.all(np.isfinite(lv)) or np.any(np.diff(lv) < 0):
        raise LayerError(f"levels must be {2**bits} finite ascending values for {bits} bits, got "
                         f"{np.shape(levels)}")
    return tuple(float(v) for v in lv)


class ToSequence(Layer):
    """``(B, C, F, T) -> (B, T, C)``: mean over the frequency axis F, time along the last axis.

    Joins the spoken-digit network's convolutions to its RNN (the reduction over frequency is this
    project's judgement; the study gives only the layer sizes).
    """

    def forward(self, x, *, train, matmul):
        self._f = x.shape[2]
        self._shape = x.shape
        return x.mean(axis=2).transpose(0, 2, 1)

    def backward(self, grad):
        g = grad.transpose(0, 2, 1)[:, :, None, :] / self._f
        return np.broadcast_to(g, self._shape).copy()

    def output_shape(self, shape):
        c, _, t = shape
        return (t, c)


class TimeMean(Layer):
    """``(B, T, H) -> (B, H)``: mean over time (study's spoken-digit network)."""

    def forward(self, x, *, train, matmul):
        self._shape = x.shape
        return x.mean(axis=1)

    def backward(self, grad):
        return np.broadcast_to(grad[:, None, :] / self._shape[1], self._shape).copy()

    def output_shape(self, shape):
        return (shape[1],)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` linear-interpolation matrix with aligned corners.

    Output sample ``i`` sits at input coordinate ``i * (n_in - 1) / (n_out - 1)`` (the first and
    last samples of input and output coincide), interpolated linearly between its two neighbours.
    """
    a = np.zeros((n_out, n_in))
    if n_in == 1 or n_out == 1:
        a[:, 0] = 1.0
        return a
    pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = pos - lo
    rows = np.arange(n_out)
    a[rows, lo] = 1.0 - frac
    a[rows, lo + 1] += frac
    return a


class Upsample2x(Layer):
    """Bilinear up-sampling by 2 with aligned corners, ``(B, C, H, W) -> (B, C, 2H, 2W)``.

    ``y = A_H x A_W^T`` per channel with the interpolation matrices of :func:`_bilinear_matrix`
    (the "bilinear, align_corners" up-sampling of the common U-Net variant, Ronneberger et al.,
    MICCAI 2015, with transposed convolutions replaced by interpolation); no weights. The
    backward pass is the transpose, ``A_H^T g A_W``.
    """

    def output_shape(self, shape):
        c, h, w = shape
        return (c, 2 * h, 2 * w)

    def _mats(self, h, w, dtype):
        key = (h, w, np.dtype(dtype).str)
        if getattr(self, "_key", None) != key:
            self._key = key
            self._ah = _bilinear_matrix(h, 2 * h).astype(dtype)
            self._aw = _bilinear_matrix(w, 2 * w).T.astype(dtype)  # (w, 2w)
        return self._ah, self._aw

    def forward(self, x, *, train, matmul):
        if x.ndim != 4:
            raise LayerError(f"Upsample2x expects (B, C, H, W), got shape {x.shape}")
        ah, aw = self._mats(x.shape[2], x.shape[3], x.dtype)
        return ah @ (x @ aw)

    def backward(self, grad):
        h, w = grad.shape[2] // 2, grad.shape[3] // 2
        ah, aw = self._mats(h, w, grad.dtype)
        return ah.T @ (grad @ aw.T)


class Stash(Layer):
    """Keeps its input under ``name`` for a later :class:`Concat` (a U-Net skip); identity.

    The network binds every stash and concat layer to one per-network store; in the backward pass
    the gradient that reached the stashed tensor through the concat is added to the gradient of
    the main path.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise LayerError(f"Stash needs a non-empty name, got {name!r}")
        self.name = name
        self.store: dict = {}

    def forward(self, x, *, train, matmul):
        self.store[self.name] = x
        return x

    def backward(self, grad):
        skip = self.store.pop(self.name + "/grad", None)
        return grad if skip is None else grad + skip

    def output_shape(self, shape):
        return shape


class Concat(Layer):
    """Channel concatenation ``[stashed, x]`` along axis 1 with the tensor stashed under ``name``.

    The stashed tensor comes first (as in the U-Net's ``cat([skip, upsampled])``); its spatial size
    must equal the input's.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise LayerError(f"Concat needs a non-empty name, got {name!r}")
        self.name = name
        self.store: dict = {}
        self.skip_shape: tuple[int, ...] | None = None

    def output_shape(self, shape):
        if self.skip_shape is None:
            raise LayerError(f"Concat({self.name!r}) has no Stash({self.name!r}) before it")
        if tuple(self.skip_shape[1:]) != tuple(shape[1:]):
            raise LayerError(f"Concat({self.name!r}): stashed shape {self.skip_shape} and input "
                             f"shape {shape} differ beyond the channel axis")
        return (self.skip_shape[0] + shape[0], *shape[1:])

    def forward(self, x, *, train, matmul):
        if self.name not in self.store:
            raise LayerError(f"Concat({self.name!r}): nothing stashed under that name")
        skip = self.store.pop(self.name)
        if skip.shape[0] != x.shape[0] or skip.shape[2:] != x.shape[2:]:
            raise LayerError(f"Concat({self.name!r}): stashed {skip.shape} vs input {x.shape}")
        if train:
            self._c = skip.shape[1]
        return np.concatenate([skip, x.astype(skip.dtype, copy=False)], axis=1)

    def backward(self, grad):
        self.store[self.name + "/grad"] = grad[:, : self._c]
        return grad[:, self._c :]
