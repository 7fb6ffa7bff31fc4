"""A sequential network of fixed-weight layers and the forward API for circuit-accurate inference.

Forward API (for studies that replace the ideal products by crossbar-solved ones)::

    net.weight_layers                  # the layers with a (fan_in, fan_out) weight matrix
    net.effective_weights()            # [W * M for each weight layer], (fan_in, fan_out) each
    net.forward(x)                     # ideal inference (eval mode: BN running statistics)
    net.forward(x, matmul=f)           # f(layer_index, x2d, w) -> y2d replaces every x2d @ w

``layer_index`` is the position in ``net.weight_layers`` (and in the lists given to the mapper);
``x2d`` is ``(rows, fan_in)`` (a batch, a batch of im2col patches, or one RNN step's
``[x_t, h_{t-1}]``), ``w`` the effective ``(fan_in, fan_out)`` matrix; ``f`` must return
``(rows, fan_out)``. Activations, pooling, BN and quantisers stay digital, as on the study's FPGA
(arXiv 2311.07164).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rramsim.nn.layers import (
    Concat,
    Conv2d,
    Layer,
    LayerError,
    MatMul,
    Quantize,
    ReLURNN,
    Stash,
    WeightLayer,
    ideal_matmul,
)
from rramsim.nn.masks import topk_mask


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax along ``axis`` (the class axis: 1 for ``(B, classes)`` and ``(B, classes, H, W)``)."""
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient w.r.t. ``logits``, classes on axis 1.

    Classification: ``logits (B, classes)``, ``labels (B,)``. Segmentation: ``logits
    (B, classes, H, W)``, ``labels (B, H, W)``, the mean taken over every pixel (the per-pixel
    2-class cross-entropy of the U-Net).

    Parameters
    ----------
    logits : ndarray, (B, classes, ...)
    labels : ndarray of int, (B, ...)

    Returns
    -------
    loss : float
    grad : ndarray, same shape as ``logits``
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise LayerError(f"labels of shape {labels.shape} for logits of shape {logits.shape}")
    moved = np.moveaxis(logits, 1, -1)
    flat = moved.reshape(-1, logits.shape[1])
    lab = labels.reshape(-1).astype(np.intp)
    if lab.size and (lab.min() < 0 or lab.max() >= logits.shape[1]):
        raise LayerError(f"labels must be in [0, {logits.shape[1]}), got {lab.min()}..{lab.max()}")
    z = flat - flat.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = flat.shape[0]
    rows = np.arange(n)
    loss = -float(logp[rows, lab].mean())
    grad = np.exp(logp)
    grad[rows, lab] -= 1.0
    grad /= n
    grad = np.moveaxis(grad.reshape(moved.shape), -1, 1)
    return loss, grad


class Network:
    """A sequential network whose weight layers hold fixed weights, scores and top-k masks.

    Skip connections (the U-Net's) are layers too: :class:`~rramsim.nn.layers.Stash` keeps a
    tensor under a name, a later :class:`~rramsim.nn.layers.Concat` of the same name joins it to
    the main path along the channel axis; the network binds both to one per-forward store.

    Parameters
    ----------
    layers : sequence of Layer
    input_shape : tuple of int
        Per-sample input shape (e.g. ``(64,)`` or ``(1, 28, 28)``); checked through every layer.
    name : str
        Architecture name (recorded in exports).

    Attributes
    ----------
    dtype : numpy dtype
        Compute precision of :meth:`forward` (float64 by default; training of the large tasks
        switches to float32, see :class:`rramsim.nn.TrainConfig`). Parameters stay float64.

    Notes
    -----
    Edge-popup (Ramanujan et al., CVPR 2020) as used by the source study (arXiv 2311.07164).
    """

    def __init__(self, layers: Sequence[Layer], *, input_shape: tuple[int, ...], name: str) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.name = name
        self.dtype = np.dtype(np.float64)
        # skip connections: every Stash/Concat shares this per-network store (one forward pass
        # fills it, the matching Concat empties it; backward passes the skip gradient through it)
        self._store: dict = {}
        stashed: dict[str, tuple[int, ...]] = {}
        shape = self.input_shape
        # the largest per-sample working array (an activation or an im2col matrix), for batching
        self.sample_elements = int(np.prod(shape))
        for layer in self.layers:
            if isinstance(layer, (Stash, Concat)):
                layer.store = self._store
            if isinstance(layer, Concat):
                if layer.name not in stashed:
                    raise LayerError(f"{name}: Concat({layer.name!r}) has no Stash before it")
                layer.skip_shape = stashed[layer.name]
            if isinstance(layer, Conv2d):
                _, ho, wo = layer.output_shape(shape)
                self.sample_elements = max(self.sample_elements, ho * wo * layer.fan_in)
            shape = layer.output_shape(shape)
            self.sample_elements = max(self.sample_elements, int(np.prod(shape)))
            if isinstance(layer, Stash):
                if layer.name in stashed:
                    raise LayerError(f"{name}: two Stash layers named {layer.name!r}")
                stashed[layer.name] = shape
        self.output_shape = shape
        self.weight_layers: list[WeightLayer] = [
            la for la in self.layers if isinstance(la, WeightLayer)
        ]
        for i, la in enumerate(self.weight_layers):
            la.index = i
            # nothing before the first weight layer has parameters: skip its input gradient
            la.needs_input_grad = i > 0

    @property
    def n_weights(self) -> int:
        """Number of weights (= differential cell pairs) over all weight layers."""
        return sum(la.n_weights for la in self.weight_layers)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of each weight layer."""
        return [(la.fan_in, la.fan_out) for la in self.weight_layers]

    def effective_weights(self) -> list[np.ndarray]:
        """``W * M`` of each weight layer, ``(fan_in, fan_out)``, as new arrays."""
        return [la.effective_weight() for la in self.weight_layers]

    def masks(self) -> list[np.ndarray]:
        """Copies of the current masks."""
        return [la.mask.copy() for la in self.weight_layers]

    # -- parameters ---------------------------------------------------------------------------
    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Set every weight layer's weights (copied); shapes must match :attr:`shapes`."""
        if len(weights) != len(self.weight_layers):
            raise LayerError(f"{len(weights)} weight arrays for {len(self.weight_layers)} layers")
        for la, w in zip(self.weight_layers, weights, strict=True):
            w = np.asarray(w, dtype=float)
            if w.shape != (la.fan_in, la.fan_out) or not np.all(np.isfinite(w)):
                raise LayerError(
                    f"layer {la.index}: weights of shape {w.shape} (need {(la.fan_in, la.fan_out)},"
                    " finite)"
                )
            la.weight = w.copy()

    def init_scores(self, *, rng: np.random.Generator, a: float = 0.0) -> None:
        """Draw scores (Kaiming-uniform, bound ``sqrt(6 / ((1 + a^2) fan_in))``) and set the top-k
        masks.

        Edge-popup initialises scores with Kaiming-uniform (Ramanujan et al., CVPR 2020); ``a`` is
        PyTorch's negative slope: the study's code draws them with ``kaiming_uniform_(scores,
        a=sqrt(5))``, bound ``1 / sqrt(fan_in)`` (arXiv 2311.07164's public code). The scale matters
        to Adam, whose steps have a fixed size: the smaller the scores, the sooner masks flip.
        """
        if not (np.isfinite(a) and a >= 0):
            raise LayerError(f"init_scores: a must be a finite number >= 0, got {a!r}")
        for la in self.weight_layers:
            bound = np.sqrt(6.0 / ((1.0 + a * a) * la.fan_in))
            la.scores = rng.uniform(-bound, bound, size=(la.fan_in, la.fan_out))
            la.trainable = "scores"
            la.mask = topk_mask(la.scores, la.k)

    def make_dense(self, *, rng: np.random.Generator) -> None:
        """Switch to conventional training: Kaiming-normal trainable weights, all-ones masks."""
        for la in self.weight_layers:
            la.weight = rng.normal(0.0, np.sqrt(2.0 / la.fan_in), size=(la.fan_in, la.fan_out))
            la.mask = np.ones((la.fan_in, la.fan_out), dtype=bool)
            la.trainable = "weights"

    # -- passes -------------------------------------------------------------------------------
    def forward(
        self, x: np.ndarray, *, train: bool = False, matmul: MatMul | None = None
    ) -> np.ndarray:
        """Run the network on a batch ``x`` of shape ``(B, *input_shape)``.

        Parameters
        ----------
        x : ndarray
            Input batch (not modified).
        train : bool
            Training mode: BN uses batch statistics (and updates its running ones) and the layers
            keep what :meth:`backward` needs.
        matmul : callable, optional
            ``matmul(layer_index, x2d, w) -> y2d`` replacing each weight layer's ``x2d @ w``.

        Returns
        -------
        ndarray
            ``(B, *output_shape)``, the logits for the classifiers.
        """
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[1:] != self.input_shape:
            raise LayerError(f"{self.name}: input shape {x.shape[1:]} != {self.input_shape}")
        mm = ideal_matmul if matmul is None else matmul
        self._store.clear()
        for layer in self.layers:
            x = layer.forward(x, train=train, matmul=mm)
        self._store.clear()
        return x

    def backward(self, grad: np.ndarray) -> None:
        """Back-propagate ``dL/d(output)``; afterwards each weight layer's ``grad`` is set."""
        for la in self.weight_layers:
            la.zero_grad()
        self._store.clear()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
            if grad is None:  # the first weight layer: nothing below has parameters
                break
        self._store.clear()
        for la in self.weight_layers:
            la.finish_grad()

    def loss_and_grad(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Forward in training mode, cross-entropy loss, backward; returns the loss."""
        logits = self.forward(x, train=True)
        loss, g = softmax_cross_entropy(logits, np.asarray(labels))
        self.backward(g)
        return loss

    def batch_size_for(self, budget_bytes: float = 256e6, *, cap: int = 512) -> int:
        """Samples per batch so that the largest working array (an activation or an im2col matrix,
        float64) stays within ``budget_bytes``: between 1 and ``cap``."""
        return int(max(1, min(cap, budget_bytes // (8 * self.sample_elements))))

    def calibrate(
        self,
        x: np.ndarray,
        *,
        percentile: float = 99.9,
        batch_size: int | None = None,
        max_values: int = 4_000_000,
    ) -> list[float]:
        """Set the full scale of every calibratable :class:`Quantize` layer from data.

        Each such quantiser gets ``x_max`` = the ``percentile`` of the (positive) values reaching it
        when ``x`` runs through the network in evaluation mode, so the n-bit DAC range covers the
        activations (layer-wise range calibration; a judgement, the study gives only the bits);
        a :class:`~rramsim.nn.layers.ReLURNN` with a state quantiser gets ``state_max`` from its
        own states, computed with that quantiser off.
        Quantisers are calibrated in network order (each sees the ones before it already set),
        ``x`` runs through in batches of ``batch_size`` (default :meth:`batch_size_for`), and at
        most about ``max_values`` values per quantiser are kept: when more reach it, every
        ``s``-th positive value of each batch is kept (``s`` from the first batch's count;
        deterministic). Below that bound the result is
        the exact percentile over all of ``x``.

        Returns
        -------
        list of float
            The new ``x_max`` of each calibrated quantiser, in network order.
        """
        if not 0.0 < percentile <= 100.0:
            raise LayerError(f"percentile must be in (0, 100], got {percentile!r}")
        if batch_size is None:
            batch_size = min(1000, self.batch_size_for())
        if batch_size < 1 or max_values < 1:
            raise LayerError("batch_size and max_values must be >= 1")
        if x.shape[1:] != self.input_shape:
            raise LayerError(f"{self.name}: input shape {x.shape[1:]} != {self.input_shape}")
        targets = [j for j, la in enumerate(self.layers)
                   if (isinstance(la, Quantize) and la.calibrate)
                   or (isinstance(la, ReLURNN) and la.state_bits is not None
                       and la.state_mode == "fixed")]
        out = []
        n = len(x)
        for j in targets:
            kept, stride = [], 0
            for start in range(0, n, batch_size):
                h = np.asarray(x[start : start + batch_size], dtype=self.dtype)
                self._store.clear()
                for layer in self.layers[:j]:
                    h = layer.forward(h, train=False, matmul=ideal_matmul)
                target = self.layers[j]
                if isinstance(target, ReLURNN):  # its own states, unquantised
                    bits, target.state_bits = target.state_bits, None
                    try:
                        h = target.forward(h, train=False, matmul=ideal_matmul)
                    finally:
                        target.state_bits = bits
                pos = h[h > 0]
                if not stride:
                    estimate = pos.size * n / max(len(h), 1)
                    stride = max(1, int(np.ceil(estimate / max_values)))
                kept.append(pos[::stride] if stride > 1 else pos)
            self._store.clear()
            pos = np.concatenate(kept) if kept else np.zeros(0)
            value = float(np.percentile(pos, percentile)) if pos.size else 1.0
            setattr(self.layers[j], "state_max" if isinstance(self.layers[j], ReLURNN) else "x_max",
                    value)
            out.append(value)
        return out

    def predict(
        self, x: np.ndarray, *, matmul: MatMul | None = None, batch_size: int | None = None
    ) -> np.ndarray:
        """Class predictions (argmax over the class axis 1 of the logits) in evaluation mode, in
        batches of ``batch_size`` (default :meth:`batch_size_for`: at most 512, less where the
        im2col matrices are large; per-pixel classes for a segmentation network)."""
        if batch_size is None:
            batch_size = self.batch_size_for()
        out = [
            self.forward(x[i : i + batch_size], matmul=matmul).argmax(axis=1)
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=int)

    def accuracy(
        self, x: np.ndarray, labels: np.ndarray, *, matmul: MatMul | None = None
    ) -> float:
        """Fraction of correct predictions."""
        return float(np.mean(self.predict(x, matmul=matmul) == np.asarray(labels)))
