"""FASTER's aggregators (Zhu et al., AAAI 2020, Sec. 3) and the expensive/cheap clip pipeline.

Every aggregator reads a sequence of clip features x_0..x_{N-1}, each the res5 map of a clip backbone,
(C, l, h, w) = (2048, L/8, 7, 7) at 224x224 (Sec. 3.4, Table 1), and returns class scores.
Input: (B, N, 2048, L/8, 7, 7). No public code exists for FAST-GRU (../shared/notes/sources.md);
everything here follows the paper's text, and each reading of an ambiguous sentence is marked.
"""
from __future__ import annotations

import torch
from torch import nn

from repro import models
from repro.models import register

FEATURES = 2048  # res5 channels of R(2+1)D-50 and R2D-26 (Table 1)
EXAMPLE = (2, 3, FEATURES, 1, 2, 2)  # batch 2, N=3 clips of 1x2x2 maps: cheap on CPU


def _conv1(cin: int, cout: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel_size=1)


class FastGRUCell(nn.Module):
    """One FAST-GRU step, o_t = f(o_{t-1}, x_t) (Sec. 3.2, Eqs. 3-4), on full-resolution feature maps.

    - Gates by bottleneck: r' = ReLU(U_rx * x + U_ro * o) and z' likewise, where U compresses the
      channels by `reduction` (r = 4 in the paper) with 1x1x1 convolutions applied "after concatenation",
      which is one conv over [x, o]; then r = sigmoid(W_r * r'), z = sigmoid(W_z * z') restore c channels.
    - Candidate and update, Eq. 3: o_bar = tanh(V_x * x + V_o * (r ⊙ o)); o = (1 - z) ⊙ o + z ⊙ o_bar.
      The extraction printed both V's with the same subscript; the standard GRU form it names has
      separate input and state matrices, used here as 1x1x1 convolutions (Sec. 3.2, "3D Convolutional RNN").
    """

    def __init__(self, channels: int = FEATURES, reduction: int = 4):
        super().__init__()
        squeezed = channels // reduction
        self.read_squeeze = _conv1(2 * channels, squeezed)
        self.update_squeeze = _conv1(2 * channels, squeezed)
        self.read_expand = _conv1(squeezed, channels)
        self.update_expand = _conv1(squeezed, channels)
        self.candidate_input = _conv1(channels, channels)
        self.candidate_state = _conv1(channels, channels)

    def forward(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([x, state], dim=1)
        read = torch.sigmoid(self.read_expand(torch.relu(self.read_squeeze(joint))))
        update = torch.sigmoid(self.update_expand(torch.relu(self.update_squeeze(joint))))
        candidate = torch.tanh(self.candidate_input(x) + self.candidate_state(read * state))
        return (1 - update) * state + update * candidate


class ConcatCell(nn.Module):
    """The "Concat" baseline, Eq. 5: o_t = ReLU(BN(W o_{t-1} + U x_t)).

    Fig. 2(a) draws it on feature maps beside FAST-GRU, so W and U are 1x1x1 convolutions that keep
    the resolution (our reading; the paper gives no shapes for W and U).
    """

    def __init__(self, channels: int = FEATURES):
        super().__init__()
        self.state = _conv1(channels, channels)
        self.input = _conv1(channels, channels)
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.state(state) + self.input(x)))


class RecurrentAggregator(nn.Module):
    """Eq. 1: o_0 = x_0 and o_t = f(o_{t-1}, x_t) for t = 1..N-1, so N clips take N-1 steps. Then global
    average pooling of o_{N-1} and a fully connected layer (Sec. 3.1)."""

    def __init__(self, cell: nn.Module, channels: int = FEATURES, num_classes: int = 400, dropout: float = 0.0):
        super().__init__()
        self.cell = cell
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        state = clips[:, 0]
        for t in range(1, clips.shape[1]):
            state = self.cell(state, clips[:, t])
        return self.fc(self.dropout(state.mean(dim=(2, 3, 4))))


class PooledRNNAggregator(nn.Module):
    """The GRU and LSTM baselines (Sec. 3.3): global average pooling collapses each x_t to a c-d vector
    (Fig. 2 caption), a standard single-layer GRU or LSTM (three gates and a cell [13]) with c hidden
    units runs over the N vectors, and the last output goes to a fully connected layer. The hidden
    size c is our reading of "project them to a vector of the same dimension, i.e. c" (Sec. 3.2)."""

    def __init__(self, kind: str, channels: int = FEATURES, num_classes: int = 400, dropout: float = 0.0):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}.get(kind)
        if rnn is None:
            raise ValueError(f"kind must be 'gru' or 'lstm', got {kind!r}")
        self.rnn = rnn(channels, channels, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(clips.mean(dim=(3, 4, 5)))
        return self.fc(self.dropout(outputs[:, -1]))


class AveragePoolAggregator(nn.Module):
    """Average pooling (Sec. 3.3): each clip is classified on its own (global pooling + FC) and the
    clip scores are averaged, regardless of which model produced them."""

    def __init__(self, channels: int = FEATURES, num_classes: int = 400):
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.fc(clips.mean(dim=(3, 4, 5))).mean(dim=1)


@register(example_input=EXAMPLE, example_output=(2, 400))
def fast_gru(num_classes: int = 400, channels: int = FEATURES, reduction: int = 4, dropout: float = 0.0
             ) -> RecurrentAggregator:
    """FAST-GRU (Sec. 3.2, Fig. 2b), r = 4. Input (B, N, 2048, L/8, 7, 7); N clips take N-1 steps (Eq. 1)."""
    return RecurrentAggregator(FastGRUCell(channels, reduction), channels, num_classes, dropout)


@register(example_input=EXAMPLE, example_output=(2, 400))
def concat(num_classes: int = 400, channels: int = FEATURES, dropout: float = 0.0) -> RecurrentAggregator:
    """The Concat baseline (Sec. 3.3, Eq. 5, Fig. 2a). Input (B, N, 2048, L/8, 7, 7)."""
    return RecurrentAggregator(ConcatCell(channels), channels, num_classes, dropout)


@register(example_input=EXAMPLE, example_output=(2, 400))
def gru(num_classes: int = 400, channels: int = FEATURES, dropout: float = 0.0) -> PooledRNNAggregator:
    """The GRU baseline over pooled clip features (Sec. 3.3). Input (B, N, 2048, L/8, 7, 7)."""
    return PooledRNNAggregator("gru", channels, num_classes, dropout)


@register(example_input=EXAMPLE, example_output=(2, 400))
def lstm(num_classes: int = 400, channels: int = FEATURES, dropout: float = 0.0) -> PooledRNNAggregator:
    """The LSTM baseline over pooled clip features (Sec. 3.3). Input (B, N, 2048, L/8, 7, 7)."""
    return PooledRNNAggregator("lstm", channels, num_classes, dropout)


@register(example_input=EXAMPLE, example_output=(2, 400))
def avg_pool(num_classes: int = 400, channels: int = FEATURES) -> AveragePoolAggregator:
    """Average pooling of clip scores (Sec. 3.3). Input (B, N, 2048, L/8, 7, 7)."""
    return AveragePoolAggregator(channels, num_classes)


AGGREGATORS = {"fast_gru": fast_gru, "concat": concat, "gru": gru, "lstm": lstm, "avg_pool": avg_pool}


def expensive_clips(num_clips: int, pattern: str) -> list[bool]:
    """Which clips the expensive model sees under the input pattern "#E:#C" (Sec. 4.3, Table 4).

    "1:x" repeats one expensive clip followed by x cheap ones, so N clips hold N/(1+x) expensive ones;
    "All E" and "All C" give every clip to one model.
    """
    if pattern in ("All E", "all_e"):
        return [True] * num_clips
    if pattern in ("All C", "all_c"):
        return [False] * num_clips
    try:
        expensive, cheap = (int(part) for part in pattern.split(":"))
    except ValueError:
        raise ValueError(f"pattern must be 'All E', 'All C' or '#E:#C' like '1:3', got {pattern!r}") from None
    if expensive < 1 or cheap < 0:
        raise ValueError(f"pattern {pattern!r}: need at least one expensive clip per period")
    period = expensive + cheap
    return [t % period < expensive for t in range(num_clips)]


class Faster(nn.Module):
    """The FASTER framework (Fig. 1b): clip t goes to the expensive or the cheap backbone by the input
    pattern, and the aggregator combines the res5 maps. Input (B, N, 3, L, 224, 224)."""

    def __init__(self, expensive: nn.Module, cheap: nn.Module, aggregator: nn.Module, pattern: str):
        super().__init__()
        self.expensive, self.cheap, self.aggregator = expensive, cheap, aggregator
        self.pattern = pattern

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        chosen = expensive_clips(clips.shape[1], self.pattern)
        features = [(self.expensive if use_e else self.cheap).features(clips[:, t]) for t, use_e in enumerate(chosen)]
        return self.aggregator(torch.stack(features, dim=1))


@register(example_input=(1, 2, 3, 8, 32, 32), example_output=(1, 400))
def faster(num_classes: int = 400, pattern: str = "1:1", aggregator: str = "fast_gru",
           expensive: str = "baselines/r2plus1d_50", cheap: str = "baselines/r2d_26") -> Faster:
    """FASTER with R(2+1)D-50 as the expensive model, R2D-26 as the cheap one and FAST-GRU (Sec. 3.4).

    Input (B, N, 3, L, 224, 224), N clips of L frames (N x L = 256 in the paper). `pattern` is the
    #E:#C input pattern of Table 4; `aggregator` is one of fast_gru, concat, gru, lstm, avg_pool.
    """
    if aggregator not in AGGREGATORS:
        raise ValueError(f"aggregator must be one of {', '.join(AGGREGATORS)}, got {aggregator!r}")
    expensive_clips(1, pattern)  # validate early
    return Faster(models.build(expensive), models.build(cheap), AGGREGATORS[aggregator](num_classes=num_classes),
                  pattern)
