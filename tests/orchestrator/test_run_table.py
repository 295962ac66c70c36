"""The import format (docs/import.md): CSV and JSON lines read into the same validated runs; the default and
named axes and hyperparameters; divergence; one error naming every bad line and column of a file; the
writer's output reading back as the same runs; and MLflow experiments in a real SQLite tracking store, one
logged by hand and one exported by mutransfer's own exporter."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy import update
from support.seed import seed_sweep, study_spec

from orchestrator.run_table import (
    ImportedRun,
    Problem,
    RunTable,
    RunTableError,
    parse_runs,
    read_runs,
    runs_from_mlflow,
    write_runs,
)
from orchestrator.store.db import make_engine, upgrade_database
from orchestrator.store.models import TrialMetric
from orchestrator.store.repository import SweepStore
from orchestrator.tracking import Destination, SweepExporter

GOOD_CSV = """\
parametrization,width,depth,lr,tokens,batch_size,context_length,seed,loss,notes
mup,64,2,0.01,1e6,32,128,0,3.10,first
mup,64,2,0.02,1e6,32,128,0,3.05,
mup,128,2,0.01,1e6,32,128,0,3.00,
mup,128,2,0.01,1e6,32,128,1,3.01,second seed
mup,128,2,0.01,2000000,64,128,0,2.90,
sp,64,2,0.10,1e6,32,128,0,inf,blew up
"""


def as_jsonl(csv_text: str) -> str:
    """The same runs as JSON lines, numbers as JSON numbers and empty cells left out."""
    header, *rows = csv_text.splitlines()
    names = header.split(",")
    lines = []
    for row in rows:
        record: dict[str, object] = {}
        for name, cell in zip(names, row.split(","), strict=True):
            if cell == "":
                continue
            record[name] = cell if name in ("parametrization", "notes") else float(cell)
        lines.append(json.dumps(record))  # inf as Infinity: the reader takes Python's JSON
    return "\n".join(lines) + "\n"


def unnumbered(runs: list[ImportedRun]) -> list[ImportedRun]:
    return [dataclasses.replace(run, line=0) for run in runs]


def problems_of(error: pytest.ExceptionInfo[RunTableError]) -> set[tuple[int | None, str | None]]:
    return {(p.line, p.column) for p in error.value.problems}


def test_csv_and_json_lines_give_the_same_runs(tmp_path: Path) -> None:
    (tmp_path / "runs.csv").write_text(GOOD_CSV)
    (tmp_path / "runs.jsonl").write_text(as_jsonl(GOOD_CSV))
    from_csv, from_jsonl = read_runs(tmp_path / "runs.csv"), read_runs(tmp_path / "runs.jsonl")
    assert unnumbered(from_csv.runs) == unnumbered(from_jsonl.runs)
    assert [r.line for r in from_csv.runs] == [2, 3, 4, 5, 6, 7]  # the header is line 1
    assert [r.line for r in from_jsonl.runs] == [1, 2, 3, 4, 5, 6]
    summary = from_csv.to_dict()
    assert {**summary, "source": None} == {**from_jsonl.to_dict(), "source": None}
    assert summary["source"] == "runs.csv"
    assert json.loads(json.dumps(summary)) == summary
    assert summary["n_runs"] == 6 and summary["n_diverged"] == 1
    # cells: (mup, 64, 1e6 tokens), (mup, 128, 1e6), (mup, 128, 2e6 at another batch), (sp, 64, 1e6)
    assert summary["n_cells"] == 4

    first = from_csv.runs[0]
    assert first == ImportedRun(
        line=2, parametrization="mup", width=64, depth=2, n_params=None, tokens=1_000_000, batch_size=32,
        context_length=128, batch_tokens=4096, seed=0, loss=3.10, diverged=False, hparams={"lr": 0.01},
    )  # fmt: skip
    assert first.value("batch_tokens") == 4096 and first.value("lr") == 0.01
    assert first.cell(from_csv.axes) == (
        ("width", 64),
        ("depth", 2),
        ("tokens", 1_000_000),
        ("batch_tokens", 4096),
    )
    with pytest.raises(KeyError):
        first.value("notes")
    # a .json file holding one array of runs (pandas' orient="records") reads the same
    array = "[\n" + ",\n".join(as_jsonl(GOOD_CSV).splitlines()) + "\n]\n"
    assert unnumbered(parse_runs(array, source="runs.json").runs) == unnumbered(from_csv.runs)
    # sniffed without a suffix; bytes with a byte-order mark, as Excel writes them
    assert unnumbered(parse_runs(as_jsonl(GOOD_CSV)).runs) == unnumbered(from_csv.runs)
    assert parse_runs(b"\xef\xbb\xbf" + GOOD_CSV.encode()).runs == from_csv.runs


def test_default_axes_hyperparameters_and_ignored_columns() -> None:
    table = parse_runs(GOOD_CSV, source="runs.csv")
    assert table.size_columns == ["width", "depth"]
    assert table.hps == ["lr"]
    assert table.axes == ["width", "depth", "tokens", "batch_tokens"]
    assert table.ignored_columns == ["notes"]
    assert table.columns[-1] == "notes"

    # n_params alone; no lr column: no hyperparameter; no budget: sizes are the axes
    plain = parse_runs("n_params,loss,parametrization\n1.3e9,2.5,MuP\n2.6E9,2.4,u_mup\n", source="x.csv")
    assert plain.hps == [] and plain.axes == ["n_params"] and plain.size_columns == ["n_params"]
    assert [(r.n_params, r.parametrization, r.seed) for r in plain.runs] == [
        (1_300_000_000, "mup", 0),
        (2_600_000_000, "u-mup", 0),
    ]
    # batch_size without context_length or batch_tokens stays in sequences, and is the axis
    sequences = parse_runs("width,batch_size,lr,loss\n64,32,0.01,3\n64,64,0.01,3\n", source="x.csv")
    assert sequences.axes == ["width", "batch_size"]
    assert [(r.batch_size, r.batch_tokens) for r in sequences.runs] == [(32, None), (64, None)]
    # the parametrization defaults to sp
    assert {r.parametrization for r in sequences.runs} == {"sp"}


def test_a_batch_size_named_as_a_hyperparameter_is_swept_within_a_cell() -> None:
    text = "width,lr,batch_size,loss\n64,0.01,32,3.0\n64,0.01,64,2.9\n64,0.02,32,3.1\n128,0.01,32,2.8\n"
    table = parse_runs(text, source="x.csv", hps=["lr", "batch_size"])
    assert table.hps == ["lr", "batch_size"]
    assert table.axes == ["width"]  # neither batch_size nor batch_tokens is an axis now
    assert table.runs[1].hparams == {"lr": 0.01, "batch_size": 64}
    assert table.to_dict()["n_cells"] == 2
    # named axes: an extra numeric column may define cells too
    named = parse_runs(
        "width,vocab,lr,loss\n64,1000,0.01,3\n64,2000,0.01,3\n", source="x.csv", axes=["width", "vocab"]
    )
    assert named.axes == ["width", "vocab"] and named.runs[1].extra == {"vocab": 2000.0}
    assert named.runs[1].cell(named.axes) == (("width", 64), ("vocab", 2000.0))
    assert named.to_dict()["n_cells"] == 2


def test_diverged_runs_are_kept_without_a_loss() -> None:
    text = "width,lr,loss\n64,1,inf\n64,2,nan\n64,3,NaN\n64,4,Infinity\n64,5,1e5\n64,6,100\n64,7,3.5\n"
    table = parse_runs(text, source="x.csv")
    assert [(r.diverged, r.loss) for r in table.runs] == [(True, None)] * 5 + [(False, 100.0), (False, 3.5)]
    assert table.to_dict()["n_diverged"] == 5
    stricter = parse_runs(text, source="x.csv", diverged_above=4.0)
    assert [r.diverged for r in stricter.runs] == [True] * 6 + [False]
    jsonl = parse_runs('{"width": 64, "lr": 1, "loss": NaN}\n{"width": 64, "lr": 2, "loss": "inf"}\n')
    assert [r.diverged for r in jsonl.runs] == [True, True]


BAD_CSV = """\
parametrization,width,depth,lr,tokens,batch_size,context_length,batch_tokens,seed,loss
mup,64,2,0.01,,,,,0,
mup,64,2,abc,,,,,0,3
mup,0,2,0.01,,,,,0,3
mup,64,-2,0.01,,,,,0,3
mup,inf,2,0.01,,,,,0,3
mup,64,2,0.01,nan,,,,0,3
mup,64,2,inf,,,,,0,3
mup,64,2,0.01,,,,,nan,3
mup,64.5,2,0.01,,,,,0,3
mup,64,2,0.01,,,,,1.5,3
muP2,64,2,0.01,,,,,0,3
sp,32,2,0.01,,,,,0,3
sp,32,2,0.01,,,,,0,3.1
mup,64,2,0.03,,,,,0,abc
mup,64,2,0.04,,,,,0,-0.5
mup,64,2,0.05,,8,128,1000,0,3
mup,,2,0.06,,,,,0,3
"""


def test_a_bad_file_raises_one_error_naming_every_line_and_column() -> None:
    with pytest.raises(RunTableError) as error:
        parse_runs(BAD_CSV, source="bad.csv", hps=["lr", "wd"])
    expected = {
        (1, "wd"),  # a named hyperparameter the file does not have
        (2, "loss"),  # missing loss
        (3, "lr"),  # not a number
        (4, "width"),  # zero size
        (5, "depth"),  # negative size
        (6, "width"),  # infinite size
        (7, "tokens"),  # NaN budget
        (8, "lr"),  # infinite hyperparameter
        (9, "seed"),  # NaN seed
        (10, "width"),  # fractional size
        (11, "seed"),  # fractional seed
        (12, "parametrization"),  # unknown parametrization
        (14, None),  # the same run as line 13
        (15, "loss"),  # loss not a number
        (16, "loss"),  # negative loss
        (17, "batch_tokens"),  # disagrees with batch_size × context_length
        (18, "width"),  # missing size
    }
    assert problems_of(error) == expected
    message = str(error.value)
    head, *lines = message.splitlines()
    assert head == f"{len(expected)} problems in bad.csv; nothing was imported:"
    assert len(lines) == len(expected)
    for line, column in expected:
        where = f"line {line}" + (f", column '{column}'" if column else "")
        assert any(text.strip().startswith(where + ":") for text in lines), where
    assert "line 2, column 'loss': missing value (every run needs its final validation loss)" in message
    assert "line 14: the same run as line 13" in message  # a duplicate names both lines
    assert "unknown parametrization 'muP2' (one of sp, mup, sp-embedding-lr, u-mup, completep)" in message
    assert isinstance(error.value, ValueError)
    assert error.value.problems[0] == Problem(1, "wd", "no such column (named in hps)")


def test_json_lines_problems_are_named_by_the_line_of_the_file() -> None:
    text = "\n".join(
        [
            '{"width": 64, "lr": 0.01, "loss": 3.0}',
            "",  # a blank line still counts
            '{"width": 64, "lr": 0.02, "loss": 3.0',  # not valid JSON
            "[64, 0.01, 3.0]",  # not an object
            '{"width": 64, "lr": 0.03}',  # no loss
            '{"width": "abc", "lr": 0.04, "loss": 3.0}',
            '{"width": 64, "lr": 0.01, "loss": 2.0}',  # the same run as line 1
            '{"width": true, "lr": 0.05, "loss": 3.0, "seed": -1}',
        ]
    )
    with pytest.raises(RunTableError) as error:
        parse_runs(text, source="runs.jsonl")
    assert problems_of(error) == {
        (3, None), (4, None), (5, "loss"), (6, "width"), (7, None), (8, "width"), (8, "seed"),
    }  # fmt: skip
    message = str(error.value)
    assert "line 3: not valid JSON" in message and "line 4: each run must be a JSON object" in message
    assert "line 7: the same run as line 1" in message


def test_missing_columns_and_empty_files() -> None:
    with pytest.raises(RunTableError) as error:
        parse_runs("lr,val_loss,seed\n0.01,3.0,0\n", source="x.csv", axes=["vocab"])
    assert problems_of(error) == {(1, None), (1, "loss"), (1, "vocab")}
    assert "rename 'val_loss' to 'loss'?" in str(error.value)
    assert "no size column" in str(error.value)
    with pytest.raises(RunTableError, match="named both as an axis and in hps"):
        parse_runs("width,lr,loss\n64,0.01,3\n", source="x.csv", axes=["width", "lr"])
    for text, source in [
        ("", "x.csv"),
        ("\n\n", "x.jsonl"),
        ("width,loss\n", "x.csv"),
        (b"PK\x03\x04\xff", "x.csv"),
    ]:
        with pytest.raises(RunTableError) as error:
            parse_runs(text, source=source)
        assert error.value.problems and error.value.problems[0].line is None
        assert str(error.value).startswith(f"1 problem in {source}; nothing was imported:")
    with pytest.raises(RunTableError, match="unknown format 'xlsx'"):
        parse_runs(GOOD_CSV, format="xlsx")


def test_written_runs_read_back_as_the_same_runs(tmp_path: Path) -> None:
    table = parse_runs(GOOD_CSV, source="runs.csv", hps=["lr"])
    for name in ("out.csv", "out.jsonl"):
        write_runs(table.runs, tmp_path / name, format=name.rsplit(".", 1)[1])
        again = read_runs(tmp_path / name)
        assert unnumbered(again.runs) == unnumbered(table.runs)
        assert again.axes == table.axes and again.hps == table.hps
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert header == "parametrization,width,depth,tokens,batch_size,context_length,batch_tokens,seed,lr,loss"
    assert (tmp_path / "out.csv").read_text().splitlines()[-1].endswith(",inf")
    json.loads((tmp_path / "out.jsonl").read_text().splitlines()[-1])  # strict JSON: no bare Infinity

    # plain mappings, as an export writes them: hyperparameters flat or nested, a diverged flag
    rows = [
        {"parametrization": "mup", "width": 64, "hparams": {"lr": 0.01, "init_std": 0.5}, "loss": 3.0},
        {"parametrization": "mup", "width": 128, "lr": 0.01, "init_std": 0.5, "loss": None, "diverged": True},
    ]
    write_runs(rows, tmp_path / "export.csv")
    text = (tmp_path / "export.csv").read_text()
    assert text.splitlines() == [
        "parametrization,width,seed,init_std,lr,loss",
        "mup,64,0,0.5,0.01,3.0",
        "mup,128,0,0.5,0.01,inf",
    ]
    back = parse_runs(text, hps=["lr", "init_std"])
    assert [(r.width, r.hparams, r.loss, r.diverged) for r in back.runs] == [
        (64, {"lr": 0.01, "init_std": 0.5}, 3.0, False),
        (128, {"lr": 0.01, "init_std": 0.5}, None, True),
    ]


# MLflow ------------------------------------------------------------------------------------------------
def log_run(
    client: MlflowClient, experiment_id: str, params: dict[str, object], losses: list[float], **kw: str
) -> str:
    tags = {"mlflow.parentRunId": kw["parent"]} if "parent" in kw else {}
    run = client.create_run(experiment_id, tags=tags)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    for step, loss in enumerate(losses):
        client.log_metric(run.info.run_id, kw.get("metric", "val_loss"), loss, step=step)
    client.set_terminated(run.info.run_id, kw.get("status", "FINISHED"))
    return str(run.info.run_id)


def test_an_mlflow_experiment_imports_its_finished_runs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("team-runs", artifact_location=str(tmp_path / "artifacts"))
    parent = log_run(client, experiment, {"study": "lr scan"}, [])
    good = [
        log_run(
            client,
            experiment,
            {"width": 256, "lr": 0.01, "parametrization": "mup"},
            [4.0, 3.2],
            parent=parent,
        ),
        log_run(
            client,
            experiment,
            {"width": 512, "lr": "1e-2", "parametrization": "mup"},
            [4.0, 3.1],
            parent=parent,
        ),
        log_run(client, experiment, {"width": 512, "lr": 0.5, "parametrization": "mup"}, [4.0, math.inf]),
        log_run(client, experiment, {"width": 256, "lr": 0.02, "team": "x"}, [3.3], metric="final_val_loss"),
    ]
    log_run(client, experiment, {"width": 256, "lr": 0.03}, [3.0], status="FAILED")
    log_run(client, experiment, {"width": 256, "lr": 0.04}, [3.0], metric="train_loss")

    table = runs_from_mlflow(uri, "team-runs")
    assert isinstance(table, RunTable)
    assert [r.run_id for r in table.runs] == good
    assert [(r.parametrization, r.width, r.hparams["lr"], r.loss, r.diverged) for r in table.runs] == [
        ("mup", 256, 0.01, 3.2, False),  # the last step's value
        ("mup", 512, 0.01, 3.1, False),
        ("mup", 512, 0.5, None, True),  # MLflow stores inf as the largest float: diverged
        ("sp", 256, 0.02, 3.3, False),
    ]
    assert table.axes == ["width"] and table.hps == ["lr"] and table.ignored_columns == ["team"]
    assert table.skipped == 3 and table.to_dict()["n_skipped"] == 3
    assert any("parents of other runs" in w for w in table.warnings)
    assert any("did not finish" in w for w in table.warnings)
    assert any("without a 'val_loss' or 'final_val_loss' or 'loss' metric" in w for w in table.warnings)
    only_train = runs_from_mlflow(uri, "team-runs", loss_metric="train_loss")
    assert [r.hparams["lr"] for r in only_train.runs] == [0.04]

    bad = log_run(client, experiment, {"width": "wide", "lr": 0.01}, [3.0])
    with pytest.raises(RunTableError) as error:
        runs_from_mlflow(uri, "team-runs")
    assert f"run {bad}, column 'width': not a number: 'wide'" in str(error.value)
    assert str(error.value).startswith(f"1 problem in MLflow experiment 'team-runs' at {uri}")
    with pytest.raises(RunTableError, match="no such experiment"):
        runs_from_mlflow(uri, "nobody")


def test_an_experiment_mutransfer_exported_imports(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'mt.db'}")
    upgrade_database(engine)
    store = SweepStore.from_engine(engine)
    spec = study_spec("exported", [32, 64], 3)
    spec["proxy"].update(token_budgets=[10240, 20480], batch_sizes=[8, 16])  # a token and a batch scan
    sweeps = [seed_sweep(store, spec), seed_sweep(store, spec)]
    with store.session() as session:  # the seeded curves log train loss only; a real trial's eval logs both
        session.execute(update(TrialMetric).values(val_loss=TrialMetric.train_loss))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # made first, so the exporter's plan artifacts land in tmp_path and not in ./mlruns
    MlflowClient(tracking_uri=uri).create_experiment(
        "mutransfer", artifact_location=str(tmp_path / "artifacts")
    )
    exporter = SweepExporter(store, Destination(uri, "mutransfer"))
    for sweep_id in sweeps:
        exporter.export(sweep_id)

    # one sweep's runs: every finished trial, with its budget, hyperparameters and outcome
    table = runs_from_mlflow(uri, "mutransfer", filter_string=f"tags.`mutransfer.sweep_id` = '{sweeps[0]}'")
    trials = store.all_trials(sweeps[0])
    imported = {
        (r.parametrization, r.width, r.depth, r.tokens, r.batch_size, r.seed, r.hparams["lr"]): r
        for r in table.runs
    }
    assert len(imported) == len(table.runs) == len(trials)
    for trial in trials:
        run = imported[
            (
                trial.parametrization,
                trial.width,
                trial.depth,
                trial.tokens,
                trial.batch_size,
                trial.seed,
                trial.hparams["lr"],
            )
        ]
        assert run.diverged == trial.diverged
        assert run.loss == (None if trial.diverged else pytest.approx(trial.final_val_loss))
    assert table.axes == ["width", "depth", "tokens", "batch_size"] and table.hps == ["lr"]
    assert any("parents of other runs" in w for w in table.warnings)

    # the whole experiment holds both sweeps: the same trials twice, which the import refuses
    with pytest.raises(RunTableError, match="the same run as run "):
        runs_from_mlflow(uri, "mutransfer")
