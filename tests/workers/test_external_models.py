"""External models: role inference, folding, hooks and the forward contract on a user's plain PyTorch
decoder (tied embeddings) and a `transformers` Llama config. The coordinate check on these and other models
written elsewhere: test_zoo_coord_check.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from support.external import DECODER, ENTRYPOINT, TIE, write_decoder
from torch import nn

from workers.config import TrialConfig
from workers.external.roles import AmbiguousRoles, infer_roles
from workers.external.source import ModelSourceError
from workers.models import make_model
from workers.parametrization import build_model, build_optimizer, resolve_table
from workers.roles import Role

torch.set_num_threads(2)
VOCAB = 50


@pytest.fixture
def code(tmp_path: Path) -> Path:
    return write_decoder(tmp_path / "user")


def custom(code: Path, **fields: object) -> TrialConfig:
    values = {"family": "custom", "entrypoint": ENTRYPOINT, "code_path": str(code), "head_dim": 8}
    return TrialConfig(**{**values, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("tied", [False, True])
def test_inferred_roles_of_the_builtin_gpt_equal_its_declared_roles(tied: bool) -> None:
    def build(width: int, depth: int) -> nn.Module:
        return make_model(TrialConfig(width=width, depth=depth, tied_embeddings=tied), VOCAB)

    declared = make_model(TrialConfig(width=64, depth=2, tied_embeddings=tied), VOCAB).param_roles
    inferred = {p.name: p.role for p in infer_roles(build, 64, 2)}
    assert inferred == declared
    assert set(declared.values()) == {Role.INPUT, Role.HIDDEN, Role.VECTOR} | (
        set() if tied else {Role.OUTPUT}
    )


def test_tied_decoder_roles_multipliers_and_hook(code: Path) -> None:
    config = custom(code, width=128, base_width=32, lr=1.0)
    rows = {row.name: row for row in resolve_table(config, VOCAB)}
    assert "lm_head.weight" not in rows  # one parameter: the embedding's, as microsoft/mup treats a tied one
    token = rows["token.weight"]
    assert (token.role, token.applied_as) == ("input", "none") and "tied" in token.role_source
    assert rows["blocks.0.qkv.weight"].role == "hidden" and rows["blocks.0.qkv.weight"].lr == 0.25
    assert rows["blocks.0.up.bias"].role == "vector" and "own init" in rows["blocks.0.up.bias"].role_source

    model = build_model(config, VOCAB)
    assert model.hook_multipliers == {"token": 1.0, "lm_head": pytest.approx(0.25)}  # α_out / m, m = 4
    idx = torch.randint(0, VOCAB, (2, 8))
    logits, loss = model(idx, idx)
    h = model.model.norm(
        model.model.blocks[1](
            model.model.blocks[0](model.model.token(idx) + model.model.position(torch.arange(8)))
        )
    )
    assert torch.allclose(logits, 0.25 * h @ model.model.token.weight.T, atol=1e-5)
    assert loss is not None and math.isfinite(loss.item())
    # vectors keep the model's own init (LayerNorm: gain 1, bias 0); matrices are drawn by the table
    assert torch.equal(model.model.norm.weight, torch.ones(128))
    assert model.model.blocks[0].qkv.weight.std().item() == pytest.approx(128**-0.5, rel=0.05)


def test_folding_a_readout_multiplier_trains_the_same_function(code: Path) -> None:
    """μP's readout multiplier 1/m, folded into init and LR (untied readout), against the same model
    trained with the multiplier applied by a hook: the same losses step by step, per optimizer."""
    untied = DECODER.replace(TIE, "")
    code = write_decoder(code.parent / "untied", untied)
    for optimizer in ("adamw", "sgd", "lamb", "adopt"):
        config = custom(code, width=64, base_width=16, optimizer=optimizer, lr=1e-2, seed=3, grad_clip=None)
        folded = build_model(config, VOCAB)
        row = {r.name: r for r in resolve_table(config, VOCAB)}["lm_head.weight"]
        assert row.applied_as == "folded" and row.forward_multiplier == 0.25

        hooked = build_model(config, VOCAB)  # same seed: same draws; undo the fold on the readout by hand
        readout = hooked.model.lm_head
        with torch.no_grad():
            readout.weight.div_(0.25)
        readout.register_forward_hook(lambda _m, _a, y: y * 0.25)
        unfolded = build_optimizer(hooked, config)
        for group in unfolded.param_groups:
            if "lm_head.weight" in group["names"]:
                power = {"adamw": 1, "adopt": 1, "sgd": 2, "lamb": 0}[optimizer]
                group["lr"] = group["base_lr"] = group["lr"] / 0.25**power
                group["eps"] = group.get("eps", 0) * 0.25 if optimizer != "sgd" else group.get("eps")
        folded_opt = build_optimizer(folded, config)
        idx = torch.randint(0, VOCAB, (4, 8), generator=torch.Generator().manual_seed(0))
        for _ in range(4):
            losses = []
            for model, opt in ((folded, folded_opt), (hooked, unfolded)):
                _, loss = model(idx, idx)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            assert losses[0] == pytest.approx(losses[1], rel=1e-4), optimizer


def test_ambiguous_and_constant_parameters_are_named_with_the_fix(code: Path) -> None:
    """A parameter with no width dimension is `finite` (nothing rescales it); a 3-D weight used by a
    convolution is ambiguous, named with its shapes, its use and the `roles:` line; a declared role is
    taken."""
    extra = (
        "        self.temperature = nn.Parameter(torch.ones(3))\n"
        "        self.mixer = nn.Parameter(torch.randn(width, width, 3))\n"
    )
    forward = "        x = self.token(idx) + self.position(positions)"
    assert forward in DECODER
    conv = "torch.nn.functional.conv1d(x.transpose(1, 2), self.mixer, padding=1).transpose(1, 2)"
    uses = f"{forward}\n        x = x + {conv}"
    source = DECODER.replace(TIE, TIE + extra).replace(forward, uses, 1)
    code = write_decoder(code.parent / "extra", source)
    named = r"(?s)mixer \[\d+, \d+, 3\].*3-D weight.*conv1d.*roles: \{\"mixer\": hidden\}"
    with pytest.raises(AmbiguousRoles, match=named):
        resolve_table(custom(code), VOCAB)
    rows = {r.name: r for r in resolve_table(custom(code, roles={"mix*": "hidden"}), VOCAB)}
    assert rows["temperature"].role == "finite" and rows["mixer"].role == "hidden"

    fixed = write_decoder(
        code.parent / "fixed", DECODER.replace("Decoder(width, depth,", "Decoder(64, depth,")
    )
    with pytest.raises(ModelSourceError, match="does not grow with width"):
        resolve_table(custom(fixed), VOCAB)


def test_a_missing_entrypoint_or_a_failing_import_says_where(code: Path) -> None:
    with pytest.raises(ModelSourceError, match="module 'tinydec.nope' not found"):
        resolve_table(custom(code, entrypoint="tinydec.nope:build"), VOCAB)
    with pytest.raises(ModelSourceError, match="has no function 'make'"):
        resolve_table(custom(code, entrypoint="tinydec.model:make"), VOCAB)
    broken = write_decoder(code.parent / "broken", DECODER + "\nraise RuntimeError('broken on purpose')\n")
    with pytest.raises(ModelSourceError, match=r"(?s)importing tinydec.model failed.*broken on purpose"):
        resolve_table(custom(broken), VOCAB)


def test_completep_is_refused_for_an_external_model(code: Path) -> None:
    with pytest.raises(ModelSourceError, match="completep.*external models support"):
        resolve_table(custom(code, parametrization="completep"), VOCAB)
