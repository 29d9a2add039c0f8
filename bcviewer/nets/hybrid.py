"""HybridNet: a CNN branch and an LSTM branch fused by branch attention and an element-wise gate.

The CNN branch pools the backbone's feature map into one vector. The LSTM branch reads either
``rows`` (a one-channel map of the tile, one image row per time step, after Hybrid CNN+RNN) or
``feature_map`` (the CNN's spatial feature map, one position per time step, after CNN-LSTM).
Both vectors are projected to ``fusion_width``; softmax branch weights mix them, a sigmoid gate
computed from their element-wise product rescales the mix, and a small head gives class logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from bcviewer.nets.backbones import build_backbone
from bcviewer.nets.errors import ModelCardError

RNN_MODES: tuple[str, ...] = ("rows", "feature_map")
CNN_POOLS: tuple[str, ...] = ("mean", "mean_std")
BRANCHES: tuple[str, ...] = ("cnn", "lstm")
HEADS: tuple[str, ...] = ("mlp", "linear")
# ITU-R BT.601 luma weights, applied to the normalised channels to get the one-channel map.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class HybridConfig:
    """Everything needed to rebuild a HybridNet's architecture (weights excluded)."""

    backbone: str = "resnet18"
    width: float = 1.0
    rnn_mode: str = "rows"
    rnn_hidden: int = 512
    rnn_layers: int = 1
    rows_size: int = 64
    fusion_width: int = 256
    dropout_cnn: float = 0.5
    dropout_head: float = 0.2
    num_classes: int = 2
    trunk_stages: int | None = None  # EfficientNet-Lite only: cut the trunk after this stage
    cnn_pool: str = "mean"  # "mean_std" adds each channel's spatial std (texture contrast)
    rnn_bidirectional: bool = False
    use_lstm: bool = True  # False: the CNN-only ablation (no LSTM branch, no fusion)
    rnn_grid: tuple[int, int] | None = None  # feature_map mode: average-pool the map to rows x cols steps first
    # "linear": CNN only, one linear layer on the standardised pooled vector (a linear probe of the
    # trunk); on BreakHis such probes beat every trained MLP head in patient CV.
    head: str = "mlp"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the model card."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HybridConfig:
        """Rebuild from a model card entry; unknown keys are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelCardError(f"model card has unknown network settings: {', '.join(sorted(unknown))}")
        data = dict(data)
        if data.get("rnn_grid") is not None:
            data["rnn_grid"] = tuple(data["rnn_grid"])  # JSON has lists
        return cls(**data)


class HybridNet(nn.Module):
    """CNN + LSTM hybrid classifier returning logits (and optionally branch attention)."""

    # Submodules whose class depends on the config, declared for the type checker.
    row_norm: nn.Module  # InstanceNorm1d (rows mode) or Identity
    cnn_proj: nn.Module  # Sequential, or Identity for a linear head
    head: nn.Sequential

    def __init__(self, config: HybridConfig | None = None, *, pretrained: str | None = None,
                 **overrides: Any) -> None:
        super().__init__()
        config = HybridConfig(**{**asdict(config or HybridConfig()), **overrides})
        if config.rnn_mode not in RNN_MODES:
            raise ModelCardError(f"unknown LSTM input mode '{config.rnn_mode}'; choose {' or '.join(RNN_MODES)}")
        if config.cnn_pool not in CNN_POOLS:
            raise ModelCardError(f"unknown CNN pooling '{config.cnn_pool}'; choose {' or '.join(CNN_POOLS)}")
        if config.head not in HEADS:
            raise ModelCardError(f"unknown head '{config.head}'; choose {' or '.join(HEADS)}")
        if config.head == "linear" and config.use_lstm:
            raise ModelCardError("a linear head reads the CNN vector only; it needs use_lstm false")
        self.config = config
        self.cnn = build_backbone(config.backbone, pretrained=pretrained, width=config.width,
                                  stages=config.trunk_stages)
        channels = self.cnn.out_channels
        rnn_input = config.rows_size if config.rnn_mode == "rows" else channels
        self.lstm = nn.LSTM(rnn_input, config.rnn_hidden, num_layers=config.rnn_layers, batch_first=True,
                            bidirectional=config.rnn_bidirectional)
        self.row_norm = nn.InstanceNorm1d(config.rows_size) if config.rnn_mode == "rows" else nn.Identity()
        d = config.fusion_width
        pooled = channels * (2 if config.cnn_pool == "mean_std" else 1)
        lstm_out = config.rnn_hidden * (2 if config.rnn_bidirectional else 1)
        self.cnn_drop = nn.Dropout(config.dropout_cnn)
        self.cnn_proj = nn.Sequential(nn.Linear(pooled, d), nn.LayerNorm(d), nn.ReLU())
        self.lstm_proj = nn.Sequential(nn.Linear(lstm_out, d), nn.LayerNorm(d), nn.ReLU())
        self.attn_hidden = nn.Linear(d, d // 2)
        self.attn_score = nn.Linear(d // 2, 1, bias=False)
        self.gate = nn.Linear(d, d)
        self.head = nn.Sequential(nn.Dropout(config.dropout_head), nn.Linear(d, d // 2), nn.ReLU(),
                                  nn.Dropout(config.dropout_head), nn.Linear(d // 2, config.num_classes))
        if config.head == "linear":  # a standardised pooled vector straight to the logits
            self.cnn_proj = nn.Identity()
            # Without affine terms the batch norm only standardises each channel with statistics
            # of the training tiles, as a scaler fitted on the training fold would.
            self.head = nn.Sequential(nn.BatchNorm1d(pooled, affine=False), nn.Linear(pooled, config.num_classes))
        self._cnn_frozen = False
        # Ablation switch (never saved): the LSTM vector is replaced by zeros at the fusion.
        self.zero_lstm = False

    # ---- branches ---------------------------------------------------------------------------
    def _row_sequence(self, x: torch.Tensor) -> torch.Tensor:
        luma = x.new_tensor(_LUMA).view(1, 3, 1, 1)
        gray = (x * luma).sum(dim=1, keepdim=True)
        size = self.config.rows_size
        rows = F.adaptive_avg_pool2d(gray, (size, size)).squeeze(1)  # (B, rows, cols)
        normed: torch.Tensor = self.row_norm(rows)
        return normed  # each row standardised: the LSTM sees texture, not exposure

    def _lstm_vector(self, x: torch.Tensor, fmap: torch.Tensor) -> torch.Tensor:
        if self.config.rnn_mode == "rows":
            seq = self._row_sequence(x)
        else:
            if self.config.rnn_grid is not None:
                # A coarse grid of positions keeps the sequence short (an LSTM step is sequential).
                grid_rows, grid_cols = self.config.rnn_grid
                fmap = F.adaptive_avg_pool2d(fmap, (grid_rows, grid_cols))
            seq = fmap.flatten(2).transpose(1, 2)  # (B, h*w, C), row by row
        h_n: torch.Tensor
        _, (h_n, _) = self.lstm(seq)
        if self.config.rnn_bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)  # last layer, both directions
        return h_n[-1]

    def _pooled(self, fmap: torch.Tensor) -> torch.Tensor:
        mean = fmap.mean(dim=(2, 3))
        if self.config.cnn_pool == "mean":
            return mean
        return torch.cat([mean, fmap.flatten(2).std(dim=2)], dim=1)

    # ---- public -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, classes)``; with ``return_attention`` also the ``(B, 2)`` branch weights
        (columns in :data:`BRANCHES` order: cnn, lstm), which sum to 1 per row."""
        return self.from_features(self.cnn(x), x, return_attention)

    def from_features(self, fmap: torch.Tensor, x: torch.Tensor | None = None, return_attention: bool = False
                      ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The network above the CNN trunk, from its feature map ``fmap`` (what training on cached
        trunk features uses). ``rows`` mode also needs the input ``x``."""
        cnn_vec, lstm_vec = self.branch_vectors(fmap, x)
        if lstm_vec is not None and self.zero_lstm:
            lstm_vec = torch.zeros_like(lstm_vec)
        logits, attention = self.fuse(cnn_vec, lstm_vec)
        return (logits, attention) if return_attention else logits

    def branch_vectors(self, fmap: torch.Tensor, x: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The CNN branch's and the LSTM branch's vectors (None without an LSTM), before fusion;
        ablations that replace one branch's information (its mean, a shuffle) start here."""
        cnn_vec = self.cnn_proj(self.cnn_drop(self._pooled(fmap)))
        if not self.config.use_lstm:
            return cnn_vec, None
        if x is None and self.config.rnn_mode == "rows":
            raise ValueError("rows mode reads the input image; pass x")
        return cnn_vec, self.lstm_proj(self._lstm_vector(x, fmap))  # type: ignore[arg-type]

    def fuse(self, cnn_vec: torch.Tensor, lstm_vec: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the ``(B, 2)`` branch attention from the two branch vectors."""
        if lstm_vec is None:
            logits = self._standardised_linear(cnn_vec) if self._exports_linear() else self.head(cnn_vec)
            attention = torch.stack([torch.ones_like(logits[:, 0]), torch.zeros_like(logits[:, 0])], dim=1)
            return logits, attention
        branches = torch.stack([cnn_vec, lstm_vec], dim=1)  # (B, 2, d)
        scores = self.attn_score(torch.tanh(self.attn_hidden(branches))).squeeze(-1)
        attention = torch.softmax(scores, dim=1)
        mixed = (attention.unsqueeze(-1) * branches).sum(dim=1)
        fused = mixed * torch.sigmoid(self.gate(cnn_vec * lstm_vec))
        return self.head(fused), attention

    def _exports_linear(self) -> bool:
        return self.config.head == "linear" and not self.training

    def _standardised_linear(self, vec: torch.Tensor) -> torch.Tensor:
        """The linear head in eval mode, its batch norm written out: the ONNX exporter cannot
        export a batch norm whose channel count the trace does not know (the pooled std has no
        static shape), and in eval mode the two are the same arithmetic."""
        norm, linear = cast(nn.BatchNorm1d, self.head[0]), cast(nn.Linear, self.head[1])
        # track_running_stats is on (the default), so the running statistics are tensors.
        mean, var = cast(torch.Tensor, norm.running_mean), cast(torch.Tensor, norm.running_var)
        logits: torch.Tensor = linear((vec - mean) / torch.sqrt(var + norm.eps))
        return logits

    def set_cnn_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze the CNN branch (stage 1 vs stage 2 of training).

        A frozen CNN also keeps its batch-norm statistics fixed.
        """
        self._cnn_frozen = not trainable
        for p in self.cnn.parameters():
            p.requires_grad_(trainable)
        if self._cnn_frozen:
            self.cnn.eval()

    def train(self, mode: bool = True) -> HybridNet:
        super().train(mode)
        if self._cnn_frozen:
            self.cnn.eval()
        return self
