"""The networks of the source study (arXiv 2311.07164) and a small MLP for the embedded digits set.

All are built without biases, with a top-k mask of fraction ``k`` on every weight layer
(edge-popup, Ramanujan et al., CVPR 2020), and an input quantiser of the study's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

from rramsim.nn.layers import (
    BatchNorm,
    Concat,
    Conv2d,
    Dense,
    Flatten,
    LayerError,
    MaxPool2d,
    Quantize,
    ReLU,
    ReLURNN,
    Stash,
    TimeMean,
    ToSequence,
    Upsample2x,
)
from rramsim.nn.network import Network

#: Weight counts the study gives for its networks.
FASHION_MNIST_WEIGHTS = 62_272
SPOKEN_DIGITS_WEIGHTS = 68_480


def mlp(
    n_inputs: int = 64,
    hidden: Sequence[int] = (256, 256),
    n_classes: int = 10,
    *,
    k: float = 0.5,
    input_bits: int | None = 4,
    activation_bits: int | None = None,
) -> Network:
    """Fully connected ReLU network ``n_inputs -> hidden... -> n_classes`` (no biases).

    The default suits scikit-learn's 8x8 digits (64 inputs in [0, 1], quantised to 4 bit).
    ``activation_bits`` adds a quantiser after every hidden ReLU (the next crossbar's DAC); its
    range is set by :meth:`Network.calibrate`.
    """
    if not hidden or min(hidden) < 1:
        raise LayerError(f"hidden sizes must be >= 1, got {hidden}")
    layers = [Quantize(input_bits)] if input_bits else []
    sizes = [n_inputs, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [Dense(a, b, k=k), ReLU()]
        if activation_bits:
            layers.append(Quantize(activation_bits, calibrate=True))
    layers.append(Dense(sizes[-1], n_classes, k=k))
    return Network(layers, input_shape=(n_inputs,), name="mlp-" + "-".join(map(str, sizes)))


def fashion_mnist_cnn(*, k: float = 0.5, input_bits: int | None = 4,
                      activation_bits: int | None = None, quant: str = "fixed") -> Network:
    """The study's Fashion-MNIST network, 62,272 weights, as its code builds it.

    28x28 -> maxpool 2 -> 4-bit -> conv 3x3 1->64 -> BN -> ReLU [-> 4-bit] -> conv 3x3 64->16 ->
    maxpool 2 -> BN -> ReLU [-> 4-bit] -> fc 400->128 -> ReLU [-> 4-bit] -> fc 128->10; no biases,
    no padding, BN non-affine (``CNN_FashionMNIST_TO/FashionMNIST_software_TO.py`` in the study's
    repository, lyd126/Pruning_random_resistive_memory_for_optimizing_analogue_AI). Input
    ``(B, 1, 28, 28)`` in [0, 1].

    ``quant="fixed"`` (default): the input quantiser on [0, 1] and, with ``activation_bits``, fixed
    activation ranges calibrated on the training set. ``quant="minmax"``: the study's per-batch
    min/max quantisers, the input one signed, with ``activation_bits`` (the study: 4) after every
    ReLU. The study normalises its inputs by the data set's mean and standard deviation; the
    first BN removes that affine map again, so it is left out.

    Changed from the earlier reading: the input quantiser now follows the first max-pool, as in the
    study's code (the same output for the fixed range, as max-pooling commutes with a monotone
    quantiser; not for per-batch levels, whose range the pooling changes).
    """
    if quant not in ("fixed", "minmax"):
        raise LayerError(f"quant must be 'fixed' or 'minmax', got {quant!r}")

    def q():
        if not activation_bits:
            return []
        if quant == "fixed":
            return [Quantize(activation_bits, calibrate=True)]
        return [Quantize(activation_bits, mode="minmax")]

    layers: list = [MaxPool2d(2)]
    if input_bits:
        layers.append(Quantize(input_bits) if quant == "fixed"
                      else Quantize(input_bits, mode="minmax", signed=True))
    layers += [
        Conv2d(1, 64, 3, k=k), BatchNorm(64), ReLU(), *q(),
        Conv2d(64, 16, 3, k=k), MaxPool2d(2), BatchNorm(16), ReLU(), *q(),
        Flatten(),
        Dense(400, 128, k=k), ReLU(), *q(),
        Dense(128, 10, k=k),
    ]
    name = "fashion-mnist-cnn" + (f"-a{activation_bits}-{quant}" if activation_bits else "")
    return Network(layers, input_shape=(1, 28, 28), name=name)


#: Activation quantisers of :func:`spoken_digit_net`, named after the source study's two scripts.
SPOKEN_QUANT = ("quantile", "minmax", "fixed")


def spoken_digit_net(*, k: float = 0.5, input_bits: int | None = 3,
                     activation_bits: int | None = 3, quant: str = "quantile") -> Network:
    """The study's spoken-digit CRNN, 68,480 weights, as its code builds it.

    Input ``(B, 1, 23, 20)`` in [0, 1] (the study's feature files, :func:`rramsim.nn.data.load_fsdd`).
    Layers (``CRNN_Spoken_Digit_TO/Spoken_digit_software_TO.py`` in the study's repository,
    lyd126/Pruning_random_resistive_memory_for_optimizing_analogue_AI)::

        3-bit input -> conv (3 x 2) 1->64, stride (2, 1) -> max-pool 2 -> BN -> ReLU -> 3-bit
        -> conv (3 x 2) 64->32, stride (2, 1) -> max-pool 2 -> BN -> squeeze (frequency axis is 1)
        -> 3-bit (signed) -> ReLU-RNN 32->128 over the 4 time steps, 3-bit fed-back state
        -> mean over time of the states -> 3-bit -> fc 128->256 -> ReLU -> 3-bit -> fc 256->10

    23 x 20 -> 11 x 19 -> 5 x 9 -> 2 x 8 -> 1 x 4. No biases, no padding; BN non-affine.
    ``quant`` picks the activation quantisers (``activation_bits`` of them; None: none):

    * ``"quantile"`` -- the software script: inputs uniform on [0, 1], the rest per-batch quantile
      levels; the RNN averages its unquantised states, the fed-back state's gradient reaches only
      the states the levels were read from (``state_grad="levels"``).
    * ``"minmax"`` -- the hardware script (``Spoken_digit_hardware_TO.py``): every quantiser
      per-batch min/max uniform, a ReLU after the second BN (its quantiser is unsigned), the
      fed-back state straight through.
    * ``"fixed"`` -- the hardware layer order with this package's fixed ranges, calibrated on the
      training set (:meth:`Network.calibrate`).

    The RNN's input and recurrent blocks share one weight scale (the fan-in of the input block);
    its ``state_scale = sqrt(32 / 128) = 0.5`` gives the recurrent block the scale of its own
    fan-in, as the study's separate scaling of the two blocks.

    Changed from this project's earlier reading (no pooling, no batch norm, conv2 without stride, a
    mean over frequency, 18 time steps, fixed ranges): the study's code has max-pooling and
    non-affine batch norm after both convolutions, stride (2, 1) on both, and reaches a frequency
    axis of 1, which it squeezes; the earlier network underfitted its training set (docs/nn.md,
    "Spoken digits").
    """
    if quant not in SPOKEN_QUANT:
        raise LayerError(f"quant must be one of {SPOKEN_QUANT}, got {quant!r}")
    ab = activation_bits
    hw = quant != "quantile"

    def q(signed=False):
        if not ab:
            return []
        if quant == "fixed":
            return [Quantize(ab, calibrate=True)]
        return [Quantize(ab, mode=quant, signed=signed)]

    if not input_bits:
        layers = []
    elif quant == "minmax":
        layers = [Quantize(input_bits, mode="minmax", signed=True)]
    else:
        layers = [Quantize(input_bits)]
    rnn = ReLURNN(32, 128, k=k, state_bits=ab, state_scale=0.5,
                  state_mode=quant if ab else "fixed",
                  state_grad="levels" if quant == "quantile" and ab else "ste",
                  raw_output=True)
    layers += [Conv2d(1, 64, (3, 2), stride=(2, 1), k=k), MaxPool2d(2), BatchNorm(64), ReLU(),
               *q(),
               Conv2d(64, 32, (3, 2), stride=(2, 1), k=k), MaxPool2d(2), BatchNorm(32),
               *([ReLU()] if hw else []), ToSequence(), *q(signed=not hw),
               rnn, TimeMean(), *q(signed=quant == "minmax"),
               Dense(128, 256, k=k), ReLU(), *q(),
               Dense(256, 10, k=k)]
    name = "spoken-digit-crnn" + (f"-a{ab}-{quant}" if ab else "")
    return Network(layers, input_shape=(1, 23, 20), name=name)


def unet_conv_shapes(base: int = 32, in_channels: int = 1, n_classes: int = 1) -> list[tuple]:
    """Weight shapes ``(out, in, kh, kw)`` of the DRIVE U-Net (bilinear up-sampling variant).

    Four down-sampling stages with double 3x3 convolutions (bias-free), bilinear up-sampling with the
    bottleneck and decoder channels halved, and a 1x1 output convolution: with ``base = 32`` and one
    input channel this has 4,313,408 weights, matching the study's "~4.3 M" (arXiv 2311.07164; the
    variant is this project's identification, the common "UNet(bilinear=True)" layout).
    """
    c = [base * 2**i for i in range(5)]  # 32, 64, 128, 256, 512

    def double(cin, cout, mid=None):
        mid = cout if mid is None else mid
        return [(mid, cin, 3, 3), (cout, mid, 3, 3)]

    shapes = double(in_channels, c[0])
    shapes += double(c[0], c[1]) + double(c[1], c[2]) + double(c[2], c[3])
    shapes += double(c[3], c[4] // 2)
    shapes += double(c[4], c[3] // 2, c[4] // 2)
    shapes += double(c[3], c[2] // 2, c[3] // 2)
    shapes += double(c[2], c[1] // 2, c[2] // 2)
    shapes += double(c[1], c[0], c[1] // 2)
    shapes.append((n_classes, c[0], 1, 1))
    return shapes


def unet_weight_count(base: int = 32, in_channels: int = 1, n_classes: int = 1) -> int:
    """Number of weights of :func:`unet_conv_shapes`."""
    total = 0
    for o, i, kh, kw in unet_conv_shapes(base, in_channels, n_classes):
        total += o * i * kh * kw
    return total


def unet(
    base: int = 32,
    in_channels: int = 1,
    n_classes: int = 2,
    *,
    k: float = 0.5,
    input_bits: int | None = 6,
    patch: int = 48,
) -> Network:
    """The study's DRIVE U-Net as a trainable :class:`Network` (weights as :func:`unet_conv_shapes`).

    As the study's code builds it (``UNET_DRIVE_TO/DRIVE_software_TO.py``, class ``UNet_ep`` with
    ``bilinear=True``, ``base_c=32``, one input channel, 2 classes; arXiv 2311.07164): every
    double convolution is ``[q, conv 3x3, BN, ReLU, q, conv 3x3, BN, ReLU]`` with padding 1,
    bias-free convolutions and affine batch norm; ``q`` is the 6-bit per-batch min/max quantiser
    (``Quantize(bits, mode="minmax", signed=True)``: the study calls its quantiser without
    ``after_relu``) in front of *every* convolution, the raw image's included.
    Encoder: the double convolution at full size, then four times max-pool 2 and a double
    convolution (channels ``base, 2 base, 4 base, 8 base``, bottleneck ``8 base``); decoder: four
    times bilinear up-sampling x2 (aligned corners), concatenation ``[skip, up-sampled]`` and a
    double convolution whose first convolution halves the channels; then ``q`` and a 1x1
    convolution to ``n_classes`` logits per pixel (the study applies softmax and the log-likelihood
    loss, i.e. the softmax cross-entropy of :func:`rramsim.nn.network.softmax_cross_entropy`).
    With ``base = 32``: 4,313,440 weights (4,313,408 in the 3x3 convolutions, 64 in the 1x1) and
    4,416 batch-norm parameters, 4,317,856 trainable values beside the scores' mask in all.

    Changed from this project's earlier reading: batch norm was non-affine (the study's is affine,
    its scale and shift trained with the scores), and only the input had a quantiser (fixed 6-bit
    levels on [0, 1]); the study quantises every convolution's input with per-batch min/max
    levels. The network is fully convolutional: ``patch`` is the training input size (the study
    trains on 48 x 48 crops); :func:`rramsim.nn.drive.sliding_window_predict` runs the same layers
    on 96 x 96 windows. ``patch`` must be a multiple of 16 (four poolings). ``input_bits=None``
    leaves every quantiser out.
    """
    if base < 1 or in_channels < 1 or n_classes < 1:
        raise LayerError(f"unet needs base, in_channels, n_classes >= 1, got {base}, {in_channels},"
                         f" {n_classes}")
    if patch < 16 or patch % 16:
        raise LayerError(f"unet patch size must be a multiple of 16, got {patch}")
    shapes = unet_conv_shapes(base, in_channels, n_classes)

    def q():
        return [Quantize(input_bits, mode="minmax", signed=True)] if input_bits else []

    def conv_bn_relu(shape):
        o, i, kh, _ = shape
        return [*q(), Conv2d(i, o, kh, padding=kh // 2, k=k), BatchNorm(o, affine=True), ReLU()]

    layers: list = []
    convs = iter(shapes)
    for level in range(5):  # encoder levels 0..3 and the bottleneck (4)
        if level:
            layers.append(MaxPool2d(2))
        layers += conv_bn_relu(next(convs)) + conv_bn_relu(next(convs))
        if level < 4:
            layers.append(Stash(f"skip{level}"))
    for level in range(3, -1, -1):
        layers += [Upsample2x(), Concat(f"skip{level}")]
        layers += conv_bn_relu(next(convs)) + conv_bn_relu(next(convs))
    o, i, _, _ = next(convs)
    layers += [*q(), Conv2d(i, o, 1, k=k)]
    return Network(layers, input_shape=(in_channels, patch, patch), name=f"unet-{base}")
