"""`mutransfer export SWEEP --mlflow URI`: a sweep's runs, plan and target in MLflow, from the database
(docs/operations.md, "MLflow"). Safe to repeat: runs are found again by their tags, and only new metric
points are logged. `--runs FILE`: its finished runs in the import format (docs/import.md), to import
elsewhere or back-test."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Annotated

import typer

from api.cli import app
from api.cli.commands_sweeps import console, fail
from api.cli.commands_tokens import DatabaseOpt, open_store
from orchestrator.importing import export_rows
from orchestrator.run_table import write_runs
from orchestrator.store import NotFound
from orchestrator.tracking import Destination, SweepExporter


@app.command("export")
def export(
    sweep_id: Annotated[int, typer.Argument(help="the sweep to export", min=1)],
    mlflow: Annotated[
        str | None, typer.Option("--mlflow", help="the MLflow tracking server, e.g. http://127.0.0.1:5000")
    ] = None,
    experiment: Annotated[
        str, typer.Option(help="the MLflow experiment (created if missing)")
    ] = "mutransfer",
    runs: Annotated[
        Path | None,
        typer.Option("--runs", help="write the finished runs in the import format (.csv, .jsonl)"),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Export a sweep to MLflow (a parent run, a nested run per proxy trial and for the target, the plan),
    and/or its finished runs to a file in the import format."""
    if mlflow is None and runs is None:
        raise fail("say where to export: --mlflow URI, --runs FILE, or both", 2)
    if runs is not None:
        with open_store(database_url) as store:
            try:
                rows = export_rows(store, sweep_id)
            except NotFound as exc:
                raise fail(str(exc)) from None
        write_runs(rows, runs, format="jsonl" if runs.suffix in (".jsonl", ".ndjson") else "csv")
        console.print(f"wrote {len(rows)} runs of sweep {sweep_id} to {runs} (import format)")
    if mlflow is None:
        return
    if find_spec("mlflow") is None:
        raise fail("export needs the mlflow package: pip install 'mutransfer[mlflow]'", 2)
    with open_store(database_url) as store:
        try:
            done = SweepExporter(store, Destination(mlflow, experiment)).export(sweep_id)
        except NotFound as exc:
            raise fail(str(exc)) from None
        except Exception as exc:  # the tracking server refused or is unreachable
            raise fail(f"cannot export to {mlflow}: {type(exc).__name__}: {exc}") from None
    console.print(
        f"exported sweep {sweep_id} to {mlflow} (experiment {experiment}): "
        f"{done['runs_created']} runs created, {done['points_logged']} metric points logged"
    )
