"""The coordinate check on models written outside this project (tests/workers/zoo): a correct μP passes its
own predictions, SP's logits grow as SP predicts, and a broken rule fails on the module it breaks. Norms are
found by behaviour (the zoo's `Rms` has no "Norm" in its name) and a readout written in the forward
(`h @ W`) is recorded at the model's output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from workers.config import TrialConfig
from workers.coord_check import coord_check
from workers.external.behaviour import norm_modules
from workers.parametrization import build_model, table
from workers.roles import Role

torch.set_num_threads(2)
ZOO = str(Path(__file__).resolve().parent)
WIDTHS = (64, 128, 256, 512)
GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_head": 4}
MODELS = {
    "raw decoder": TrialConfig(family="custom", entrypoint="zoo.models:raw", code_path=ZOO, head_dim=8),
    "einsum SwiGLU, tied": TrialConfig(
        family="custom", entrypoint="zoo.models:einsum", code_path=ZOO, head_dim=8
    ),
    "transformers GPT-2": TrialConfig(family="hf", hf_config=GPT2, head_dim=8),
}
READOUT = {"raw decoder": "logits", "einsum SwiGLU, tied": "unembed", "transformers GPT-2": "lm_head"}


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_models_pass_under_mup_and_show_sps_growth(name: str) -> None:
    config = MODELS[name]
    mup = coord_check(config, "mup", "adamw", widths=WIDTHS)
    assert mup.passed, mup.failing
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


@pytest.mark.parametrize("name", ["raw decoder", "transformers GPT-2"])
def test_a_readout_without_mups_multiplier_fails_on_the_logits(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = table.lookup("mup", Role.OUTPUT, "adamw")
    rows = tuple(replace(row, forward=table.one) if row is found else row for row in table.RULES)
    monkeypatch.setattr(table, "RULES", rows)
    report = coord_check(MODELS[name], "mup", "adamw", widths=WIDTHS)
    failing = {(f["module"], f["stat"], f["step"]) for f in report.failing}
    assert (READOUT[name], "rms", 0) in failing, report.failing
