"""Random-weight networks pruned by edge-popup, with real data (the source study's learning rule).

The source study ("Pruning random resistive memory for optimizing analogue AI", arXiv 2311.07164)
keeps the random conductances of electroformed RRAM as weights and learns only which to keep:
edge-popup (Ramanujan et al., "What's hidden in a randomly weighted neural network?", CVPR 2020)
with a top-k mask per layer, a straight-through estimator and a flip limiter.

Main entry points
-----------------
- :class:`Network` with :meth:`Network.forward` (pluggable per-layer ``matmul`` hook for
  circuit-accurate inference) and :meth:`Network.effective_weights`;
- :mod:`rramsim.nn.architectures`: :func:`mlp`, :func:`fashion_mnist_cnn`,
  :func:`spoken_digit_net`, :func:`unet` (the DRIVE U-Net: :class:`Upsample2x`,
  :class:`Stash` / :class:`Concat` skips, per-pixel :func:`softmax_cross_entropy`),
  :func:`unet_weight_count`;
- :func:`train` / :class:`TrainConfig`, :class:`FlipLimiter`, :func:`topk_mask`, :func:`quantize`;
- :class:`DeviceNetwork` (weights from ``devmodel.form``), :func:`program_precise` (baseline);
- :mod:`rramsim.nn.data`: :func:`load_digits`, :func:`load_fashion_mnist`, :func:`load_fsdd`;
- :func:`save_network_file` / :func:`load_network_file` (:class:`NetworkFile`): the whole network
  in one ``.npz`` that :func:`rramsim.mapper.load_network` also reads;
- :func:`run_prune` (the ``rramsim prune`` experiment).

Nothing here imports scikit-learn, scipy.io or tqdm at import time.
"""

from rramsim.nn.architectures import (
    fashion_mnist_cnn,
    mlp,
    spoken_digit_net,
    unet,
    unet_conv_shapes,
    unet_weight_count,
)
from rramsim.nn.data import Dataset, load_digits, load_fashion_mnist, load_fsdd, read_idx
from rramsim.nn.experiment import ExperimentConfig, run_prune
from rramsim.nn.hardware import (
    DeviceNetwork,
    PreciseProgramming,
    SignedConstantScaling,
    program_precise,
)
from rramsim.nn.layers import (
    BatchNorm,
    Concat,
    Conv2d,
    Dense,
    Flatten,
    MaxPool2d,
    Quantize,
    ReLU,
    ReLURNN,
    Stash,
    TimeMean,
    ToSequence,
    Upsample2x,
    ideal_matmul,
)
from rramsim.nn.masks import FlipLimiter, limited_update, topk_mask
from rramsim.nn.netfile import NetworkFile, load_network_file, save_network_file
from rramsim.nn.network import Network, softmax, softmax_cross_entropy
from rramsim.nn.quant import quantize
from rramsim.nn.train import TrainConfig, TrainResult, cosine_lr, train

__all__ = [
    "BatchNorm", "Concat", "Conv2d", "Dataset", "Dense", "DeviceNetwork", "ExperimentConfig",
    "Flatten", "FlipLimiter", "MaxPool2d", "Network", "NetworkFile", "PreciseProgramming",
    "Quantize", "ReLU", "ReLURNN", "SignedConstantScaling", "Stash", "TimeMean", "ToSequence",
    "TrainConfig", "TrainResult", "Upsample2x", "cosine_lr", "fashion_mnist_cnn", "ideal_matmul",
    "limited_update", "load_digits", "load_fashion_mnist", "load_fsdd", "load_network_file", "mlp",
    "program_precise", "quantize", "read_idx", "run_prune", "save_network_file", "softmax",
    "softmax_cross_entropy", "spoken_digit_net", "topk_mask", "train", "unet", "unet_conv_shapes",
    "unet_weight_count",
]
