"""The three gene-expression networks. Each maps (batch, genes) to logits.

A binary task has one output (the positive-class logit); a task with C > 2 classes has C.
Sizes are small on purpose: the tables have tens of genes and hundreds of samples.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn


class CNNBiLSTM(nn.Module):
    """Conv1d layers read the selected genes as a 1-D sequence, a BiLSTM summarises it, dense layers classify."""

    def __init__(self, n_genes: int, n_outputs: int, channels: int = 16, hidden: int = 32, dense: int = 64,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=5, padding=2), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, 2 * channels, kernel_size=3, padding=1), nn.BatchNorm1d(2 * channels), nn.ReLU(),
            nn.MaxPool1d(2) if n_genes >= 8 else nn.Identity(),
        )
        self.lstm = nn.LSTM(2 * channels, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, dense), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(dense, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = self.conv(x.unsqueeze(1)).transpose(1, 2)  # (batch, positions, channels)
        _, (last, _) = self.lstm(sequence)
        return cast(torch.Tensor, self.head(torch.cat([last[0], last[1]], dim=1)))


class DeepCME(nn.Module):
    """MLP with three hidden layers (Linear, BatchNorm, ReLU, dropout 0.5).

    Training puts an L1 penalty on ``first`` only, so columns of its weight go to zero and the
    gene score S_j = sum_i |W1[i, j]| selects genes. The first hidden layer has no BatchNorm:
    BatchNorm right after it would make the network blind to the scale of W1, and an L1 penalty
    on a scale-free weight shrinks it without ever reaching zero.
    """

    def __init__(self, n_genes: int, n_outputs: int, hidden: tuple[int, ...] = (128, 64, 32),
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.first = nn.Linear(n_genes, hidden[0])
        layers: list[nn.Module] = [nn.ReLU(), nn.Dropout(dropout)]
        for width_in, width_out in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(width_in, width_out), nn.BatchNorm1d(width_out), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden[-1], n_outputs))
        self.rest = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.rest(self.first(x)))

    def gene_scores(self) -> torch.Tensor:
        """S_j = sum over first-layer units of |W1[i, j]|, one score per input gene."""
        return self.first.weight.detach().abs().sum(dim=0)


class DynamicMultiHeadBlock(nn.Module):
    """Residual block whose heads differ in kernel size and activation; a gate computed from the
    input itself weights the heads per sample (the "dynamic" part)."""

    HEADS = ((3, nn.ReLU), (5, nn.GELU), (7, nn.SiLU))

    def __init__(self, channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv1d(channels, channels, k, padding=k // 2), nn.BatchNorm1d(channels), act())
            for k, act in self.HEADS)
        self.gate = nn.Linear(channels, len(self.HEADS))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.gate(x.mean(dim=2)), dim=1)  # (batch, heads)
        outputs = torch.stack([head(x) for head in self.heads], dim=1)  # (batch, heads, C, L)
        mixed = (weights[:, :, None, None] * outputs).sum(dim=1)
        return cast(torch.Tensor, x + self.dropout(mixed))


class GexpNet(nn.Module):
    """Initial convolution, dynamic multi-head residual blocks, then a dense classifier whose width
    adapts to the number of pooled features."""

    def __init__(self, n_genes: int, n_outputs: int, channels: int = 16, blocks: int = 2, pooled: int = 8,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, channels, 7, padding=3), nn.BatchNorm1d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*(DynamicMultiHeadBlock(channels) for _ in range(blocks)))
        pooled = max(1, min(pooled, n_genes))
        self.pool = nn.AdaptiveAvgPool1d(pooled)
        features = channels * pooled
        width = int(min(256, max(32, 2 ** round(torch.log2(torch.tensor(features / 2.0)).item()))))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(features, width), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(width, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.classifier(self.pool(self.blocks(self.stem(x.unsqueeze(1))))))


ARCHITECTURES: dict[str, type[nn.Module]] = {"cnn-bilstm": CNNBiLSTM, "deepcme": DeepCME, "gexpnet": GexpNet}


def build_net(architecture: str, n_genes: int, n_outputs: int, **options: Any) -> nn.Module:
    """A fresh network of the named architecture."""
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}") from None
    if "hidden" in options and isinstance(options["hidden"], list):
        options = {**options, "hidden": tuple(options["hidden"])}
    return cls(n_genes, n_outputs, **options)
