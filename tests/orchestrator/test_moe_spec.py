"""A spec chooses the MoE bridge (`model.moe.bridge`); the choice reaches the worker, a typo is a 422. An MoE
model the worker could not build (expert hidden size that does not split) or an MoE target no rule maps the
proxies' HPs to is a 422 at submit, not a failed sweep after every proxy ran."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.spec import parse_spec
from orchestrator.trial_config import trial_config
from workers.moe_config import MoEConfig

SWEEPS = "/api/v1/sweeps"


def moe_spec(tiny_spec: dict[str, Any], **moe: Any) -> dict[str, Any]:
    data = copy.deepcopy(tiny_spec)
    data["model"] = {**data.get("model", {}), "family": "moe", "moe": {"n_experts": 4, "top_k": 2, **moe}}
    return data


def test_the_bridge_defaults_to_complete_mue_and_a_chosen_one_reaches_the_worker(tiny_spec: dict) -> None:
    assert parse_spec(moe_spec(tiny_spec)).model.moe.bridge == "complete-mue"
    spec = parse_spec(moe_spec(tiny_spec, bridge="none"))
    config = trial_config(spec, parametrization="mup", width=32, depth=2, seed=0, hparams={"lr": 0.01})
    assert MoEConfig.from_dict(config.moe).bridge == "none"


def test_an_unknown_bridge_is_a_422_that_lists_the_choices(api_client: TestClient, tiny_spec: dict) -> None:
    response = api_client.post(SWEEPS, json=moe_spec(tiny_spec, bridge="complete-mup"))
    assert response.status_code == 422, response.text
    errors = " ".join(response.json()["errors"])
    assert "model.moe.bridge: Input should be 'complete-mue' or 'none'" in errors, errors


def dense_to_moe_spec(tiny_spec: dict[str, Any], proxy_family: str = "gpt", **moe: Any) -> dict[str, Any]:
    """The tiny study's proxies (of `proxy_family`) transferred to an MoE target of the same shape."""
    data = copy.deepcopy(tiny_spec)
    data["model"]["family"] = proxy_family
    data["target"]["model"] = {**data["model"], "family": "moe", "moe": {"n_experts": 4, "top_k": 2, **moe}}
    return data


def preflight_only_split(tiny_spec: dict[str, Any]) -> dict[str, Any]:
    """Proxies 48/96 and target 192 split among 3 active experts, but the coordinate check's 64 does not."""
    data = moe_spec(tiny_spec, shared_expert=True)
    data["proxy"]["widths"], data["target"]["width"] = [48, 96], 192
    return data


MISTAKES = {
    "shared expert, proxy width": (
        lambda spec: moe_spec(spec, shared_expert=True),
        "model.moe.d_expert: at the proxy width 32, mlp_ratio·width = 128 does not split among 3 active "
        "experts: set moe.d_expert explicitly",
    ),
    "shared expert, target model": (
        lambda spec: dense_to_moe_spec(spec, shared_expert=True),
        "target.model.moe.d_expert: at the target width 256, mlp_ratio·width = 1024 does not split among 3",
    ),
    "shared expert, preflight width": (
        preflight_only_split,
        "model.moe.d_expert: at the coordinate-check width (preflight; or set preflight: off) 64",
    ),
    "dense proxy, bridge none": (
        lambda spec: dense_to_moe_spec(spec, bridge="none"),
        "target.model.moe.bridge: no transfer from a 'gpt' proxy to an MoE target with moe.bridge 'none': "
        "tune a gpt proxy and keep moe.bridge 'complete-mue', or tune MoE proxies",
    ),
    "mlp proxy": (
        lambda spec: dense_to_moe_spec(spec, proxy_family="mlp"),
        "model.family: no transfer from a 'mlp' proxy to an MoE target",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_an_moe_spec_the_worker_cannot_build_or_map_is_a_422_naming_the_field_and_fix(
    api_client: TestClient, tiny_spec: dict, mistake: str
) -> None:
    """Caught at submit: before, each passed and the sweep failed at plan time after every proxy ran."""
    build, message = MISTAKES[mistake]
    response = api_client.post(SWEEPS, json=build(tiny_spec))
    assert response.status_code == 422, response.text
    errors = " ".join(response.json()["errors"])
    assert message in errors, errors


def test_a_split_only_the_coordinate_check_misses_passes_with_preflight_off(tiny_spec: dict) -> None:
    assert parse_spec({**preflight_only_split(tiny_spec), "preflight": "off"}).proxy.widths == [48, 96]
    # SP is preflighted like every parametrization
    with pytest.raises(ValueError, match="coordinate-check width"):
        parse_spec({**preflight_only_split(tiny_spec), "parametrizations": ["sp"]})


@pytest.mark.parametrize(
    "build",
    [
        lambda spec: dense_to_moe_spec(spec),
        lambda spec: dense_to_moe_spec(spec, shared_expert=True, d_expert=48),
        lambda spec: moe_spec(spec, shared_expert=True, d_expert=48),
        lambda spec: dense_to_moe_spec(spec, proxy_family="moe", bridge="none"),
    ],
    ids=[
        "dense to moe",
        "dense to moe, shared expert + d_expert",
        "moe, shared expert + d_expert",
        "moe to moe",
    ],
)
def test_a_buildable_and_mappable_moe_spec_is_accepted(
    api_client: TestClient, tiny_spec: dict, build: Callable[[dict], dict]
) -> None:
    response = api_client.post(SWEEPS, json=build(tiny_spec))
    assert response.status_code == 201, response.text


def test_checking_an_moe_spec_does_not_load_torch(tiny_spec: dict) -> None:
    """The API validates specs in-process; the worker's MoE rules are read from the torch-free config."""
    script = (
        "import json, sys\n"
        "from orchestrator.spec import parse_spec\n"
        "spec = parse_spec(json.loads(sys.argv[1]))\n"
        "assert spec.target.model.moe.shared_expert\n"
        "print('torch' in sys.modules)\n"
    )
    data = json.dumps(dense_to_moe_spec(tiny_spec, shared_expert=True, d_expert=48))
    result = subprocess.run([sys.executable, "-c", script, data], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stdout + result.stderr
