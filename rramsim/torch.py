"""PyTorch in and out: :func:`from_torch` and :func:`to_torch` (optional extra ``rramsim[torch]``).

``from_torch(module, input_shape)`` turns a PyTorch model into a :class:`rramsim.nn.Network` that
computes the same function (evaluation mode), so the whole of rramsim (mapping, circuit-accurate
inference, ``rramsim compare``) runs it. The model is traced with ``torch.fx`` (an
``nn.Sequential`` is its chain of children); what can be mapped:

========================================  =================================================
PyTorch                                   rramsim
========================================  =================================================
``Conv2d`` (no bias, groups 1)            :class:`~rramsim.nn.Conv2d`
``Linear`` (no bias)                      :class:`~rramsim.nn.Dense`
``RNN(nonlinearity="relu")``, 1 layer,    :class:`~rramsim.nn.ReLURNN` (input and hidden
no bias, ``h0`` zero                      blocks stacked)
``BatchNorm1d/2d`` (affine or not)        :class:`~rramsim.nn.BatchNorm` (an affine BN with
                                          ``weight > 0`` folded into its running statistics)
``MaxPool2d(p)`` (stride p, no padding)   :class:`~rramsim.nn.MaxPool2d`
``ReLU``, ``Flatten``                     :class:`~rramsim.nn.ReLU`, :class:`~rramsim.nn.Flatten`
``Upsample(x2, bilinear,                  :class:`~rramsim.nn.Upsample2x`
align_corners=True)``
``torch.cat([skip, x], 1)``               :class:`~rramsim.nn.Stash` / :class:`~rramsim.nn.Concat`
``squeeze`` or ``mean`` of a height-1     :class:`~rramsim.nn.ToSequence`
axis, ``transpose``/``permute``
``mean`` over time                        :class:`~rramsim.nn.TimeMean`
========================================  =================================================

Anything else raises :class:`~rramsim.errors.LayerError` naming the layer. The source study's
supermask layers (arXiv 2311.07164; edge-popup, Ramanujan et al., CVPR 2020: a fixed ``weight``
and a trainable ``scores`` of the same shape; the study's recurrent layer has ``ih_scores`` and
``hh_scores``) become weight layers with ``trainable = "scores"`` whose mask is the top-k of
``|scores|`` at the given ``k`` exactly as their forward pass computes it (ascending sort, the
lowest ``int((1 - k) n)`` pruned).

``to_torch(network)`` builds a ``torch.nn.Module`` with the same function (effective weights
``W * M``; software mode), for fine-tuning or export. ``.pt`` files are read only through
:func:`load_pt`, ``torch.load(..., weights_only=True)``: a file that needs anything more (a pickled
class, a function call) is refused with :class:`~rramsim.errors.DataError` and nothing in it runs.

PyTorch is imported when these functions run, never by ``import rramsim``.
"""

from __future__ import annotations

import operator

import numpy as np

from rramsim.devmodel.measured import load_pt_safely
from rramsim.errors import DataError, LayerError
from rramsim.nn import layers as L
from rramsim.nn.network import Network


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise DataError("rramsim.torch needs PyTorch: pip install 'rramsim[torch]'") from exc
    return torch


def measured_pairs(network: Network, source, *, read: int = 0):
    """Give ``network`` (e.g. from :func:`from_torch`) the pairs of measured read-outs
    (``source``: a ``.npz`` / ``.pt`` path or :class:`~rramsim.devmodel.measured.MeasuredReads`):
    each weight keeps its sign and mask, its magnitude becomes its pair's ``G_1 / scale`` at
    ``read``. Returns the :class:`~rramsim.devmodel.measured.MeasuredNetwork` (for
    :func:`rramsim.nn.save_network_file`'s ``device``); the network's weights are set from it."""
    from rramsim.nn import _device

    signs = [np.where(la.weight < 0, -1, 1) for la in network.weight_layers]
    device = _device.measured_pairs(network, source, signs=signs, read=read)
    for la, d in zip(network.weight_layers, device.layers, strict=True):
        d.programmed = la.mask.copy()
    network.set_weights(device.weights())
    return device


def load_pt(path):
    """Read a ``.pt`` file with ``torch.load(path, weights_only=True)`` (tensors and plain
    containers only); anything else is a :class:`DataError` and nothing of the file runs."""
    return load_pt_safely(path)


# ----------------------------------------------------------------------------------- supermasks
def supermask(scores, k: float) -> np.ndarray:
    """The study's top-k mask of ``scores`` (a torch tensor): sort ``|scores|`` ascending, prune
    the first ``int((1 - k) n)``, keep the rest (GetSubnet of edge-popup)."""
    torch = _torch()
    if not 0.0 < k <= 1.0:
        raise LayerError(f"kept fraction k must be in (0, 1], got {k!r}")
    flat = scores.detach().abs().flatten()
    _, idx = flat.sort()
    out = torch.ones_like(flat, dtype=torch.bool)
    out[idx[: int((1 - k) * flat.numel())]] = False
    return out.reshape(scores.shape).cpu().numpy()


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _no_bias(mod, name):
    if getattr(mod, "bias", None) is not None:
        raise LayerError(f"layer {name!r} ({type(mod).__name__}) has a bias; rramsim's crossbar "
                         "layers have none (build it with bias=False)")


def _weight_and_mask(mod, name, k):
    w = _np(mod.weight)
    if getattr(mod, "scores", None) is not None:
        return w, supermask(mod.scores, k), _np(mod.scores), "scores"
    return w, np.ones(w.shape, bool), np.zeros(w.shape), "weights"


def _conv(mod, name, k):
    torch = _torch()
    _no_bias(mod, name)
    pad = mod.padding
    if pad == "valid":
        pad = (0, 0)
    if (mod.groups != 1 or tuple(mod.dilation) != (1, 1) or isinstance(pad, str)
            or mod.padding_mode != "zeros" or not isinstance(mod, torch.nn.Conv2d)):
        raise LayerError(f"layer {name!r}: only Conv2d with groups 1, dilation 1 and numeric zero "
                         f"padding maps onto a crossbar (got {mod!r})")
    layer = L.Conv2d(mod.in_channels, mod.out_channels, tuple(mod.kernel_size),
                     stride=tuple(mod.stride), padding=tuple(pad), k=k)
    w, m, s, mode = _weight_and_mask(mod, name, k)
    o = mod.out_channels
    _fill(layer, w.reshape(o, -1).T, m.reshape(o, -1).T, s.reshape(o, -1).T, mode)
    return layer


def _linear(mod, name, k):
    _no_bias(mod, name)
    layer = L.Dense(mod.in_features, mod.out_features, k=k)
    w, m, s, mode = _weight_and_mask(mod, name, k)
    _fill(layer, w.T, m.T, s.T, mode)
    return layer


def _rnn(mod, name, k):
    if (mod.mode != "RNN_RELU" or mod.num_layers != 1 or mod.bias or mod.bidirectional
            or getattr(mod, "proj_size", 0)):
        raise LayerError(f"layer {name!r}: only a one-layer, one-directional RNN with "
                         f"nonlinearity='relu' and bias=False maps (got {mod!r})")
    layer = L.ReLURNN(mod.input_size, mod.hidden_size, k=k)
    wi, wh = _np(mod.weight_ih_l0), _np(mod.weight_hh_l0)
    w = np.concatenate([wi.T, wh.T], axis=0)
    si, sh = getattr(mod, "ih_scores", None), getattr(mod, "hh_scores", None)
    if si is not None and sh is not None:
        m = np.concatenate([supermask(si, k).T, supermask(sh, k).T], axis=0)
        _fill(layer, w, m, np.concatenate([_np(si).T, _np(sh).T], axis=0), "scores")
    else:
        _fill(layer, w, np.ones(w.shape, bool), np.zeros(w.shape), "weights")
    return layer


def _fill(layer, w, m, s, mode):
    layer.weight = np.ascontiguousarray(w, dtype=float)
    layer.mask = np.ascontiguousarray(m, dtype=bool)
    layer.scores = np.ascontiguousarray(s, dtype=float)
    layer.trainable = mode


def _batchnorm(mod, name):
    if mod.running_mean is None or mod.running_var is None:
        raise LayerError(f"layer {name!r}: BatchNorm without running statistics "
                         "(track_running_stats=False) cannot run in evaluation mode")
    mean, var, eps = _np(mod.running_mean), _np(mod.running_var), float(mod.eps)
    if mod.affine:
        g, b = _np(mod.weight), _np(mod.bias)
        if np.any(g <= 0):
            raise LayerError(f"layer {name!r}: an affine BatchNorm maps only with weight > 0 "
                             f"(folded into the running statistics); {int(np.sum(g <= 0))} "
                             "channels have weight <= 0")
        # g (x - mean) / sqrt(var + eps) + b == (x - mean') / sqrt(var' + eps)
        sd = np.sqrt(var + eps)
        mean, var = mean - b * sd / g, (var + eps) / g**2 - eps
        if np.any(var < 0):
            raise LayerError(f"layer {name!r}: weight too large to fold into a variance "
                             "(weight^2 > (var + eps) / eps)")
    layer = L.BatchNorm(mod.num_features, momentum=float(mod.momentum or 0.1), eps=eps)
    layer.running_mean, layer.running_var = mean, var
    return layer


def _maxpool(name, kernel, stride, padding, dilation, ceil_mode, return_indices):
    def one(v):
        if isinstance(v, (tuple, list)):
            return int(v[0]) if len(set(v)) == 1 else None
        return int(v)

    p = one(kernel)
    s = p if stride is None or stride == () or stride == [] else one(stride)
    if p is None or s != p or one(padding) != 0 or one(dilation) != 1 or ceil_mode \
            or return_indices:
        raise LayerError(f"layer {name!r}: only MaxPool2d(p) with stride p, no padding, dilation "
                         "1, floor mode maps onto rramsim.nn.MaxPool2d")
    return L.MaxPool2d(p)


def _upsample(name, scale, mode, align_corners, size=None, in_hw=None):
    two = scale is not None and all(float(v) == 2.0 for v in
                                    (scale if isinstance(scale, (tuple, list)) else (scale,)))
    if size is not None and in_hw is not None:
        want = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        two = tuple(want) == (2 * in_hw[0], 2 * in_hw[1])
    if mode != "bilinear" or not align_corners or not two:
        raise LayerError(f"layer {name!r}: only bilinear x2 up-sampling with align_corners=True "
                         f"maps onto rramsim.nn.Upsample2x (got mode={mode!r}, "
                         f"align_corners={align_corners!r}, scale {scale!r})")
    return L.Upsample2x()


# ------------------------------------------------------------------------------------- tracing
def _tracer():
    torch = _torch()
    nn = torch.nn
    leaves = (nn.Conv2d, nn.Linear, nn.RNNBase, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool2d,
              nn.ReLU, nn.Flatten, nn.Upsample, nn.Identity, nn.Dropout)

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return isinstance(m, leaves) or super().is_leaf_module(m, qualname)

    return Tracer()


class _Converter:
    """Walks the traced graph and emits rramsim layers; the running tensor is tracked as the
    rramsim tensor ``rr`` with ``torch_tensor == rr.permute(perm)``."""

    def __init__(self, gm, values, k):
        self.gm, self.values, self.k = gm, values, k
        self.layers: list = []
        self.cur = None
        self.perm: tuple = ()
        self.stashed: dict = {}
        self.modules = dict(gm.named_modules())

    # -- helpers
    def _name(self, node):
        return str(node.target) if node.op == "call_module" else node.name

    def _tensor_inputs(self, node):
        torch = _torch()
        found = []

        def visit(a):
            if isinstance(a, torch.fx.Node):
                if isinstance(self.values.get(a), torch.Tensor):
                    found.append(a)
            elif isinstance(a, (list, tuple)):
                for b in a:
                    visit(b)
            elif isinstance(a, dict):
                for b in a.values():
                    visit(b)

        visit(node.args)
        visit(node.kwargs)
        return found

    def _need_main(self, node, *, image=False, identity=True):
        ins = self._tensor_inputs(node)
        if len(ins) != 1 or ins[0] is not self.cur:
            raise LayerError(f"layer {self._name(node)!r}: takes {[n.name for n in ins]}, but "
                             "rramsim runs one chain (with U-Net concatenation skips) and the "
                             f"running tensor is {getattr(self.cur, 'name', None)!r}")
        if identity and self.perm != tuple(range(len(self.perm))):
            raise LayerError(f"layer {self._name(node)!r}: its input is a permuted view "
                             f"{self.perm} of the running tensor, which rramsim cannot map")
        if image and len(self.perm) != 4:
            raise LayerError(f"layer {self._name(node)!r} needs a (B, C, H, W) input")

    def _shape(self, node):
        return tuple(self.values[node].shape)

    def _arg(self, node, i, key, default=None):
        if len(node.args) > i:
            return node.args[i]
        return node.kwargs.get(key, default)

    def emit(self, node, *layers, perm=None):
        self.layers.extend(layers)
        self.cur = node
        if perm is not None:
            self.perm = perm
        if any(u.target in (torch_cat(), "cat") and u.args and isinstance(u.args[0], (list, tuple))
               and node in u.args[0][:-1] for u in node.users):
            name = f"skip_{node.name}"
            self.layers.append(L.Stash(name))
            self.stashed[node] = name

    # -- the walk
    def run(self):
        torch = _torch()
        for node in self.gm.graph.nodes:
            v = self.values.get(node)
            if node.op == "placeholder":
                if self.cur is not None:
                    raise LayerError(f"input {node.name!r}: only one tensor input is mapped")
                self.emit(node, perm=tuple(range(v.dim())))
            elif node.op == "output":
                out = node.args[0]
                if out is not self.cur or self.perm != tuple(range(len(self.perm))):
                    raise LayerError("the model's output is not the running tensor in (B, ...) "
                                     "layout; rramsim maps single-output chains")
            elif node.op == "get_attr":
                raise LayerError(f"{node.target!r}: parameters used directly in forward() cannot "
                                 "be mapped; use a module")
            elif isinstance(v, tuple) and node.op == "call_module":
                self._call_module(node)  # an RNN's (output, h_n)
            elif node.op == "call_function" and node.target is operator.getitem and \
                    isinstance(self.values.get(node.args[0]), tuple):
                self._rnn_item(node)
            elif not isinstance(v, torch.Tensor):
                continue  # sizes and other constants of the fixed input shape
            elif node.op == "call_module":
                self._call_module(node)
            else:
                self._call_op(node)
        return self.layers

    def _rnn_item(self, node):
        src, i = node.args
        if i == 0:
            if src is not self.cur:
                raise LayerError(f"{node.name!r}: output of {src.name!r}, not the running tensor")
            self.emit(node)
        elif node.users:
            raise LayerError(f"{node.name!r}: the RNN's final state h_n is used; rramsim maps "
                             "the output sequence only")

    def _call_module(self, node):  # noqa: C901 - one dispatch over the mappable modules
        torch = _torch()
        nn = torch.nn
        mod = self.modules[node.target]
        name = str(node.target)
        if isinstance(mod, (nn.Identity, nn.Dropout)):
            self._need_main(node, identity=False)
            return self.emit(node)
        if isinstance(mod, nn.RNNBase):
            return self._rnn_call(node, mod, name)
        if isinstance(mod, nn.Conv2d):
            self._need_main(node, image=True)
            return self.emit(node, _conv(mod, name, self.k))
        if isinstance(mod, nn.Linear):
            self._need_main(node)
            if len(self.perm) != 2:
                raise LayerError(f"layer {name!r}: Linear on a {len(self.perm)}-D tensor; rramsim "
                                 "maps Linear on (B, features)")
            return self.emit(node, _linear(mod, name, self.k))
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self._need_main(node)
            if len(self.perm) not in (2, 4):
                raise LayerError(f"layer {name!r}: BatchNorm on a {len(self.perm)}-D tensor")
            return self.emit(node, _batchnorm(mod, name))
        if isinstance(mod, nn.MaxPool2d):
            self._need_main(node, image=True)
            return self.emit(node, _maxpool(name, mod.kernel_size, mod.stride, mod.padding,
                                            mod.dilation, mod.ceil_mode, mod.return_indices))
        if isinstance(mod, nn.ReLU):
            self._need_main(node, identity=False)
            return self.emit(node, L.ReLU())
        if isinstance(mod, nn.Flatten):
            self._need_main(node)
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise LayerError(f"layer {name!r}: only Flatten(1, -1) maps")
            return self._flatten(node)
        if isinstance(mod, nn.Upsample):
            self._need_main(node, image=True)
            return self.emit(node, _upsample(name, mod.scale_factor, mod.mode, mod.align_corners,
                                             mod.size, self._shape(node.args[0])[2:]))
        raise LayerError(f"layer {name!r} ({type(mod).__name__}) has no rramsim counterpart")

    def _rnn_call(self, node, mod, name):
        ins = self._tensor_inputs(node)
        if len(ins) != 1 or ins[0] is not self.cur:
            raise LayerError(f"layer {name!r}: an RNN maps with its input sequence only (h0 = 0)")
        want = (0, 1, 2) if mod.batch_first else (1, 0, 2)
        if self.perm != want:
            raise LayerError(f"layer {name!r}: its input is not a sequence in the layout "
                             f"batch_first={mod.batch_first} expects")
        self.layers.append(_rnn(mod, name, self.k))
        self.cur = node

    def _flatten(self, node):
        if len(self.perm) == 2:
            return self.emit(node)
        return self.emit(node, L.Flatten(), perm=(0, 1))

    def _call_op(self, node):  # noqa: C901, PLR0912 - one dispatch over the mappable functions
        torch = _torch()
        F = torch.nn.functional
        t, name = node.target, node.name
        if t in (F.relu, torch.relu, "relu", "relu_"):
            self._need_main(node, identity=False)
            return self.emit(node, L.ReLU())
        if t in (torch.cat, "cat"):
            return self._cat(node)
        if t in ("contiguous", F.dropout) or (t is F.pad and not any(self._arg(node, 1, "pad"))):
            self._need_main(node, identity=False)
            return self.emit(node)
        if t is F.max_pool2d:
            self._need_main(node, image=True)
            a = [self._arg(node, i, key, d) for i, key, d in
                 ((1, "kernel_size", None), (2, "stride", None), (3, "padding", 0),
                  (4, "dilation", 1), (5, "ceil_mode", False), (6, "return_indices", False))]
            return self.emit(node, _maxpool(name, *a))
        if t is F.interpolate:
            self._need_main(node, image=True)
            return self.emit(node, _upsample(
                name, self._arg(node, 2, "scale_factor"), self._arg(node, 3, "mode", "nearest"),
                self._arg(node, 4, "align_corners"), self._arg(node, 1, "size"),
                self._shape(node.args[0])[2:]))
        if t in (torch.flatten, "flatten", "view", "reshape"):
            self._need_main(node, identity=False)
            shp = self._shape(node)
            if shp == self._shape(node.args[0]):
                return self.emit(node)
            if self.perm == tuple(range(len(self.perm))) and len(shp) == 2:
                return self._flatten(node)
            raise LayerError(f"{name!r}: reshape to {shp} has no rramsim counterpart")
        if t in (torch.transpose, "transpose", "permute", torch.permute):
            self._need_main(node, identity=False)
            return self.emit(node, perm=self._permuted(node))
        if t in (torch.squeeze, "squeeze", torch.mean, "mean"):
            return self._reduce(node)
        raise LayerError(f"{name!r} ({getattr(t, '__name__', t)}) has no rramsim counterpart")

    def _permuted(self, node):
        n = len(self.perm)
        if node.target in (torch_transpose(), "transpose"):
            a, b = (int(x) % n for x in node.args[1:3])
            p = list(range(n))
            p[a], p[b] = p[b], p[a]
        else:
            dims = node.args[1:] if node.target == "permute" else node.args[1]
            if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
                dims = dims[0]
            p = [int(d) % n for d in dims]
        return tuple(self.perm[i] for i in p)

    def _reduce(self, node):
        """squeeze of the height-1 axis or mean over it (-> ToSequence), mean over time
        (-> TimeMean)."""
        self._need_main(node, identity=False)
        before, after = self._shape(node.args[0]), self._shape(node)
        n = len(self.perm)
        gone = [d for d in range(n) if len(after) == n - 1
                and before[:d] + before[d + 1:] == after]
        if node.target in ("mean", torch_mean()):
            dim = self._arg(node, 1, "dim")
            dim = dim[0] if isinstance(dim, (list, tuple)) and len(dim) == 1 else dim
            if not isinstance(dim, int) or self._arg(node, 2, "keepdim", False):
                raise LayerError(f"{node.name!r}: only a mean over one axis without keepdim maps")
            gone = [dim % n]
        elif node.target in ("squeeze", torch_squeeze()):
            gone = [d for d in gone if before[d] == 1][:1]
        if n == 4 and self.perm == (0, 1, 2, 3) and gone == [2]:
            # (B, C, F, T) -> torch (B, C, T) == rr (B, T, C) permuted by (0, 2, 1)
            return self.emit(node, L.ToSequence(), perm=(0, 2, 1))
        if n == 3 and gone and self.perm[gone[0]] == 1 and node.target in ("mean", torch_mean()):
            return self.emit(node, L.TimeMean(), perm=(0, 1))
        raise LayerError(f"{node.name!r}: {node.target} over axis {gone} of a tensor laid out as "
                         f"{self.perm} has no rramsim counterpart (height-1 squeeze / mean over "
                         "height, mean over time)")

    def _cat(self, node):
        seq = node.args[0]
        dim = self._arg(node, 1, "dim", 0)
        if len(self.perm) != 4 or self.perm != (0, 1, 2, 3) or dim % 4 != 1 or len(seq) != 2:
            raise LayerError(f"{node.name!r}: only cat([skip, x], dim=1) of two (B, C, H, W) "
                             "tensors maps (a U-Net skip)")
        skip, main = seq
        if main is not self.cur or skip not in self.stashed:
            raise LayerError(f"{node.name!r}: cat must take an earlier tensor first and the "
                             "running one second (cat([skip, x], 1)); rramsim's Concat puts the "
                             "skip first")
        self.emit(node, L.Concat(self.stashed.pop(skip)))


def torch_cat():
    return _torch().cat


def torch_transpose():
    return _torch().transpose


def torch_mean():
    return _torch().mean


def torch_squeeze():
    return _torch().squeeze


def _record(gm, example):
    torch = _torch()
    values: dict = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            values[n] = out
            return out

    with torch.no_grad():
        Recorder(gm).run(example)
    return values


def from_torch(module, input_shape, *, k: float = 0.5, name: str | None = None) -> Network:
    """A :class:`rramsim.nn.Network` computing ``module``'s function in evaluation mode.

    Parameters
    ----------
    module : torch.nn.Module
        ``nn.Sequential`` or a module whose forward is a chain of the layers in the module
        docstring (U-Net concatenation skips allowed). Put in evaluation mode.
    input_shape : tuple of int
        Per-sample input shape, e.g. ``(1, 28, 28)``.
    k : float
        Kept fraction of the supermask layers' top-k masks (the study: 0.5).
    name : str, optional
        Network name (default: the module's class name).

    Raises
    ------
    LayerError
        A layer or operation that cannot be mapped (the message names it).
    """
    torch = _torch()
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise LayerError(f"input_shape must be positive integers, got {input_shape!r}")
    module.eval()
    try:
        graph = _tracer().trace(module)
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError on data flow)
        raise LayerError(f"{type(module).__name__}: torch.fx cannot trace its forward ({exc}); "
                         "rramsim maps chains of standard layers") from exc
    gm = torch.fx.GraphModule(module, graph)
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    example = torch.randn((2, *shape), dtype=dtype, generator=torch.Generator().manual_seed(0))
    values = _record(gm, example)
    layers = _Converter(gm, values, k).run()
    return Network(layers, input_shape=shape, name=name or type(module).__name__)


# ---------------------------------------------------------------------------------- to_torch
def _quantize_module(torch, bits, x_max):
    steps = 2**bits - 1

    class Quantize(torch.nn.Module):
        """rramsim.nn.quant.quantize: ``round(clip(x, 0, x_max) steps / x_max) x_max / steps``."""

        def forward(self, x):
            return torch.round(torch.clamp(x, 0.0, x_max) * (steps / x_max)) * (x_max / steps)

    return Quantize()


def _torch_layer(torch, la, shape):  # noqa: C901, PLR0911 - one case per layer type
    nn = torch.nn
    tensor = torch.as_tensor
    if isinstance(la, L.Conv2d):
        m = nn.Conv2d(la.in_channels, la.out_channels, la.kernel, stride=la.stride,
                      padding=la.padding, bias=False)
        w = la.effective_weight().T.reshape(la.out_channels, la.in_channels, *la.kernel)
        m.weight.data = tensor(np.ascontiguousarray(w), dtype=torch.float32)
        return m
    if isinstance(la, L.Dense):
        m = nn.Linear(la.fan_in, la.fan_out, bias=False)
        m.weight.data = tensor(np.ascontiguousarray(la.effective_weight().T), dtype=torch.float32)
        return m
    if isinstance(la, L.ReLURNN):
        return _rnn_module(torch, la)
    if isinstance(la, L.BatchNorm):
        m = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(
            la.channels, eps=la.eps, momentum=la.momentum, affine=False)
        m.running_mean.data = tensor(la.running_mean, dtype=torch.float32)
        m.running_var.data = tensor(la.running_var, dtype=torch.float32)
        return m
    if isinstance(la, L.MaxPool2d):
        return nn.MaxPool2d(la.size)
    if isinstance(la, L.ReLU):
        return nn.ReLU()
    if isinstance(la, L.Flatten):
        return nn.Flatten()
    if isinstance(la, L.Upsample2x):
        return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    if isinstance(la, L.Quantize):
        return _quantize_module(torch, la.bits, la.x_max)
    if isinstance(la, (L.ToSequence, L.TimeMean, L.Stash, L.Concat)):
        return nn.Identity()  # done by the forward of _Sequential
    raise LayerError(f"layer {type(la).__name__} has no PyTorch counterpart in to_torch")


def _rnn_module(torch, la):
    ni = la.input_size
    w = la.effective_weight()
    scale, bits, x_max = la.state_scale, la.state_bits, la.state_max
    if scale == 1.0 and bits is None:  # a plain Elman ReLU-RNN: PyTorch's own
        m = torch.nn.RNN(ni, la.hidden_size, nonlinearity="relu", bias=False, batch_first=True)
        m.weight_ih_l0.data = torch.as_tensor(w[:ni].T.copy(), dtype=torch.float32)
        m.weight_hh_l0.data = torch.as_tensor(w[ni:].T.copy(), dtype=torch.float32)
        return m
    quant = None if bits is None else _quantize_module(torch, bits, x_max)

    class StackedReLURNN(torch.nn.Module):
        """``h_t = q(relu([x_t, s h_{t-1}] @ W))``, ``h_0 = 0`` (rramsim.nn.ReLURNN)."""

        def __init__(self):
            super().__init__()
            self.weight_ih = torch.nn.Parameter(torch.as_tensor(w[:ni].T.copy(),
                                                                dtype=torch.float32))
            self.weight_hh = torch.nn.Parameter(torch.as_tensor(w[ni:].T.copy(),
                                                                dtype=torch.float32))

        def forward(self, x):  # (B, T, input)
            h = x.new_zeros((x.shape[0], self.weight_hh.shape[0]))
            out = []
            for t in range(x.shape[1]):
                h = torch.relu(x[:, t] @ self.weight_ih.T + (scale * h) @ self.weight_hh.T)
                if quant is not None:
                    h = quant(h)
                out.append(h)
            return torch.stack(out, dim=1)

    return StackedReLURNN()


def to_torch(network: Network):
    """A ``torch.nn.Module`` computing ``network.forward`` (evaluation mode, software).

    Weight layers carry the effective weights ``W * M``; batch norms their running statistics;
    quantisers, the sequence reshapes and the skips their rramsim definitions. Returned in
    evaluation mode, float32 (``.double()`` for float64).
    """
    torch = _torch()
    shapes, shape = [], network.input_shape
    for la in network.layers:
        shapes.append(shape)
        shape = la.output_shape(shape)
    mods = [_torch_layer(torch, la, s) for la, s in zip(network.layers, shapes, strict=True)]
    kinds = [type(la).__name__ for la in network.layers]
    names = [getattr(la, "name", "") for la in network.layers]

    class RramsimNetwork(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(mods)

        def forward(self, x):
            store = {}
            for kind, name, m in zip(kinds, names, self.layers, strict=True):
                if kind == "ToSequence":
                    x = x.mean(dim=2).transpose(1, 2)
                elif kind == "TimeMean":
                    x = x.mean(dim=1)
                elif kind == "Stash":
                    store[name] = x
                elif kind == "Concat":
                    x = torch.cat([store.pop(name), x], dim=1)
                elif isinstance(m, torch.nn.RNN):
                    x = m(x)[0]
                else:
                    x = m(x)
            return x

    return RramsimNetwork().eval()
