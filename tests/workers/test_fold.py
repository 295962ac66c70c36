"""Folding a forward multiplier c into init and learning rate (workers/parametrization/fold.py) trains the
same function as applying c in the forward: for every optimizer with a fold, with weight decay, an active
gradient clip, and a readout initialized at σ or at zero. Checked in float64 against a model whose readout
multiplies its output by c, to 1e-9 relative, over 40 steps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workers.optim import Adopt, Lamb
from workers.parametrization.fold import clip_unfolded, fold
from workers.parametrization.table import optimizer_family

C = 1 / 16
STEPS = 40
HP = {"lr": 2e-2, "eps": 1e-8, "weight_decay": 0.5}


class Net(nn.Module):
    def __init__(self, readout_std: float, multiplier: float) -> None:
        super().__init__()
        self.hidden = nn.Linear(8, 32, bias=False)
        self.readout = nn.Linear(32, 5, bias=False)
        self.multiplier = multiplier
        with torch.no_grad():
            self.readout.weight.normal_(0.0, 1.0).mul_(readout_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.multiplier * self.readout(torch.tanh(self.hidden(x)))


def optimizer(name: str, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(groups)
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9)
    return {"lamb": Lamb, "adopt": Adopt}[name](groups)


def initial_norm(net: Net, x: torch.Tensor, y: torch.Tensor) -> float:
    """The gradient norm at init, to set a clip that acts (the multiplier makes the gradients small)."""
    probe = copy.deepcopy(net)
    F.cross_entropy(probe(x), y).backward()
    return float(torch.nn.utils.get_total_norm([p.grad for p in probe.parameters()]))


def groups(net: Net, readout: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"params": [net.hidden.weight], **HP}, {"params": [net.readout.weight], **readout}]


@pytest.mark.parametrize("name", ["adamw", "adopt", "sgd", "lamb"])
@pytest.mark.parametrize("readout_std", [0.1, 0.0], ids=["sigma init", "zero init"])
def test_a_folded_multiplier_trains_the_same_function_with_decay_clip_and_zero_init(
    name: str, readout_std: float
) -> None:
    torch.manual_seed(0)
    hooked = Net(readout_std, C).double()
    folded = copy.deepcopy(hooked)
    folded.multiplier = 1.0
    with torch.no_grad():
        folded.readout.weight.mul_(C)  # init σ × c
    f = fold(C, optimizer_family(name), 1.0, HP["lr"], HP["eps"], HP["weight_decay"])
    rule = {"lr": f.lr, "eps": f.eps, "weight_decay": f.weight_decay, "folded_multiplier": C}
    reference = optimizer(name, groups(hooked, dict(HP)))
    candidate = optimizer(name, groups(folded, rule))
    x = torch.randn(64, 8, dtype=torch.float64)
    y = torch.randint(0, 5, (64,))
    limit = 0.5 * initial_norm(hooked, x, y)
    clipped = 0
    for _ in range(STEPS):
        norms = []
        for net, opt in ((hooked, reference), (folded, candidate)):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            norms.append(clip_unfolded(net.parameters(), opt.param_groups, limit))
            opt.step()
        assert norms[0] == pytest.approx(norms[1], rel=1e-9)
        clipped += norms[0] > limit
    assert clipped >= STEPS // 4  # the clip acted on many steps
    assert torch.allclose(folded.readout.weight, C * hooked.readout.weight, rtol=1e-9, atol=1e-15)
    assert torch.allclose(folded.hidden.weight, hooked.hidden.weight, rtol=1e-9, atol=1e-15)


def test_without_the_unfolded_clip_or_lambs_own_decay_rule_the_fold_is_not_exact() -> None:
    """The two corrections are needed: LAMB with the decay left at λ (the old rule) drifts, and so does an
    Adam-type fold clipped on the folded gradients' own norm."""
    torch.manual_seed(0)
    hooked = Net(0.1, C).double()
    folded = copy.deepcopy(hooked)
    folded.multiplier = 1.0
    with torch.no_grad():
        folded.readout.weight.mul_(C)
    x = torch.randn(64, 8, dtype=torch.float64)
    y = torch.randint(0, 5, (64,))
    limit = 0.5 * initial_norm(hooked, x, y)
    old = {"lr": HP["lr"], "eps": HP["eps"] / C, "weight_decay": HP["weight_decay"], "folded_multiplier": C}
    for name, rule, unfolded_clip in (
        ("lamb", old, True),
        ("adamw", {"lr": HP["lr"] * C, "eps": HP["eps"] / C, "weight_decay": HP["weight_decay"] / C}, False),
    ):
        a, b = copy.deepcopy(hooked), copy.deepcopy(folded)
        reference, candidate = optimizer(name, groups(a, dict(HP))), optimizer(name, groups(b, dict(rule)))
        for _ in range(STEPS):
            for net, opt in ((a, reference), (b, candidate)):
                opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                if unfolded_clip:
                    clip_unfolded(net.parameters(), opt.param_groups, limit)
                else:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), limit)
                opt.step()
        assert not torch.allclose(b.readout.weight, C * a.readout.weight, rtol=1e-3), name
