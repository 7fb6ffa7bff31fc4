"""The source study's three network shapes in PyTorch, plain and with supermask layers.

Supermask layers as in the study's code (arXiv 2311.07164, ``SupermaskConv`` / ``SupermaskLinear``
and the recurrent ``MaskRNN`` of its public repository; edge-popup, Ramanujan et al., CVPR 2020): a
fixed ``weight``, a ``scores`` parameter of the same shape, and the weight multiplied by the top-k
mask of ``|scores|`` (ascending sort, the lowest ``int((1 - k) n)`` pruned) in the forward pass.
Written here for the tests (the study's own classes read global arguments and CUDA).
"""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install 'rramsim[torch]')")
F = torch.nn.functional
nn = torch.nn

K = 0.5


def topk(scores, k=K):
    flat = scores.abs().flatten()
    _, idx = flat.sort()
    out = torch.ones_like(flat)
    out[idx[: int((1 - k) * flat.numel())]] = 0
    return out.reshape(scores.shape)


class SupermaskConv(nn.Conv2d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scores = nn.Parameter(torch.randn(self.weight.shape))

    def forward(self, x):
        return F.conv2d(x, self.weight * topk(self.scores), None, self.stride, self.padding)


class SupermaskLinear(nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scores = nn.Parameter(torch.randn(self.weight.shape))

    def forward(self, x):
        return F.linear(x, self.weight * topk(self.scores))


class SupermaskRNN(nn.RNN):
    """ReLU-RNN with ``ih_scores`` and ``hh_scores`` (the study's MaskRNN names)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ih_scores = nn.Parameter(torch.randn(self.weight_ih_l0.shape))
        self.hh_scores = nn.Parameter(torch.randn(self.weight_hh_l0.shape))

    def forward(self, x):
        wi = self.weight_ih_l0 * topk(self.ih_scores)
        wh = self.weight_hh_l0 * topk(self.hh_scores)
        axis = 1 if self.batch_first else 0
        h = x.new_zeros((x.shape[1 - axis], self.hidden_size))
        out = []
        for t in range(x.shape[axis]):
            h = torch.relu(x.select(axis, t) @ wi.T + h @ wh.T)
            out.append(h)
        return torch.stack(out, dim=axis), h.unsqueeze(0)


def _layers(supermask):
    conv = SupermaskConv if supermask else nn.Conv2d
    lin = SupermaskLinear if supermask else nn.Linear
    rnn = SupermaskRNN if supermask else nn.RNN
    return conv, lin, rnn


def fashion_cnn(supermask=False):
    """The study's Fashion-MNIST CNN: maxpool 2, conv 3x3 1->64, BN, ReLU, conv 3x3 64->16,
    maxpool 2, BN, ReLU, fc 400->128, ReLU, fc 128->10 (no biases, non-affine BN)."""
    conv, lin, _ = _layers(supermask)
    return nn.Sequential(
        nn.MaxPool2d(2), conv(1, 64, 3, bias=False), nn.BatchNorm2d(64, affine=False), nn.ReLU(),
        conv(64, 16, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(16, affine=False), nn.ReLU(),
        nn.Flatten(), lin(400, 128, bias=False), nn.ReLU(), lin(128, 10, bias=False))


class SpokenDigitCRNN(nn.Module):
    """The study's spoken-digit CRNN as its code builds it: input (1, 23, 20); conv (3x2) 1->64
    stride (2, 1), maxpool 2, BN, ReLU, conv (3x2) 64->32 stride (2, 1), maxpool 2, BN, ReLU,
    squeeze the height-1 axis, ReLU-RNN 32->128 over the 4 steps, mean over time, fc 128->256,
    ReLU, fc 256->10."""

    def __init__(self, supermask=False, time_first=False):
        super().__init__()
        conv, lin, rnn = _layers(supermask)
        self.time_first = time_first
        self.conv1 = conv(1, 64, (3, 2), stride=(2, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(64, affine=False)
        self.conv2 = conv(64, 32, (3, 2), stride=(2, 1), bias=False)
        self.bn2 = nn.BatchNorm2d(32, affine=False)
        self.rnn = rnn(32, 128, nonlinearity="relu", bias=False, batch_first=not time_first)
        self.fc1 = lin(128, 256, bias=False)
        self.fc2 = lin(256, 10, bias=False)

    def forward(self, x):
        x = F.relu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), 2)))
        x = x.squeeze(dim=2)                 # (B, 32, 4)
        x = torch.transpose(x, -2, -1)       # (B, 4, 32)
        if self.time_first:                  # the study's (T, B, F)
            x = torch.transpose(x, 0, 1)
            out, _ = self.rnn(x)
            x = torch.mean(out, dim=0)
        else:
            out, _ = self.rnn(x)
            x = out.mean(dim=1)
        return self.fc2(F.relu(self.fc1(x)))


class DoubleConv(nn.Module):
    def __init__(self, cin, cout, conv, affine):
        super().__init__()
        self.body = nn.Sequential(
            conv(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, affine=affine),
            nn.ReLU(inplace=True), conv(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout, affine=affine), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.body(x)


class SmallUNet(nn.Module):
    """A two-level U-Net of the study's DRIVE kind: double 3x3 convolutions with BN and ReLU,
    max-pool 2, bilinear x2 up-sampling (align_corners=True), concatenation skips (skip first),
    1x1 output convolution to 2 classes."""

    def __init__(self, base=4, supermask=False, affine=False):
        super().__init__()
        conv, _, _ = _layers(supermask)
        self.inc = DoubleConv(1, base, conv, affine)
        self.down1 = DoubleConv(base, 2 * base, conv, affine)
        self.bottom = DoubleConv(2 * base, 2 * base, conv, affine)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.dec1 = DoubleConv(4 * base, base, conv, affine)
        self.dec0 = DoubleConv(2 * base, base, conv, affine)
        self.outc = conv(base, 2, 1, bias=False)

    def forward(self, x):
        x0 = self.inc(x)
        x1 = self.down1(F.max_pool2d(x0, 2))
        x2 = self.bottom(F.max_pool2d(x1, 2))
        y = self.dec1(torch.cat([x1, self.up(x2)], dim=1))
        y = self.dec0(torch.cat([x0, self.up(y)], dim=1))
        return self.outc(y)


def randomise_bn(model, seed=0):
    """Running statistics (and affine parameters) away from their defaults."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.data = torch.randn(m.num_features, generator=g) * 0.3
            m.running_var.data = torch.rand(m.num_features, generator=g) + 0.5
            if m.affine:
                m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
                m.bias.data = torch.randn(m.num_features, generator=g) * 0.2
    return model.eval()


def fashion_cnn_supermask():
    return fashion_cnn(True)
