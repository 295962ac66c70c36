"""The optimizers beyond torch's, each checked against the property its paper states."""

from __future__ import annotations

import pytest
import torch

from workers.optim import Adopt, Lamb, Muon, orthogonalize

torch.set_num_threads(1)


def test_newton_schulz_orthogonalizes_a_wide_and_a_tall_matrix() -> None:
    g = torch.Generator().manual_seed(0)
    for shape in ((64, 128), (128, 64)):
        singular = torch.linalg.svdvals(orthogonalize(torch.randn(shape, generator=g)))
        assert singular.min() > 0.5 and singular.max() < 1.3  # K. Jordan's quintic: ≈ Uniform(0.7, 1.2)


def test_muon_steps_hidden_matrices_by_lr_in_spectral_norm_and_the_rest_like_torch_adamw() -> None:
    torch.manual_seed(0)
    hidden, vector = torch.nn.Parameter(torch.randn(32, 48)), torch.nn.Parameter(torch.randn(48))
    twin = torch.nn.Parameter(vector.detach().clone())
    muon = Muon(
        [{"params": [hidden], "use_muon": True}, {"params": [vector], "use_muon": False}],
        lr=0.01,
        momentum=0.9,
        weight_decay=0.1,
    )
    adamw = torch.optim.AdamW([twin], lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for _ in range(3):
        before = hidden.detach().clone()
        grads = torch.randn(32, 48), torch.randn(48)
        hidden.grad, vector.grad, twin.grad = grads[0], grads[1], grads[1].clone()
        muon.step()
        adamw.step()
        step = hidden.detach() - before * (1 - 0.01 * 0.1)
        assert 0.005 < torch.linalg.matrix_norm(step, ord=2).item() < 0.013
    assert torch.allclose(vector, twin, atol=1e-6)


def test_muon_refuses_non_matrix_parameters_in_muon_groups() -> None:
    with pytest.raises(ValueError, match="2-D matrices only"):
        Muon([{"params": [torch.nn.Parameter(torch.zeros(4))], "use_muon": True}])


def test_lamb_moves_each_parameter_by_lr_times_its_norm() -> None:
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(16, 16))
    before = p.detach().clone()
    p.grad = torch.randn(16, 16)
    Lamb([p], lr=0.05).step()
    assert (p.detach() - before).norm().item() == pytest.approx(0.05 * before.norm().item(), rel=1e-4)


def test_lamb_takes_a_plain_step_for_a_zero_parameter() -> None:
    p = torch.nn.Parameter(torch.zeros(8))
    p.grad = torch.ones(8)
    Lamb([p], lr=0.1).step()
    assert torch.allclose(p.detach(), torch.full((8,), -0.1), atol=1e-4)


def test_adopt_first_step_only_initializes_and_later_steps_are_clipped() -> None:
    p = torch.nn.Parameter(torch.ones(4))
    opt = Adopt([p], lr=0.1, betas=(0.9, 0.9999))
    p.grad = torch.tensor([1.0, -1.0, 1e-3, 0.0])
    opt.step()
    assert torch.equal(p.detach(), torch.ones(4))
    p.grad = torch.tensor([1e3, 1.0, 1.0, 0.0])  # huge relative to v: normalized then clipped at step^¼ = 1
    opt.step()
    change = (p.detach() - 1).abs()
    assert change.max().item() <= 0.1 * (1 - 0.9) * 1.0 + 1e-7
    assert change[0].item() == pytest.approx(0.01)
