"""Roles read from how the forward uses each parameter, never from its layout alone (docs/external-models.md,
"How roles are inferred"): the zoo's raw positional table, raw readout matrix, einsum weights (in, out),
scalar gates, tied readouts with and without a module."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from torch import nn
from typer.testing import CliRunner
from zoo.models import EinsumDecoder, RawDecoder, ReadoutInForward, TorchEncoder

from api.cli import app
from workers.external.roles import AmbiguousRoles, InferredParam, infer_roles
from workers.roles import Role

VOCAB, CONTEXT = 50, 16


def builder(cls: type[nn.Module]) -> Callable[[int, int], nn.Module]:
    return lambda width, depth: cls(width, depth, VOCAB, CONTEXT)


def roles_of(cls: type[nn.Module], **kw: object) -> dict[str, InferredParam]:
    return {p.name: p for p in infer_roles(builder(cls), 32, 2, context_length=CONTEXT, **kw)}


def test_a_raw_positional_table_a_raw_readout_and_scalar_gates_get_their_roles_from_use() -> None:
    roles = roles_of(RawDecoder)
    pos, head = roles["pos"], roles["head"]
    # the positional table is added to the stream: an input layer whose fan-in is the context, not a readout
    assert pos.role == Role.INPUT and pos.axes == (0, 1) and "added" in pos.reason
    assert pos.fans((CONTEXT, 128)) == (CONTEXT, 128)
    # x @ head contracts head's first dimension: its fan-in is the width, although it is stored (in, out)
    assert head.role == Role.OUTPUT and head.axes == (0, 1) and head.fans((128, VOCAB)) == (128, VOCAB)
    for gate in ("blocks.0.a_attn", "blocks.1.a_mlp"):  # no width dimension: nothing rescales them
        assert roles[gate].role == Role.FINITE and roles[gate].fans(()) == (1, 1)
        assert "scalar" in roles[gate].reason
    assert roles["blocks.0.fc.bias"].role == Role.VECTOR and roles["norm.gain"].role == Role.VECTOR
    assert roles["blocks.0.qkv.weight"].role == Role.HIDDEN and roles["blocks.0.qkv.weight"].axes == (1, 0)
    assert roles["token.weight"].role == Role.INPUT and roles["token.weight"].axes == (0, 1)


def test_einsum_weights_stored_in_out_and_a_tied_readout_through_a_module() -> None:
    roles = roles_of(EinsumDecoder)
    up = roles["layers.0.w_up"]
    assert up.role == Role.HIDDEN and up.axes == (0, 1) and up.fans((64, 128)) == (64, 128)
    assert roles["layers.0.w_down"].axes == (0, 1)
    embed = roles["embed.weight"]
    assert embed.role == Role.INPUT and embed.tied_readout == "unembed" and embed.owner.module == "embed"
    assert "unembed.weight" not in roles  # one parameter, two names


def test_a_readout_no_module_applies_is_refused_with_the_fix_and_a_declared_role_is_taken() -> None:
    with pytest.raises(AmbiguousRoles, match=r"(?s)embed.weight.*read out in the model's own forward.*roles"):
        roles_of(ReadoutInForward)
    roles = roles_of(ReadoutInForward, roles={"embed.weight": "input"})
    assert roles["embed.weight"].role == Role.INPUT and roles["embed.weight"].axes == (0, 1)


def test_declaring_a_scalar_a_vector_as_the_hint_says_does_not_crash() -> None:
    roles = roles_of(RawDecoder, roles={"blocks.*.a*": "vector"})
    gate = roles["blocks.0.a_attn"]
    assert gate.role == Role.VECTOR and gate.fans(()) == (1, 1)


def test_the_parametrization_command_reads_roles_from_use_for_a_user_model() -> None:
    """`mutransfer parametrization --entrypoint` on the zoo's raw decoder (the command a new user runs)."""
    zoo = str(Path(__file__).resolve().parent)
    args = ["parametrization", "--entrypoint", "zoo.models:raw", "--code", zoo, "--width", "128"]
    result = CliRunner().invoke(app, [*args, "--base-width", "32", "--head-dim", "8", "--json"])
    assert result.exit_code == 0, result.output
    table, _ = json.JSONDecoder().raw_decode(result.stdout)  # notes for the user follow on stderr
    rows = {row["name"]: row for row in table}
    assert rows["pos"]["role"] == "input" and rows["head"]["role"] == "output"
    assert rows["head"]["applied_as"] == "folded" and rows["head"]["forward_multiplier"] == 0.25
    gate = rows["blocks.0.a_attn"]
    assert gate["role"] == "finite" and gate["shape"] == [] and gate["lr"] == 1 and gate["weight_decay"] == 0
    declared = CliRunner().invoke(app, [*args, "--role", "blocks.*.a*=vector", "--json"])
    assert declared.exit_code == 0, declared.output  # the hint's own fix does not crash


def test_torchs_fused_attention_weights_and_a_vocabulary_bias() -> None:
    roles = roles_of(TorchEncoder)
    attention = roles["encoder.layers.0.self_attn.in_proj_weight"]
    assert attention.role == Role.HIDDEN and attention.axes == (1, 0)
    assert "multi_head_attention_forward" in attention.reason
    assert roles["encoder.layers.1.self_attn.out_proj.weight"].role == Role.HIDDEN
    assert roles["head.weight"].role == Role.OUTPUT and roles["head.bias"].role == Role.FINITE
