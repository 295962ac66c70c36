"""The sweep spec accepts the examples and rejects bad specs with a message that says what to fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from orchestrator.spec import Limits, parse_spec, stored_spec, validation_messages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name, trials", [("tiny-cpu.yaml", 90), ("gpu.yaml", 480), ("horizon-cpu.yaml", 72)])
def test_examples_are_valid(name: str, trials: int) -> None:
    spec = parse_spec(yaml.safe_load((EXAMPLES / name).read_text()))
    assert spec.total_trials() == trials
    assert spec.proxy.widths == sorted(spec.proxy.widths)
    assert spec.target.width > spec.proxy.widths[-1]


def test_external_model_examples_are_valid() -> None:
    custom = yaml.safe_load((EXAMPLES / "custom-model" / "custom.yaml").read_text())
    with pytest.raises(ValidationError, match="submit SPEC --code DIR"):
        parse_spec(custom)  # the code digest comes with the upload
    custom["model"]["code"] = "sha256:" + "0" * 64
    assert parse_spec(custom).model.entrypoint == "my_models.tiny_decoder:build"
    llama = parse_spec(yaml.safe_load((EXAMPLES / "hf-llama.yaml").read_text()))
    assert llama.model.family == "hf" and llama.model.config["model_type"] == "llama"


@pytest.mark.parametrize(
    "model, message",
    [
        ({"family": "custom", "code": "sha256:" + "0" * 64}, "needs model.entrypoint"),
        ({"family": "custom", "entrypoint": "a.b:c", "code": "sha256:00"}, "String should match pattern"),
        ({"family": "custom", "entrypoint": "not a path", "code": "sha256:" + "0" * 64}, "pattern"),
        ({"family": "hf", "config": {"model_type": "bert"}}, "one of ['llama', 'gpt2']"),
        ({"family": "hf", "config": {"model_type": "llama"}, "tied_embeddings": True}, "decides its own"),
        ({"family": "gpt", "entrypoint": "a.b:c"}, "model.entrypoint do(es) not apply to model.family gpt"),
        ({"family": "hf", "config": {"model_type": "llama"}, "roles": {"x": "weird"}}, "roles.x"),
    ],
)
def test_external_model_fields_are_checked(tiny_spec: dict[str, Any], model: dict, message: str) -> None:
    data = copy.deepcopy(tiny_spec)
    data["model"] = {"depth": 2, "head_dim": 16, **model}
    with pytest.raises(ValidationError) as caught:
        parse_spec(data)
    assert message in "; ".join(validation_messages(caught.value))


def test_a_budget_takes_positive_limits(tiny_spec: dict[str, Any]) -> None:
    data = copy.deepcopy(tiny_spec)
    data["budget"] = {"max_wall_time": 60, "max_proxy_flops": 1e15}
    assert parse_spec(data).budget.max_trial_hours is None
    data["budget"] = {"max_trial_hours": 0}
    with pytest.raises(ValidationError, match="greater than 0"):
        parse_spec(data)
    data["budget"] = {"max_hours": 1}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_spec(data)


def test_an_external_target_model_is_refused(tiny_spec: dict[str, Any]) -> None:
    data = copy.deepcopy(tiny_spec)
    data["target"]["model"] = {"family": "hf", "config": {"model_type": "llama"}}
    with pytest.raises(ValidationError, match="given once, in model"):
        parse_spec(data)


def test_tiny_example_compares_sp_and_mup_on_three_widths(tiny_spec: dict[str, Any]) -> None:
    spec = parse_spec(tiny_spec)
    assert set(spec.parametrizations) == {"sp", "mup"}
    assert len(spec.proxy.widths) == 3


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return data


_DELETE = object()

BAD_SPECS = [
    (
        "proxy.widths",
        [64, 32, 128],
        "proxy.widths: proxy.widths must be strictly ascending, got [64, 32, 128]",
    ),
    ("proxy.widths", [32], "at least 2 widths"),
    ("proxy.widths", [-32, 32], "must all be positive"),
    ("target.width", 128, "target.width (128) must be wider than every proxy width [32, 64, 128]"),
    ("search.space.lr.low", 0.5, "low (0.5) must be < high (0.022"),
    ("search.space.lr.low", -1.0, "a log-scale range must be positive"),
    ("search.space.momentum", {"low": 0.1, "high": 0.9}, "unknown hyperparameter(s) ['momentum']"),
    ("parametrizations", ["mup", "xp"], "parametrizations.1: Input should be 'sp', 'mup', 'sp-embedding-lr'"),
    ("optimizer.name", "adam", "optimizer.name: Input should be 'adamw', 'sgd', 'muon', 'lamb' or 'adopt'"),
    (
        "search.algorithm",
        "bayes",
        "search.algorithm: Input should be 'grid', 'random', 'tpe', 'cmaes' or 'gp'",
    ),
    ("proxy.stepz", 10, "proxy.stepz: unknown field"),
    ("learning_rate", 0.1, "learning_rate: unknown field"),
    ("name", _DELETE, "name: required field is missing"),
    ("name", "bad/name", "name: String should match pattern"),
    ("proxy.seeds", [0, 0], "proxy.seeds must be distinct"),
    ("proxy.seeds", [2**40], "proxy.seeds must be integers in [0, 2147483647]"),
    ("optimizer.weight_decay", float("inf"), "optimizer.weight_decay: Input should be a finite number"),
    ("model.depth", 100_000, "depth 100000 exceeds the limit of 512"),
    ("spec_version", 2, "spec_version: Input should be 1"),
    ("model.head_dim", 24, "every width must be a multiple of model.head_dim (24)"),
    (
        "proxy.token_budgets",
        [10],
        "proxy.token_budgets: 10 tokens is less than one step of batch_size × context_length = 1024",
    ),
    ("proxy.token_budgets", [0], "proxy.token_budgets.0: Input should be greater than or equal to 1"),
    ("proxy.token_budgets", [10**15], "steps exceeds the limit of 10000000"),
    ("proxy.batch_sizes", [4096], "proxy.batch_sizes: 4096 × context_length 64 exceeds the base budget"),
    ("proxy.scan_widths", "widest", "proxy.scan_widths: Input should be 'narrowest' or 'all'"),
    ("target.batch_size", 0, "target.batch_size: Input should be greater than or equal to 1"),
]


def test_scans_add_searches_at_the_narrowest_or_every_width(tiny_spec: dict[str, Any]) -> None:
    data = _set(copy.deepcopy(tiny_spec), "proxy.token_budgets", [2 * 120 * 16 * 64])
    data = _set(data, "proxy.batch_sizes", [8, 32])
    spec = parse_spec(data)
    scans = [c for c in spec.searches() if c.tokens is not None or c.batch_size is not None]
    assert {(c.width, c.tokens, c.batch_size) for c in scans if c.parametrization == "mup"} == {
        (32, 2 * 120 * 16 * 64, None),
        (32, None, 8),
        (32, None, 32),
    }
    assert spec.trial_budget(2 * 120 * 16 * 64, None) == (240, 16)
    assert spec.trial_budget(None, 32) == (60, 32)  # the base tokens at a larger batch: fewer steps
    every = parse_spec(_set(data, "proxy.scan_widths", "all"))
    assert len(every.searches()) == len(spec.searches()) + 2 * 2 * 3


@pytest.mark.parametrize("path, value, message", BAD_SPECS, ids=[f"{p}={v!r}"[:40] for p, v, _ in BAD_SPECS])
def test_bad_spec_is_rejected_with_a_message(
    tiny_spec: dict[str, Any], path: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec(_set(tiny_spec, path, value))
    assert any(message in line for line in validation_messages(info.value)), validation_messages(info.value)


def test_limits_are_configurable(tiny_spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec(tiny_spec, Limits(max_trials=10))
    assert "this sweep would run 90 trials; the limit is 10" in " ".join(validation_messages(info.value))
    assert parse_spec(tiny_spec, Limits(max_trials=90)).total_trials() == 90


def test_a_stored_spec_is_read_back_under_no_limits(tiny_spec: dict[str, Any]) -> None:
    """A sweep the service accepted under raised limits (or before they were lowered) stays readable."""
    big = _set(copy.deepcopy(tiny_spec), "proxy.seeds", list(range(200)))  # 90 × 200 = 18,000 trials
    assert parse_spec(big, Limits(max_trials=20_000, max_seeds=200)).total_trials() == 18_000
    with pytest.raises(ValidationError):
        parse_spec(big)
    assert stored_spec(big).total_trials() == 18_000
