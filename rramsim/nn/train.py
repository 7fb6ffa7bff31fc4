"""Training: SGD with momentum or Adam, a cosine schedule, edge-popup mask updates with the flip
limiter.

Edge-popup (Ramanujan et al., CVPR 2020) trains the scores with SGD, momentum 0.9, weight decay and
a cosine learning-rate schedule; the source study (arXiv 2311.07164) adds the flip limiter
(:class:`rramsim.nn.masks.FlipLimiter`) and counts every mask flip as a programming operation, and
trains its DRIVE U-Net with Adam (Kingma & Ba, ICLR 2015). The same loop trains the conventional
baseline when the layers are in ``"weights"`` mode. Affine batch-norm layers have their scale and
shift trained by the same optimiser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from rramsim._threads import blas_threads
from rramsim.errors import TrainError
from rramsim.nn.layers import BatchNorm
from rramsim.nn.masks import FlipLimiter, limited_update, topk_mask
from rramsim.nn.network import Network


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of training.

    Attributes
    ----------
    epochs : int
        Passes over the training set (>= 1).
    batch_size : int
        Samples per step (>= 1).
    lr : float
        Peak learning rate (cosine-annealed to 0, see ``schedule``).
    momentum : float
        Heavy-ball momentum in [0, 1) (SGD only).
    weight_decay : float
        L2 coefficient on the trainable parameters (scores or weights, and affine batch-norm
        parameters), added to the gradient (for Adam too, as PyTorch's ``Adam(weight_decay=...)``),
        >= 0.
    optimizer : {"sgd", "adam"}
        SGD with heavy-ball momentum, or Adam with ``betas`` and ``adam_eps`` (bias-corrected
        moments, Kingma & Ba 2015, as PyTorch's ``Adam``).
    betas : (float, float)
        Adam's decay rates of the first and second moments, each in [0, 1).
    adam_eps : float
        Adam's denominator term, > 0.
    schedule : {"cosine", "cosine-epoch"}
        ``"cosine"`` anneals every step (over all steps); ``"cosine-epoch"`` keeps the rate constant
        within an epoch, ``lr (1 + cos(pi e / E)) / 2`` in epoch ``e`` of ``E`` (PyTorch's
        ``CosineAnnealingLR(T_max=E)`` stepped once per epoch, the study's).
    flip_limiter : FlipLimiter or None
        Limits mask flips of score-trained layers; None gives plain top-k every step.
    progress : bool
        Show a tqdm progress bar over the steps.
    clip_grad_norm : float or None
        Rescale the gradients of all layers together so that their global L2 norm is at most this
        (Pascanu et al., ICML 2013; used for the recurrent baseline); None: no clipping.
    dtype : {"float64", "float32"}
        Compute precision of the forward and backward passes while training (parameters,
        gradients and optimiser state stay float64). float32 halves the memory traffic and runs
        the GEMMs about twice as fast; the large tasks use it (see :mod:`rramsim.nn.experiment`).
    weight_noise : float
        Hardware-aware training of weight-trained layers (the baseline): in every training forward
        pass, Gaussian noise of standard deviation ``weight_noise * max|w|`` (per layer) is added to
        the weights, as aihwkit's additive-constant weight noise does; the gradient of that noisy
        pass updates the clean weights. 0 (the default): no noise, no draws. Score-trained layers
        are left alone.
    blas_threads : int or None
        BLAS threads while training (via threadpoolctl when installed). The default 1 is the
        fastest for these small products on shared cores and makes results independent of the
        machine's thread count (BLAS summation order depends on it); None keeps the default.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    flip_limiter: FlipLimiter | None = FlipLimiter()  # noqa: RUF009
    progress: bool = False
    blas_threads: int | None = 1
    dtype: str = "float64"
    clip_grad_norm: float | None = None
    weight_noise: float = 0.0
    optimizer: str = "sgd"
    betas: tuple = (0.9, 0.999)
    adam_eps: float = 1e-8
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        self._check_optimiser()
        if not (np.isfinite(self.weight_noise) and 0 <= self.weight_noise < 1):
            raise TrainError(f"weight_noise must be in [0, 1) (a fraction of max|w|), got "
                             f"{self.weight_noise!r}")
        if self.clip_grad_norm is not None and not (np.isfinite(self.clip_grad_norm)
                                                    and self.clip_grad_norm > 0):
            raise TrainError(f"clip_grad_norm must be > 0 or None, got {self.clip_grad_norm!r}")
        if self.dtype not in ("float32", "float64"):
            raise TrainError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise TrainError(f"blas_threads must be >= 1 or None, got {self.blas_threads!r}")
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise TrainError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise TrainError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not np.isfinite(self.lr) or self.lr <= 0:
            raise TrainError(f"lr must be > 0, got {self.lr!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise TrainError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not np.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise TrainError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def _check_optimiser(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise TrainError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "cosine-epoch"):
            raise TrainError(f"schedule must be 'cosine' or 'cosine-epoch', got {self.schedule!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise TrainError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not (np.isfinite(self.adam_eps) and self.adam_eps > 0):
            raise TrainError(f"adam_eps must be > 0, got {self.adam_eps!r}")


def cosine_lr(step: int, total_steps: int, lr: float) -> float:
    """Cosine schedule ``lr * (1 + cos(pi * step / total_steps)) / 2`` (Loshchilov & Hutter 2017)."""
    return 0.5 * lr * (1.0 + np.cos(np.pi * step / max(total_steps, 1)))


@dataclass(frozen=True)
class TrainResult:
    """What a training run did.

    Attributes
    ----------
    epoch_loss : tuple of float
        Mean training loss of each epoch.
    mask_flips : tuple of int
        Mask flips per weight layer over training (each is one RESET or SET of a cell pair).
    steps : int
        SGD steps taken.
    seconds : float
        Wall-clock time of the loop (informational only).
    """

    epoch_loss: tuple
    mask_flips: tuple
    steps: int
    seconds: float


def _check_data(net: Network, x: np.ndarray, y: np.ndarray) -> None:
    if x.shape[1:] != net.input_shape:
        raise TrainError(f"training inputs have shape {x.shape[1:]}, network wants {net.input_shape}")
    if len(x) != len(y) or len(x) == 0:
        raise TrainError(f"{len(x)} inputs and {len(y)} labels")


@contextmanager
def noisy_weights(net: Network, rel: float, rng: np.random.Generator):
    """Within the block, every weight-trained layer's weights carry Gaussian noise of standard
    deviation ``rel * max|w|`` of that layer (one draw per weight); the clean weights come back
    on leaving. Score-trained layers are untouched."""
    saved = []
    for la in net.weight_layers:
        if la.trainable == "scores":
            continue
        w = la.weight
        sigma = rel * float(np.max(np.abs(w), initial=0.0))
        saved.append((la, w))
        la.weight = w + sigma * rng.standard_normal(w.shape)
    try:
        yield
    finally:
        for la, w in saved:
            la.weight = w


def train_step(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """One forward/backward pass; returns the loss (gradients left on the layers)."""
    return net.loss_and_grad(x, y)


@dataclass
class TrainState:
    """Where a training run stands after a whole epoch: enough to continue it bit-identically.

    Attributes
    ----------
    epochs_done : int
        Completed epochs.
    step : int
        SGD steps taken.
    velocity : list of ndarray
        Optimiser state (float64), one array per trainable parameter (:func:`parameter_slots`):
        SGD's momentum buffers; for Adam the first moments, then the second moments.
    flips : list of int
        Mask flips per weight layer so far.
    losses : list of float
        Mean loss of every completed epoch.
    rng_state : dict
        ``rng.bit_generator.state`` of the shuffling generator after the last completed epoch.
    seconds : float
        Training time spent so far (informational).
    """

    epochs_done: int
    step: int
    velocity: list
    flips: list
    losses: list
    rng_state: dict
    seconds: float = 0.0

    def to_json(self) -> dict:
        """The JSON-ready part (the velocity arrays are stored separately)."""
        return {"epochs_done": self.epochs_done, "step": self.step, "flips": list(self.flips),
                "losses": list(self.losses), "rng_state": self.rng_state,
                "seconds": self.seconds}


def parameter_slots(net: Network) -> list[tuple[object, str]]:
    """The trainable parameters as ``(layer, attribute)``: each weight layer's scores (or weights,
    for the baseline), in weight-layer order, then ``gamma`` and ``beta`` of every affine
    batch-norm layer in network order."""
    slots: list[tuple[object, str]] = [
        (la, "scores" if la.trainable == "scores" else "weight") for la in net.weight_layers]
    for la in net.layers:
        if isinstance(la, BatchNorm) and la.affine:
            slots += [(la, "gamma"), (la, "beta")]
    return slots


def _optimiser_state(net: Network, config: TrainConfig) -> list[np.ndarray]:
    """Zeroed optimiser buffers: one per parameter (SGD), two per parameter (Adam)."""
    zeros = [np.zeros(np.shape(getattr(obj, attr))) for obj, attr in parameter_slots(net)]
    return zeros + [z.copy() for z in zeros] if config.optimizer == "adam" else zeros


def adam_update(param, grad, m, v, *, lr, step, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step (``step`` counts from 1): returns ``(new_param, m, v)``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``param - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`` (Kingma & Ba 2015; the form of
    PyTorch's ``Adam``).
    """
    b1, b2 = betas
    m = b1 * m + (1.0 - b1) * grad
    v = b2 * v + (1.0 - b2) * grad * grad
    denom = np.sqrt(v / (1.0 - b2**step)) + eps
    return param - (lr / (1.0 - b1**step)) * m / denom, m, v


def _eta(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# one training algorithm; its options are keyword-only, with defaults, documented below
def train(  # noqa: PLR0913
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    *,
    config: TrainConfig = TrainConfig(),  # noqa: B008
    rng: np.random.Generator,
    on_epoch: Callable[[int, Network], None] | None = None,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState, Network], None] | None = None,
    log: Callable[[str], None] | None = None,
    augment: Callable | None = None,
) -> TrainResult:
    """Train ``net`` in place (SGD with momentum or Adam, cosine schedule).

    Score-trained layers (``trainable == "scores"``) get their mask recomputed after every step,
    through the flip limiter if configured; flips are counted per layer. Weight-trained layers
    (the baseline) update their weights.

    Parameters
    ----------
    net : Network
        Scores (or weights) must be initialised.
    x, y : ndarray
        Training inputs ``(N, *net.input_shape)`` and integer labels ``(N,)`` (or ``(N, H, W)``
        per-pixel labels for segmentation); not modified.
    config : TrainConfig
    rng : numpy.random.Generator
        Shuffles the samples each epoch.
    on_epoch : callable, optional
        ``on_epoch(epoch, net)`` after every epoch (e.g. to program the masks on the devices and
        load the conductances they return, see :func:`rramsim.nn.run_prune` with ``in_situ``).
    resume : TrainState, optional
        Continue a run from this state (``net`` must hold the parameters of that moment): the
        schedule, the momentum, the flip counts and the shuffling generator carry on, so the result
        is bit-identical to an uninterrupted run (same BLAS threads).
    on_checkpoint : callable, optional
        ``on_checkpoint(state, net)`` after every epoch, e.g. to write a checkpoint; an exception
        raised there stops training.
    log : callable, optional
        Receives one line per epoch: loss, seconds per epoch and the estimated time left.
    augment : callable, optional
        ``augment(x_batch, y_batch, rng) -> (x, y)`` applied to every batch before the step, with
        the shuffling generator (e.g. :func:`rramsim.nn.drive.augment`: random crops, flips and
        rotations); the batches it returns must fit the network (the stored samples need not).

    Returns
    -------
    TrainResult
    """
    x = np.asarray(x, dtype=config.dtype)
    y = np.asarray(y)
    if augment is None:
        _check_data(net, x, y)
    elif len(x) != len(y) or len(x) == 0:
        raise TrainError(f"{len(x)} inputs and {len(y)} labels")
    n = len(x)
    per_epoch = int(np.ceil(n / config.batch_size))
    total = per_epoch * config.epochs
    if resume is None:
        state = TrainState(0, 0, _optimiser_state(net, config),
                           [0] * len(net.weight_layers), [], rng.bit_generator.state)
    else:
        if resume.epochs_done > config.epochs or resume.step != resume.epochs_done * per_epoch:
            raise TrainError(f"cannot resume: the state is after {resume.epochs_done} epochs and "
                             f"{resume.step} steps, the run has {config.epochs} epochs of "
                             f"{per_epoch} steps")
        want = [v.shape for v in _optimiser_state(net, config)]
        if [np.shape(v) for v in resume.velocity] != want:
            raise TrainError("cannot resume: the state's optimiser buffers do not fit the network "
                             f"and optimiser ({len(resume.velocity)} arrays, need {len(want)})")
        state = TrainState(resume.epochs_done, resume.step,
                           [np.array(v, dtype=float) for v in resume.velocity],
                           list(resume.flips), list(resume.losses), resume.rng_state,
                           resume.seconds)
        rng.bit_generator.state = resume.rng_state
    bar = None
    if config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=state.step, desc=f"train {net.name}", unit="step",
                   leave=False)
    t0 = time.perf_counter()
    saved_dtype, net.dtype = net.dtype, np.dtype(config.dtype)
    with blas_threads(config.blas_threads):
        try:
            _Epochs(net, x, y, config, rng, state, per_epoch, bar,
                    (on_epoch, on_checkpoint, log), augment).run()
        finally:
            net.dtype = saved_dtype
            if bar is not None:
                bar.close()
    return TrainResult(tuple(state.losses), tuple(state.flips), total, time.perf_counter() - t0)


def _clip(grads: list, limit: float | None) -> list:
    if limit is None:
        return grads
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
    if norm <= limit or norm == 0.0:
        return grads
    return [g * (limit / norm) for g in grads]


@dataclass
class _Epochs:
    """The epochs of :func:`train`: one pass over the shuffled data per epoch, then the hooks
    ``(on_epoch, on_checkpoint, log)``; updates ``state`` in place."""

    net: Network
    x: np.ndarray
    y: np.ndarray
    config: TrainConfig
    rng: np.random.Generator
    state: TrainState
    per_epoch: int
    bar: object
    hooks: tuple
    augment: Callable | None = None

    @property
    def total(self) -> int:
        return self.per_epoch * self.config.epochs

    def run(self) -> None:
        config, state = self.config, self.state
        n = len(self.x)
        for epoch in range(state.epochs_done, config.epochs):
            t_epoch = time.perf_counter()
            order = self.rng.permutation(n)
            epoch_loss = 0.0
            for b in range(self.per_epoch):
                idx = order[b * config.batch_size : (b + 1) * config.batch_size]
                loss = self._loss(idx)
                epoch_loss += loss * len(idx)
                self._step()
                if self.bar is not None:
                    self.bar.update(1)
                    self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self._end_epoch(epoch, epoch_loss / n, t_epoch)

    def _loss(self, idx) -> float:
        """Loss and gradients of one batch (augmented with ``augment``); through noisy weights
        with ``weight_noise``."""
        xb, yb = self.x[idx], self.y[idx]
        if self.augment is not None:
            xb, yb = self.augment(xb, yb, self.rng)
        if self.config.weight_noise == 0:
            return self.net.loss_and_grad(xb, yb)
        with noisy_weights(self.net, self.config.weight_noise, self.rng):
            return self.net.loss_and_grad(xb, yb)

    def _lr(self) -> float:
        config, state = self.config, self.state
        if config.schedule == "cosine-epoch":
            return cosine_lr(state.step // self.per_epoch, config.epochs, config.lr)
        return cosine_lr(state.step, self.total, config.lr)

    def _step(self) -> None:
        """One optimiser step on every parameter: scores (then the mask, through the flip limiter
        if configured; flips counted), weights, or batch-norm scale and shift."""
        config, state, total = self.config, self.state, self.total
        buf, flips = state.velocity, state.flips
        lr = self._lr()
        layers = self.net.weight_layers
        grads = _clip([la.grad for la in layers], config.clip_grad_norm)
        slots = parameter_slots(self.net)
        grads += [getattr(obj, "grad_" + attr) for obj, attr in slots[len(layers):]]
        n = len(slots)
        for i, ((obj, attr), g) in enumerate(zip(slots, grads, strict=True)):
            param = getattr(obj, attr)
            if config.weight_decay:
                g = g + config.weight_decay * param
            if config.optimizer == "adam":
                new, buf[i], buf[n + i] = adam_update(param, g, buf[i], buf[n + i], lr=lr,
                                                      step=state.step + 1, betas=config.betas,
                                                      eps=config.adam_eps)
            else:
                buf[i] = config.momentum * buf[i] + g
                new = param - lr * buf[i]
            if attr == "scores":
                obj.scores = new
                if config.flip_limiter is None:
                    mask = topk_mask(new, obj.k)
                else:
                    theta = config.flip_limiter.threshold(state.step, total)
                    mask = limited_update(obj.mask, new, obj.k, theta)
                flips[i] += int(np.count_nonzero(mask != obj.mask))
                obj.mask = mask
            else:
                setattr(obj, attr, new)
        state.step += 1

    def _end_epoch(self, epoch: int, mean_loss: float, t_epoch: float) -> None:
        """Record the epoch's loss (stop on divergence), then the hooks and the log line; the
        epoch's time, from ``t_epoch``, includes ``on_epoch``."""
        config, state, net = self.config, self.state, self.net
        on_epoch, on_checkpoint, log = self.hooks
        state.losses.append(mean_loss)
        if not np.isfinite(state.losses[-1]):
            raise TrainError(f"training diverged (loss {state.losses[-1]}); lower the learning "
                             "rate")
        if on_epoch is not None:
            on_epoch(epoch, net)
        state.epochs_done = epoch + 1
        state.rng_state = self.rng.bit_generator.state
        spent = time.perf_counter() - t_epoch
        state.seconds += spent
        if log is not None:
            left = (config.epochs - state.epochs_done) * spent
            log(f"{net.name}: epoch {state.epochs_done}/{config.epochs}, loss "
                f"{state.losses[-1]:.4f}, {spent:.1f} s/epoch, about {_eta(left)} left")
        if on_checkpoint is not None:
            on_checkpoint(state, net)
