"""MLflow export against a real `mlflow server` on loopback (its own SQLite backend), read back with
`MlflowClient`: `mutransfer export` of a stored sweep, twice without duplicates; and a live sweep (runner,
Ray, training) exported as its results land, with `tracking.mlflow` in its spec."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MUTRANSFER_CLI, free_port, wait_for
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient
from support.seed import seed_sweep, study_spec
from support.target import API, running_service, study, submit, wait_status

from orchestrator.store.db import make_engine, upgrade_database
from orchestrator.store.repository import SweepStore

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    backend, artifacts = f"sqlite:///{root / 'mlflow.db'}", str(root / "art")
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", backend, "--artifacts-destination", artifacts,
    ]  # fmt: skip
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (root / "server.log").read_text()
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 90, "the MLflow server", every=0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


def runs_of(client: MlflowClient, experiment: str, sweep_id: int) -> list:  # type: ignore[type-arg]
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return client.search_runs(
        [found.experiment_id], filter_string=f"tags.`mutransfer.sweep_id` = '{sweep_id}'", max_results=1000
    )


def test_export_of_a_stored_sweep_is_complete_and_repeatable(mlflow_url: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'mt.db'}"
    engine = make_engine(database)
    upgrade_database(engine)
    store = SweepStore.from_engine(engine)
    sweep_id = seed_sweep(store, study_spec("exported", [32, 64], 3), target_metrics=20)
    trials = store.all_trials(sweep_id)

    def export() -> str:
        done = subprocess.run(
            [*MUTRANSFER_CLI, "export", str(sweep_id), "--mlflow", mlflow_url, "--database-url", database,
             "--experiment", "seeded"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = export()
    assert f"{len(trials) + 2} runs created" in first  # parent, every trial, the target
    client = MlflowClient(tracking_uri=mlflow_url)
    runs = runs_of(client, "seeded", sweep_id)
    by_key = {r.data.tags["mutransfer.key"]: r for r in runs}
    parent = by_key[f"sweep/{sweep_id}"]
    assert parent.info.status == "FINISHED" and parent.data.params["parametrizations"] == "sp,mup"
    assert "plan.v1.parametrization" in parent.data.params
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["plan-v1.json"]
    trial = trials[0]
    nested = by_key[f"trial/{trial.id}"]
    assert nested.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert (
        nested.data.params["width"] == str(trial.width)
        and float(nested.data.params["lr"]) == trial.hparams["lr"]
    )
    history = client.get_metric_history(nested.info.run_id, "train_loss")
    assert [m.step for m in history] == [m.step for m in store.trial_metrics(trial.id)]
    target = next(r for k, r in by_key.items() if k.startswith("target/"))
    assert len(client.get_metric_history(target.info.run_id, "train_loss")) == 20

    second = export()  # nothing new: no run and no point twice
    assert "0 runs created, 0 metric points logged" in second
    assert len(runs_of(client, "seeded", sweep_id)) == len(runs)
    assert len(client.get_metric_history(nested.info.run_id, "train_loss")) == len(history)


@pytest.fixture(scope="module")
def service() -> Iterator[TestClient]:
    with running_service(mlflow_poll_s=0.5) as test_client:
        yield test_client


def test_a_running_sweep_is_exported_as_its_results_land(mlflow_url: str, service: TestClient) -> None:
    spec = study(name="tracked", tracking={"mlflow": {"uri": mlflow_url, "experiment": "live"}})
    spec["proxy"]["widths"] = [16, 32]
    sweep_id = submit(service, spec)
    client = MlflowClient(tracking_uri=mlflow_url)
    # while it runs: the parent run and the first finished trials appear before the sweep ends
    wait_for(
        lambda: (
            client.get_experiment_by_name("live") is not None and len(runs_of(client, "live", sweep_id)) >= 2
        ),
        120,
        "the first runs in MLflow",
    )
    assert service.get(f"{API}/sweeps/{sweep_id}").json()["status"] not in ("completed", "failed")
    wait_status(service, sweep_id, "completed", timeout=300)
    trials = service.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 100}).json()["items"]

    def settled() -> bool:
        runs = runs_of(client, "live", sweep_id)
        parent = [r for r in runs if r.data.tags["mutransfer.key"] == f"sweep/{sweep_id}"]
        return len(runs) == len(trials) + 2 and bool(parent) and parent[0].info.status == "FINISHED"

    wait_for(settled, 60, "every trial, the target and the finished parent in MLflow")
    runs = runs_of(client, "live", sweep_id)
    assert len({r.data.tags["mutransfer.key"] for r in runs}) == len(runs)  # no run twice
