"""`mutransfer import FILE | --mlflow URI` and `mutransfer backtest STUDY`: plan from runs a team already has,
and score the planner on runs it did not see (docs/import.md).

Both work on the database directly, like `export` and `token` (no server needed): `import` stores the study
in a project and prints its plan; `backtest` reads a stored study by id, or a file directly (nothing
stored), and prints every held-out cell's predictions against its own runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli import app
from api.cli.commands_sweeps import console, fail
from api.cli.commands_tokens import DatabaseOpt, open_store
from api.cli.plan_view import plan_renderables
from orchestrator.backtest import Backtest, BacktestError, run_backtest
from orchestrator.holdout import HoldOutError
from orchestrator.imported import DesignError, Target
from orchestrator.importing import backtest_study, import_study
from orchestrator.run_table import RunTable, RunTableError, read_runs, runs_from_mlflow
from orchestrator.store import DEFAULT_PROJECT, NotFound

HpsOpt = Annotated[str | None, typer.Option("--hps", help="swept HP columns, comma-separated [lr]")]
AxesOpt = Annotated[
    str | None,
    typer.Option("--axes", help="columns that tell cells apart [the size columns, tokens, batch]"),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns", help="the file's names for schema columns: 'width=h,loss=smooth loss' (NAME=FILE_COLUMN)"
    ),
]
ConstantsOpt = Annotated[
    str | None,
    typer.Option("--set", help="a column with one value for every run: 'context_length=2048'"),
]
DivergedOpt = Annotated[
    float, typer.Option("--diverged-above", help="a final loss above this is a diverged run", min=0)
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="csv or jsonl [from the file's suffix]")]


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _pairs(text: str | None, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise fail(f"{option}: {part.strip()!r} is not NAME=VALUE", 2)
        pairs[name.strip()] = value.strip()
    return pairs


def read_table(
    file: Path | None,
    *,
    mlflow: str | None = None,
    experiment: str | None = None,
    hps: str | None = None,
    axes: str | None = None,
    columns: str | None = None,
    constants: str | None = None,
    diverged_above: float = 100.0,
    format: str | None = None,
) -> RunTable:
    """The runs of a file or an MLflow experiment, validated; every problem printed, exit 1."""
    try:
        if mlflow is not None:
            if not experiment:
                raise fail("--mlflow needs --experiment NAME", 2)
            return runs_from_mlflow(
                mlflow, experiment, hps=_names(hps), axes=_names(axes), diverged_above=diverged_above
            )
        if file is None:
            raise fail("give a FILE (CSV or JSON lines) or --mlflow URI --experiment NAME", 2)
        if not file.is_file():
            raise fail(f"{file}: no such file", 2)
        return read_runs(
            file,
            format=format,
            hps=_names(hps),
            axes=_names(axes),
            diverged_above=diverged_above,
            columns=_pairs(columns, "--columns"),
            constants=_pairs(constants, "--set"),
        )
    except RunTableError as exc:
        raise fail(str(exc)) from None


@app.command("import")
def import_runs(
    file: Annotated[Path | None, typer.Argument(help="a CSV or JSON-lines file of finished runs")] = None,
    project: Annotated[str, typer.Option(help="the project the study belongs to")] = DEFAULT_PROJECT,
    name: Annotated[str | None, typer.Option(help="the study's name [the file's name]")] = None,
    hps: HpsOpt = None,
    axes: AxesOpt = None,
    target: Annotated[
        str | None, typer.Option(help="the run to plan for: 'width=4096,depth=32,tokens=2e11'")
    ] = None,
    columns: ColumnsOpt = None,
    constants: ConstantsOpt = None,
    diverged_above: DivergedOpt = 100.0,
    format: FormatOpt = None,
    mlflow: Annotated[str | None, typer.Option(help="read the runs of an MLflow tracking server")] = None,
    experiment: Annotated[str | None, typer.Option(help="the MLflow experiment (with --mlflow)")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Store finished runs as an imported study and print its plan (nothing is trained)."""
    table = read_table(
        file,
        mlflow=mlflow,
        experiment=experiment,
        hps=hps,
        axes=axes,
        columns=columns,
        constants=constants,
        diverged_above=diverged_above,
        format=format,
    )
    try:
        planned_for = Target.parse(target)
    except DesignError as exc:
        raise fail(str(exc), 2) from None
    with open_store(database_url) as store:
        try:
            sweep_id, plan = import_study(store, table, name=name, project=project, target=planned_for)
        except DesignError as exc:
            raise fail(str(exc)) from None
    summary = table.to_dict()
    console.print(
        f"imported study {sweep_id} ({name or table.source}, project {project}): {summary['n_runs']} runs, "
        f"{summary['n_diverged']} diverged, {summary['n_cells']} cells; axes {', '.join(table.axes)}; "
        f"swept {', '.join(table.hps)}"
    )
    for line in table.warnings:
        console.print(f"note: {line}")
    if table.ignored_columns:
        console.print(f"ignored columns: {', '.join(table.ignored_columns)}")
    if plan is not None:
        console.print(plan_renderables(plan.plan, plan.version))


@app.command("backtest")
def backtest(
    study: Annotated[str, typer.Argument(help="a stored study's id, or a file of runs (read, not stored)")],
    hold_out: Annotated[
        str, typer.Option("--hold-out", help="which cells to hold out: 'n_params >= 1e9', 'width == 1024'")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    level: Annotated[float, typer.Option(help="the intervals' two-sided level", min=0.5, max=0.999)] = 0.9,
    hps: HpsOpt = None,
    axes: AxesOpt = None,
    columns: ColumnsOpt = None,
    constants: ConstantsOpt = None,
    diverged_above: DivergedOpt = 100.0,
    format: FormatOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Plan from the runs outside --hold-out and score every held-out cell against its own runs."""
    try:
        if Path(study).is_file():
            table = read_table(
                Path(study),
                hps=hps,
                axes=axes,
                columns=columns,
                constants=constants,
                diverged_above=diverged_above,
                format=format,
            )
            result = run_backtest(table.source, table.runs, table.hps, table.axes, hold_out, level=level)
        elif study.isdigit():
            with open_store(database_url) as store:
                result = backtest_study(store, int(study), hold_out, level=level)
        else:
            raise fail(f"{study}: neither a file nor a study id", 2)
    except (HoldOutError, BacktestError, DesignError, NotFound) as exc:
        raise fail(str(exc)) from None
    if json_output:
        console.print_json(json.dumps(result.to_dict(), allow_nan=False))
        return
    console.print(backtest_table(result))
    for line in summary_lines(result):
        console.print(line)


def backtest_table(result: Backtest) -> Table:
    """One row per held-out cell: each HP's prediction against the cell's optimum, the regret, the loss."""
    title = f"backtest of {result.study}: held out {result.hold_out} (planned from {result.trained_on} runs)"
    table = Table(title=title)
    for column in ("cell", "parametrization", "HP: predicted [interval] vs the cell's optimum", "regret"):
        table.add_column(column)
    table.add_column("loss: predicted [interval] vs the cell's best")
    for cell in result.cells:
        hps = []
        for hp, predicted in cell.predicted.items():
            mark = "covered" if cell.covered.get(hp) else "missed"
            seen = _num(cell.observed_optimum.get(hp))
            hps.append(f"{hp}: {_interval(predicted)} vs {seen} ({mark})")
        regret = "-" if cell.regret is None else f"{100 * cell.regret:.3f} %"
        if cell.regret is not None and cell.regret_is_lower_bound:
            regret = "≥ " + regret
        loss = f"{_interval(cell.predicted_loss)} vs {_num(cell.best_loss)}"
        table.add_row(_cell_text(cell.cell), cell.parametrization, "\n".join(hps) or "-", regret, loss)
    return table


def summary_lines(result: Backtest) -> list[str]:
    s = result.summary()
    lines = [
        f"cells: {s['cells']}; median regret {_pct(s['median_regret'])}, max {_pct(s['max_regret'])}; "
        f"HP intervals covered {_frac(s['coverage'])} of (cell, HP) pairs; loss intervals covered "
        f"{_frac(s['loss_coverage'])} (level {s['level']:g})"
    ]
    if s["lower_bound_regrets"]:
        lines.append(
            f"{s['lower_bound_regrets']} regret(s) are lower bounds: the prediction lay outside the cell's "
            "searched range"
        )
    for cell in result.cells:
        lines += [f"{_cell_text(cell.cell)} {cell.parametrization}: {note}" for note in cell.notes]
    return lines


def _interval(x: dict[str, Any]) -> str:
    return f"{_num(x.get('value'))} [{_num(x.get('low'))}, {_num(x.get('high'))}]"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3f} %"


def _frac(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cell_text(cell: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:,.6g}" if isinstance(v, int | float) else f"{k}={v}" for k, v in cell.items())
