"""Forward and backward passes of the three gene networks, binary and multi-class, on real rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bcviewer.genes.io import read_expression_table
from bcviewer.genes.nets import ARCHITECTURES, DeepCME, build_net
from bcviewer.genes.targets import infer_encoding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def deggs(test_data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    table = read_expression_table(test_data / "genes" / "tcga_deggs_pam50_84.csv", label="pam50_subtype")
    y = infer_encoding(table.labels).encode(table.labels)
    x = torch.tensor(table.expression.to_numpy(), dtype=torch.float32)
    return x[:24], torch.tensor(y[:24])


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("n_outputs", [1, 5])
def test_forward_and_backward(architecture: str, n_outputs: int, deggs: tuple[torch.Tensor, torch.Tensor]) -> None:
    torch.manual_seed(0)
    x, y = deggs
    net = build_net(architecture, x.shape[1], n_outputs)
    net.train()
    logits = net(x)
    assert logits.shape == (24, n_outputs)
    assert torch.isfinite(logits).all()
    if n_outputs == 1:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], (y == 0).float())
    else:
        loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []
    net.eval()
    with torch.no_grad():
        assert net(x[:3]).shape == (3, n_outputs)  # eval mode works on small batches


def test_one_gradient_step_lowers_the_loss(deggs: tuple[torch.Tensor, torch.Tensor]) -> None:
    torch.manual_seed(0)
    x, y = deggs
    for architecture in ARCHITECTURES:
        net = build_net(architecture, x.shape[1], 5)
        net.eval()  # no dropout noise: the comparison is of the same function
        optimiser = torch.optim.SGD(net.parameters(), lr=0.05)
        before = torch.nn.functional.cross_entropy(net(x), y)
        before.backward()
        optimiser.step()
        after = torch.nn.functional.cross_entropy(net(x), y)
        assert after.item() < before.item(), architecture


def test_deepcme_gene_scores_are_column_sums_of_first_layer() -> None:
    net = DeepCME(7, 1)
    with torch.no_grad():
        net.first.weight.zero_()
        net.first.weight[:, 2] = 0.5
        net.first.weight[3, 5] = -2.0
    scores = net.gene_scores().numpy()
    expected = np.zeros(7)
    expected[2] = 0.5 * net.first.out_features
    expected[5] = 2.0
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_short_gene_lists_are_accepted() -> None:
    for architecture in ARCHITECTURES:
        net = build_net(architecture, 4, 3)
        net.eval()
        assert net(torch.randn(2, 4)).shape == (2, 3)


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_net("resnet", 10, 1)
