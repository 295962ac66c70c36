"""The coordinate check on models written outside this project (tests/workers/zoo): a correct μP passes its
own predictions, SP's logits grow as SP predicts, and a broken rule fails on the module it breaks. Norms are
found by behaviour (the zoo's `Rms` has no "Norm" in its name) and a readout written in the forward
(`h @ W`) is recorded at the model's output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from support.external import DECODER, ENTRYPOINT, LLAMA, TIE, write_decoder

from workers.config import TrialConfig
from workers.coord_check import coord_check
from workers.external.behaviour import norm_modules
from workers.parametrization import build_model, table
from workers.roles import Role

torch.set_num_threads(2)
ZOO = str(Path(__file__).resolve().parent)
WIDTHS = (64, 128, 256, 512)
GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_head": 4}


def custom(entrypoint: str, code: str = ZOO) -> TrialConfig:
    return TrialConfig(family="custom", entrypoint=entrypoint, code_path=code, head_dim=8)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The examples' decoder (a position embedding module, LayerNorm, a GELU MLP with biases), untied and
    tied."""
    return {
        "untied": str(write_decoder(tmp_path_factory.mktemp("untied"), DECODER.replace(TIE, ""))),
        "tied": str(write_decoder(tmp_path_factory.mktemp("tied"), DECODER)),
    }


MODELS = {
    "raw decoder": custom("zoo.models:raw"),
    "einsum SwiGLU, tied": custom("zoo.models:einsum"),
    "transformers GPT-2": TrialConfig(family="hf", hf_config=GPT2, head_dim=8),
    "transformers Llama": TrialConfig(family="hf", hf_config=LLAMA, head_dim=8),
    "example decoder, untied": custom(ENTRYPOINT),  # its code is written by the `example` fixture
    "example decoder, tied": custom(ENTRYPOINT),
}
READOUT = {
    "raw decoder": "logits",
    "einsum SwiGLU, tied": "unembed",
    "transformers GPT-2": "lm_head",
    "transformers Llama": "lm_head",
    "example decoder, untied": "lm_head",
    "example decoder, tied": "lm_head",
}


def config_of(name: str, example: dict[str, str]) -> TrialConfig:
    if not name.startswith("example"):
        return MODELS[name]
    return replace(MODELS[name], code_path=example[name.split(", ")[1]])


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_models_pass_under_mup_and_show_sps_growth(name: str, example: dict[str, str]) -> None:
    config = config_of(name, example)
    mup = coord_check(config, "mup", "adamw", widths=WIDTHS)
    assert mup.passed, mup.failing
    assert not mup.settings["readout_zero_init"]  # an external readout keeps its σ init
    readout = READOUT[name]
    assert mup.predicted[readout]["rms"][0] == -0.5  # a σ-initialized readout behind a norm: m^(-1/2)
    assert mup.slopes[readout]["rms"][0] == pytest.approx(-0.5, abs=0.15)
    judged = [p for per in mup.predicted.values() for ps in per.values() for p in ps if p is not None]
    assert len(judged) > 20
    sp = coord_check(config, "sp", "adamw", widths=WIDTHS)
    assert sp.passed, sp.failing
    assert sp.slopes[readout]["rms"][0] == pytest.approx(0.5, abs=0.15)  # SP's logits grow like √width


def test_norms_are_found_by_behaviour_not_by_name() -> None:
    model = build_model(replace(MODELS["raw decoder"], width=64), 50)
    assert norm_modules(model.model) == {"blocks.0.n1", "blocks.0.n2", "blocks.1.n1", "blocks.1.n2", "norm"}
    gpt2 = build_model(replace(MODELS["transformers GPT-2"], width=64), 50)
    found = norm_modules(gpt2.model)
    assert "transformer.ln_f" in found and not any("mlp" in n or "attn.c_" in n for n in found)


def broken(monkeypatch: pytest.MonkeyPatch, role: Role, **rule: object) -> None:
    """μP + AdamW with one rule of the table replaced (the table's own functions: `one`, `sigma`)."""
    found = table.lookup("mup", role, "adamw")
    rows = tuple(replace(row, **rule) if row is found else row for row in table.RULES)
    monkeypatch.setattr(table, "RULES", rows)


BROKEN = {
    # rule -> (role, the replaced field, its wrong value, where it must fail: (module kind, stat, step))
    "readout multiplier 1 (SP's)": (Role.OUTPUT, {"forward": table.one}, ("readout", "rms", 0)),
    "hidden LR η (not η/m)": (Role.HIDDEN, {"lr": table.one}, ("hidden", "delta_rms", 1)),
    "hidden init σ (not σ/√m)": (Role.HIDDEN, {"init": table.sigma}, ("hidden", "rms", 0)),
}
HIDDEN = {"raw decoder": "blocks.0.fc", "transformers GPT-2": "transformer.h.0.mlp.c_fc"}


CASES = [("raw decoder", rule) for rule in BROKEN] + [("transformers GPT-2", "hidden LR η (not η/m)")]


@pytest.mark.parametrize(("name", "rule"), CASES)
def test_a_broken_rule_fails_on_the_module_it_breaks(
    name: str, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    role, fields, (where, stat, step) = BROKEN[rule]
    broken(monkeypatch, role, **fields)
    report = coord_check(MODELS[name], "mup", "adamw", widths=WIDTHS)
    module = READOUT[name] if where == "readout" else HIDDEN[name]
    failing = {(f["module"], f["stat"], f["step"]): f for f in report.failing}
    assert (module, stat, step) in failing, report.failing
    miss = failing[(module, stat, step)]
    assert abs(miss["measured"] - miss["predicted"]) > miss["tolerance"]  # the slope it names is off
