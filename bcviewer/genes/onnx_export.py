"""Export a gene model's networks to ONNX (torch): the ``model.onnx`` a torch-free install runs.

The graph (see :mod:`bcviewer.genes.onnx_runtime` for its inputs and outputs) holds, per
classifier, every network's logits and their exact gradients with respect to the network input.
ONNX has no autograd, so the gradients are traced from a forward-mode pass written out layer by
layer (:func:`_jvp`): each layer carries a tangent for every input gene alongside its value, the
same derivative autograd takes (ReLU's at 0 included), exported as plain ONNX ops. Layers the
rules do not know make the export fail; the export is checked against torch before it is written.

``export_gene_onnx`` writes ``model.onnx`` into the model folder and records it in the card
(``onnx.fp32``, :mod:`bcviewer.nets.onnx_files`); ``bcviewer genes export-onnx`` and
``scripts/export_gene_onnx.py`` call it.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcviewer.genes.linear import LinearGeneClassifier
from bcviewer.genes.catalog import CARD_NAME
from bcviewer.genes.classifier import GeneNetClassifier
from bcviewer.genes.ensemble import GeneEnsemble
from bcviewer.genes.fitting import TorchNets
from bcviewer.genes.nets import CNNBiLSTM, DeepCME, DynamicMultiHeadBlock, GexpNet
from bcviewer.genes.onnx_runtime import input_name, output_names
from bcviewer.genes.store import (
    ONNX_NAME,
    ONNX_ROLE,
    load_gene_model,
    resolve_model_dir,
)
from bcviewer.nets.errors import OnnxExportError
from bcviewer.nets.onnx_files import with_onnx_entry, write_onnx_file
from bcviewer.safety import atomic_write_text, read_regular_text

OPSET = 17
CHECK_TOLERANCE = 1e-4  # logits and gradients of the ONNX file against torch, on the check batch

Dual = tuple[torch.Tensor, torch.Tensor]  # value and tangent, same shape


def _window_pool1d(x: torch.Tensor, output_size: Any) -> torch.Tensor:
    """adaptive_avg_pool1d with the traced length as constants (torch's windows: cell i spans
    floor(i * n / out) .. ceil((i + 1) * n / out)); the exporter converts only lengths that divide."""
    n = int(x.shape[-1])
    out = int(output_size[0] if isinstance(output_size, (tuple, list)) else output_size)
    if n % out == 0:
        return F.avg_pool1d(x, n // out)
    return torch.stack([x[..., i * n // out:-(-(i + 1) * n // out)].mean(dim=-1) for i in range(out)], dim=-1)


@contextmanager
def _exportable_pooling() -> Iterator[None]:
    original = F.adaptive_avg_pool1d
    F.adaptive_avg_pool1d = _window_pool1d  # type: ignore[assignment]
    try:
        yield
    finally:
        F.adaptive_avg_pool1d = original


def _jvp(module: nn.Module, x: torch.Tensor, t: torch.Tensor) -> Dual:
    """``module(x)`` and its derivative along ``t`` (eval mode)."""
    if isinstance(module, nn.Sequential):
        for layer in module:
            x, t = _jvp(layer, x, t)
        return x, t
    if isinstance(module, (nn.Dropout, nn.Identity, nn.Flatten)):
        return module(x), module(t)
    if isinstance(module, nn.Linear):
        return module(x), F.linear(t, module.weight)
    if isinstance(module, nn.Conv1d) and module.padding_mode == "zeros":
        return module(x), F.conv1d(t, module.weight, None, module.stride, module.padding, module.dilation,
                                   module.groups)
    if isinstance(module, nn.BatchNorm1d) and module.running_var is not None:
        scale = torch.rsqrt(module.running_var + module.eps)
        if module.weight is not None:
            scale = scale * module.weight
        return module(x), t * (scale[:, None] if t.dim() == 3 else scale)
    if isinstance(module, nn.ReLU):
        return torch.relu(x), t * (x > 0).to(t.dtype)
    if isinstance(module, nn.GELU) and module.approximate == "none":
        slope = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))) + x * torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return module(x), t * slope
    if isinstance(module, nn.SiLU):
        s = torch.sigmoid(x)
        return module(x), t * s * (1.0 + x * (1.0 - s))
    if isinstance(module, nn.MaxPool1d) and _plain_pool(module):
        k = int(module.kernel_size)  # type: ignore[arg-type]
        length = x.shape[-1] // k * k
        xs, ts = x[..., :length].unflatten(-1, (-1, k)), t[..., :length].unflatten(-1, (-1, k))
        index = xs.argmax(dim=-1, keepdim=True)  # the first maximum, as torch's max pool routes gradients
        return xs.gather(-1, index).squeeze(-1), ts.gather(-1, index).squeeze(-1)
    if isinstance(module, nn.AdaptiveAvgPool1d):
        return _window_pool1d(x, module.output_size), _window_pool1d(t, module.output_size)
    if isinstance(module, DeepCME):
        return _jvp(module.rest, *_jvp(module.first, x, t))
    if isinstance(module, DynamicMultiHeadBlock):
        return _jvp_block(module, x, t)
    if isinstance(module, GexpNet):
        x, t = _jvp(module.stem, x.unsqueeze(1), t.unsqueeze(1))
        for layer in (module.blocks, module.pool, module.classifier):
            x, t = _jvp(layer, x, t)
        return x, t
    if isinstance(module, CNNBiLSTM):
        x, t = _jvp(module.conv, x.unsqueeze(1), t.unsqueeze(1))
        forward = _jvp_lstm(module.lstm, x.transpose(1, 2), t.transpose(1, 2), "")
        backward = _jvp_lstm(module.lstm, x.transpose(1, 2).flip(1), t.transpose(1, 2).flip(1), "_reverse")
        return _jvp(module.head, torch.cat([forward[0], backward[0]], dim=1), torch.cat([forward[1], backward[1]], dim=1))
    raise OnnxExportError(f"the ONNX export has no derivative rule for {type(module).__name__}")


def _plain_pool(module: nn.MaxPool1d) -> bool:
    stride = module.stride if module.stride is not None else module.kernel_size
    return (module.kernel_size == stride and module.padding == 0 and module.dilation == 1
            and not module.ceil_mode and not module.return_indices)


def _jvp_block(block: DynamicMultiHeadBlock, x: torch.Tensor, t: torch.Tensor) -> Dual:
    gate, dgate = _jvp(block.gate, x.mean(dim=2), t.mean(dim=2))
    weights = torch.softmax(gate, dim=1)
    dweights = weights * (dgate - (weights * dgate).sum(dim=1, keepdim=True))
    heads = [_jvp(head, x, t) for head in block.heads]
    outputs, doutputs = torch.stack([h[0] for h in heads], dim=1), torch.stack([h[1] for h in heads], dim=1)
    mixed = (weights[:, :, None, None] * outputs).sum(dim=1)
    dmixed = (dweights[:, :, None, None] * outputs + weights[:, :, None, None] * doutputs).sum(dim=1)
    return x + mixed, t + dmixed


def _jvp_lstm(lstm: nn.LSTM, x: torch.Tensor, t: torch.Tensor, suffix: str) -> Dual:
    """The last hidden state of one direction of a one-layer, batch-first LSTM (``x``: batch,
    positions, features; the reverse direction gets the positions flipped) and its tangent."""
    if lstm.num_layers != 1 or not lstm.batch_first or not lstm.bias or lstm.proj_size:
        raise OnnxExportError("the ONNX export handles one-layer, batch-first LSTMs with bias only")
    # Transposed once, so the unrolled steps share one copy of each weight in the file.
    w_ih, w_hh = getattr(lstm, f"weight_ih_l0{suffix}").t(), getattr(lstm, f"weight_hh_l0{suffix}").t()
    bias = getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}")
    inputs, dinputs = x @ w_ih + bias, t @ w_ih  # every position at once
    h = dh = c = dc = None
    for step in range(int(x.shape[1])):
        gates, dgates = inputs[:, step], dinputs[:, step]
        if h is not None and dh is not None:
            gates, dgates = gates + h @ w_hh, dgates + dh @ w_hh
        gi, gf, gg, go = gates.chunk(4, dim=1)
        dgi, dgf, dgg, dgo = dgates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(gi), torch.sigmoid(gf), torch.tanh(gg), torch.sigmoid(go)
        di, df, dg, do = i * (1 - i) * dgi, f * (1 - f) * dgf, (1 - g * g) * dgg, o * (1 - o) * dgo
        if c is None or dc is None:
            c, dc = i * g, di * g + i * dg
        else:
            c, dc = f * c + i * g, df * c + f * dc + di * g + i * dg
        tanh_c = torch.tanh(c)
        h, dh = o * tanh_c, do * tanh_c + o * (1 - tanh_c * tanh_c) * dc
    assert h is not None and dh is not None
    return h, dh


class GeneGraph(nn.Module):
    """Per classifier: its networks' logits ``(B, nets, outputs)`` and input gradients
    ``(B, nets, outputs, inputs)``."""

    def __init__(self, groups: list[list[nn.Module]]) -> None:
        super().__init__()
        self.groups = nn.ModuleList(nn.ModuleList(nets) for nets in groups)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs: list[torch.Tensor] = []
        for group, x in zip(self.groups, inputs):
            nets = list(cast(nn.ModuleList, group))
            n = int(x.shape[1])
            outputs.append(torch.stack([net(x) for net in nets], dim=1))
            # One row per (sample, input gene): the value repeated, the tangent a unit vector.
            # Broadcasting, not expand or zeros_like: the tracer would keep the example's batch size.
            values = (x.unsqueeze(1) + torch.zeros(n, 1, dtype=x.dtype)).reshape(-1, n)
            tangents = (0.0 * x.unsqueeze(1) + torch.eye(n, dtype=x.dtype)).reshape(-1, n)
            grads = [_jvp(net, values, tangents)[1].reshape(-1, n, net_outputs(net)).transpose(1, 2) for net in nets]
            outputs.append(torch.stack(grads, dim=1))
        return tuple(outputs)


def net_outputs(net: nn.Module) -> int:
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    return int(last.out_features)


def _classifiers(model_classifier: GeneNetClassifier | GeneEnsemble) -> list[GeneNetClassifier]:
    return model_classifier.members if isinstance(model_classifier, GeneEnsemble) else [model_classifier]


def export_bytes(classifier: GeneNetClassifier | GeneEnsemble) -> bytes:
    """The classifier's networks (torch-loaded) as an ONNX graph, opset :data:`OPSET`, dynamic batch."""
    groups = _classifiers(classifier)
    if any(not c.nets for c in groups):
        raise OnnxExportError("the ONNX export needs the torch networks; load the model with runtime='torch'")
    graph = GeneGraph([list(c.nets) for c in groups]).float().eval()
    examples = tuple(torch.zeros(2, len(c.selected_genes())) for c in groups)  # batch 2: nothing specialised to 1
    inputs = [input_name(a) for a in range(len(groups))]
    outputs = [name for a in range(len(groups)) for name in output_names(a)]
    # One batch name per classifier: ORT holds equal names to equal sizes, and a member of an
    # ensemble feeds the other members a batch of one (their nodes run too).
    axes = {name: {0: f"batch{a}"} for a in range(len(groups)) for name in (input_name(a), *output_names(a))}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad(), _exportable_pooling():
            warnings.simplefilter("ignore")  # tracer notes on unrolled loops; the export is checked below
            torch.onnx.export(graph, examples, buffer, dynamo=False, opset_version=OPSET,  # type: ignore[arg-type]
                              input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, do_constant_folding=True)
    except OnnxExportError:
        raise
    except Exception as exc:  # any tracer or exporter failure is one clear error
        raise OnnxExportError(f"could not export the gene model to ONNX ({type(exc).__name__}: {exc})") from exc
    return _compact(buffer.getvalue())


def _compact(data: bytes) -> bytes:
    """The same graph with short names for its nodes and intermediate values (the unrolled LSTM
    steps make tens of thousands; the exporter's path-like names were most of the file)."""
    import onnx

    model = onnx.load_from_string(data)
    graph: Any = model.graph
    keep = {v.name for v in (*graph.input, *graph.output, *graph.initializer)}
    names: dict[str, str] = {}
    for number, node in enumerate(graph.node):
        node.name = ""
        node.doc_string = ""
        for out in node.output:
            if out and out not in keep:
                names.setdefault(out, f"t{number}_{len(names)}")
    for node in graph.node:
        node.input[:] = [names.get(v, v) for v in node.input]
        node.output[:] = [names.get(v, v) for v in node.output]
    del graph.value_info[:]
    return bytes(model.SerializeToString())


def check_export(data: bytes, classifier: GeneNetClassifier | GeneEnsemble, X: np.ndarray | None = None) -> float:
    """Largest difference between the ONNX file's logits and gradients and torch's on ``X`` (raw
    expression; default: random inputs); raises :class:`OnnxExportError` past :data:`CHECK_TOLERANCE`."""
    from bcviewer.genes.onnx_runtime import OnnxNets, onnx_session

    session = onnx_session(data, "the exported model", threads=1)
    worst = 0.0
    for a, member in enumerate(_classifiers(classifier)):
        if X is None:
            inputs = np.random.default_rng(a).standard_normal((7, len(member.selected_genes()))).astype(np.float32)
        else:
            inputs = member.network_input(X)
        onnx, torch_nets = OnnxNets(session, a), TorchNets(member.nets)
        for ours, theirs in ((onnx.logits(inputs), torch_nets.logits(inputs)),
                             (onnx.gradients(inputs), torch_nets.gradients(inputs))):
            scale = max(1.0, float(np.abs(theirs).max()))
            worst = max(worst, float(np.abs(ours - theirs).max()) / scale)
    if worst > CHECK_TOLERANCE:
        raise OnnxExportError(f"the exported ONNX graph differs from the torch networks by {worst:.2g}")
    return worst


def export_gene_onnx(name_or_path: str | Path, models_dir: Path | None = None) -> Path:
    """Export the model's networks to ``model.onnx`` in its folder, check them against torch and
    record the file in its card (written atomically). Returns the ONNX file's path."""
    directory = resolve_model_dir(name_or_path, models_dir)
    model = load_gene_model(directory, runtime="torch")
    if isinstance(model.classifier, LinearGeneClassifier):
        raise OnnxExportError(f"{model.name} is a logistic model: it runs in numpy and needs no ONNX file")
    data = export_bytes(model.classifier)
    check_export(data, model.classifier)
    card = json.loads(read_regular_text(directory / CARD_NAME, "model card"))
    entry = write_onnx_file(directory, card, ONNX_ROLE, data, ONNX_NAME, opset=OPSET)
    atomic_write_text(directory / CARD_NAME, json.dumps(with_onnx_entry(card, ONNX_ROLE, entry), indent=1) + "\n")
    return directory / ONNX_NAME
