"""Runs a team already has, read from a CSV or JSON-lines file or an MLflow experiment, and validated into
rows the planner can use (docs/import.md, "The import format").

Pure: no store, no API. A file either imports whole or raises one `RunTableError` that lists every bad row
and column and what is wrong with it, so a user fixes the file in one pass instead of one error at a time.
A run whose loss is non-finite or above `diverged_above` is kept as diverged (its loss None): divergence is
a result. MLflow's client is imported only inside `runs_from_mlflow`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from orchestrator.spec import MAX_SEED, Parametrization

SIZE_COLUMNS = ("width", "depth", "n_params")
BUDGET_COLUMNS = ("tokens", "batch_size", "context_length", "batch_tokens")
PARAMETRIZATIONS = tuple(p.value for p in Parametrization)
KNOWN_COLUMNS = ("parametrization", *SIZE_COLUMNS, *BUDGET_COLUMNS, "seed", "loss")
# never a hyperparameter or an axis: they identify a run's arm, replicate and outcome
NOT_SWEPT = ("parametrization", "seed", "loss")
FORMATS = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl"}
LOSS_METRICS = ("val_loss", "final_val_loss", "loss")  # runs_from_mlflow's default, first present
MISSING_LOSS = "missing value (every run needs its final validation loss)"
# a mutransfer proxy trial's run name: its search key and index (orchestrator/executor/interface.py)
TRIAL_NAME = re.compile(r"^(?P<p>.+?)-w\d+-d\d+(?:-t(?P<tokens>\d+))?(?:-b(?P<batch_size>\d+))?-i\d+-s\d+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (a data line, or an MLflow run by id) and in which column."""

    line: int | None
    column: str | None
    message: str
    run: str | None = None  # an MLflow run's id, named instead of a line

    def __str__(self) -> str:
        where = []
        if self.run is not None:
            where.append(f"run {self.run}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class RunTableError(ValueError):
    """Every problem of one input, at once; nothing of it is imported. `str()` is the whole list."""

    def __init__(self, problems: Iterable[Problem], source: str) -> None:
        self.problems = list(problems)
        self.source = source
        n = len(self.problems)
        head = f"{n} problem{'' if n == 1 else 's'} in {source}; nothing was imported:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems, self.source))


@dataclass(frozen=True)
class ImportedRun:
    """One finished training run. `line` is where it was in the file (for MLflow: its position, and
    `run_id`); `extra` holds the values of axes that are none of the known columns."""

    line: int
    parametrization: str
    width: int | None
    depth: int | None
    n_params: int | None
    tokens: int | None
    batch_size: int | None
    context_length: int | None
    batch_tokens: int | None
    seed: int
    loss: float | None
    diverged: bool
    hparams: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None

    def cell(self, axes: list[str]) -> tuple[tuple[str, float | None], ...]:
        """The run's values on `axes`, in their order (None: a budget the run does not state)."""
        return tuple((axis, self.value(axis)) for axis in axes)

    def value(self, column: str) -> float | None:
        """The value of a known numeric column, a hyperparameter or an extra axis, by name."""
        if column in SIZE_COLUMNS or column in BUDGET_COLUMNS or column in ("seed", "loss"):
            return getattr(self, column)
        if column in self.hparams:
            return self.hparams[column]
        if column in self.extra:
            return self.extra[column]
        raise KeyError(column)


@dataclass(frozen=True)
class RunTable:
    """Validated runs and how they were read: which columns are axes (define a cell), which are swept
    hyperparameters, which were ignored. `warnings`/`skipped`: what an MLflow import left out, and why."""

    runs: list[ImportedRun]
    axes: list[str]
    hps: list[str]
    size_columns: list[str]
    columns: list[str]
    ignored_columns: list[str]
    source: str
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary, not the runs. A cell: a parametrization and the values on the axes."""
        cells = {(run.parametrization, run.cell(self.axes)) for run in self.runs}
        return {
            "source": self.source,
            "columns": list(self.columns),
            "size_columns": list(self.size_columns),
            "axes": list(self.axes),
            "hps": list(self.hps),
            "ignored_columns": list(self.ignored_columns),
            "n_runs": len(self.runs),
            "n_diverged": sum(run.diverged for run in self.runs),
            "n_cells": len(cells),
            "n_skipped": self.skipped,
            "warnings": list(self.warnings),
        }


# reading --------------------------------------------------------------------------------------------------
@dataclass
class _Record:
    line: int
    values: dict[str, Any]
    run: str | None = None


@dataclass
class _Table:
    columns: list[str]
    records: list[_Record]
    header_line: int | None = None  # the CSV header's line: where a missing column is reported
    problems: list[Problem] = field(default_factory=list)


def _canonical(name: str) -> str:
    """A column's name as the schema spells it: stripped, and a known column in any case (`Width`)."""
    name = name.strip().lstrip("\ufeff").strip()
    return name.lower() if name.lower() in KNOWN_COLUMNS else name


def _read_csv(text: str) -> _Table:
    table = _Table([], [])
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    line = 0  # records, counted as a spreadsheet numbers its rows (a quoted line break stays in its row)
    try:
        for row in reader:
            line += 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _csv_header(row, line, table)
                continue
            values = dict(zip(header, row, strict=False))
            if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
                named = f"the header (line {table.header_line}) names {len(header)} columns"
                message = f"{len(row)} values, but {named}"
                table.problems.append(Problem(line, None, message))
            table.records.append(_Record(line, values))
    except csv.Error as error:
        table.problems.append(Problem(line + 1, None, f"unreadable CSV ({error}); reading stopped here"))
    if header is None and not table.problems:
        table.problems.append(Problem(None, None, "the file is empty"))
    return table


def _csv_header(row: list[str], line: int, table: _Table) -> list[str]:
    table.header_line = line
    header = []
    for i, cell in enumerate(row):
        name = _canonical(cell) or f"<column {i + 1}>"
        if name in header:
            table.problems.append(Problem(line, name, "the header names this column twice"))
            name = f"{name} <column {i + 1}>"
        header.append(name)
    table.columns = header
    return header


def _read_jsonl(text: str) -> _Table:
    if text.lstrip().startswith("["):
        return _read_json_array(text)
    table = _Table([], [])
    for number, raw in enumerate(text.split("\n"), 1):  # not splitlines(): a JSON string may hold U+2028
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            table.problems.append(
                Problem(number, None, f"not valid JSON ({error.msg}, column {error.colno})")
            )
            continue
        _json_record(value, number, table)
    if not table.records and not table.problems:
        table.problems.append(Problem(None, None, "the file is empty"))
    return table


def _read_json_array(text: str) -> _Table:
    """A `.json` file holding one array of run objects (pandas' `to_json(orient="records")`)."""
    table = _Table([], [])
    decoder = json.JSONDecoder()

    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        return pos

    pos = skip(text.index("[") + 1)
    while pos < len(text) and text[pos] != "]":
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            table.problems.append(
                Problem(line_at(error.pos), None, f"not valid JSON ({error.msg}); reading stopped")
            )
            return table
        _json_record(value, line_at(pos), table)
        pos = skip(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip(pos + 1)
        elif pos < len(text) and text[pos] != "]":
            table.problems.append(
                Problem(line_at(pos), None, "not valid JSON (expected ',' or ']'); reading stopped")
            )
            return table
    if pos >= len(text):
        table.problems.append(
            Problem(line_at(pos), None, "not valid JSON (the array is never closed with ']')")
        )
    elif skip(pos + 1) < len(text):
        table.problems.append(Problem(line_at(skip(pos + 1)), None, "not valid JSON (text after the array)"))
    if not table.records and not table.problems:
        table.problems.append(Problem(None, None, "the file holds no runs"))
    return table


def _json_record(value: Any, line: int, table: _Table) -> None:
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number"
        )
        table.problems.append(
            Problem(line, None, f'each run must be a JSON object like {{"width": 64, ...}}, not {kind}')
        )
        return
    values = {_canonical(str(key)): v for key, v in value.items()}
    for name in values:
        if name not in table.columns:
            table.columns.append(name)
    table.records.append(_Record(line, values))


# validating -----------------------------------------------------------------------------------------------
class _Bad(Exception):
    """One cell's problem (its message); collected, never raised out of this module."""


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _Bad(f"not a number: {_show(raw)}")
    if isinstance(raw, int | float):
        return raw
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _Bad(f"not a number: {_show(raw)}") from None


def _finite(raw: Any) -> float:
    value = _number(raw)
    if isinstance(value, float) and not math.isfinite(value):  # an int is finite (and may exceed a float)
        raise _Bad(f"must be a finite number, got {_show(raw)}")
    return value


def _whole(raw: Any, *, low: int, high: int | None = None, what: str) -> int:
    value = _finite(raw)
    if isinstance(value, float):
        if not value.is_integer():
            raise _Bad(f"must be a whole number, got {_show(raw)}")
        value = int(value)
    if value < low or (high is not None and value > high):
        raise _Bad(f"must be {what}, got {_show(raw)}")
    return int(value)


def _parametrization(raw: Any) -> str:
    if _blank(raw):
        return Parametrization.SP.value
    name = str(raw).strip().lower().replace("_", "-").replace("μ", "mu").replace("µ", "mu")
    if isinstance(raw, str) and name in PARAMETRIZATIONS:
        return name
    raise _Bad(f"unknown parametrization {_show(raw)} (one of {', '.join(PARAMETRIZATIONS)})")


def _names(names: list[str] | str | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = names.split(",")
    out: list[str] = []
    for name in names:
        name = _canonical(name)
        if name and name not in out:
            out.append(name)
    return out


def _validate(
    table: _Table,
    *,
    source: str,
    hps: list[str] | str | None,
    axes: list[str] | str | None,
    diverged_above: float,
    warnings: list[str] | None = None,
    skipped: int = 0,
) -> RunTable:
    if not diverged_above > 0:
        raise ValueError(f"diverged_above must be positive, got {diverged_above}")
    problems = list(table.problems)
    columns = set(table.columns)
    at = table.header_line  # where a column-level problem is reported (None: no header line)

    sizes = [c for c in SIZE_COLUMNS if c in columns]
    if not sizes and table.records:
        problems.append(
            Problem(at, None, "no size column: a run needs at least one of width, depth, n_params")
        )
    if "loss" not in columns and table.records:
        near = [c for c in table.columns if c in LOSS_METRICS or "loss" in c.lower()]
        hint = f" (rename {near[0]!r} to 'loss'?)" if near else ""
        problems.append(
            Problem(at, "loss", f"no such column: every run needs its final validation loss{hint}")
        )

    wanted_hps = _names(hps)
    if wanted_hps is None:
        wanted_hps = ["lr"] if "lr" in columns else []
    hp_names = []
    for name in wanted_hps:
        if name in NOT_SWEPT or name in SIZE_COLUMNS:
            problems.append(Problem(None, name, "cannot be a hyperparameter (named in hps)"))
        elif name not in columns:
            problems.append(Problem(at, name, "no such column (named in hps)"))
        else:
            hp_names.append(name)

    derivable = {"batch_size", "context_length"} <= columns
    batch_swept = bool({"batch_size", "batch_tokens"} & set(wanted_hps))
    wanted_axes = _names(axes)
    if wanted_axes is None:
        wanted_axes = sizes + (["tokens"] if "tokens" in columns and "tokens" not in wanted_hps else [])
        if not batch_swept and ("batch_tokens" in columns or derivable):
            wanted_axes.append("batch_tokens")
        elif not batch_swept and "batch_size" in columns:
            wanted_axes.append("batch_size")
    axis_names = []
    for name in wanted_axes:
        if name in wanted_hps:
            problems.append(
                Problem(None, name, "named both as an axis and in hps; a column is one or the other")
            )
        elif name in NOT_SWEPT:
            problems.append(Problem(None, name, "cannot be an axis (named in axes)"))
        elif name not in columns and not (name == "batch_tokens" and derivable):
            problems.append(Problem(at, name, "no such column (named in axes)"))
        else:
            axis_names.append(name)
    extra_axes = [a for a in axis_names if a not in KNOWN_COLUMNS]

    runs: list[ImportedRun] = []
    seen: dict[tuple[Any, ...], _Record] = {}
    for record in table.records:
        run, key, found = _row(
            record, sizes, hp_names, extra_axes, diverged_above, has_loss="loss" in columns
        )
        problems.extend(found)
        if key is None:
            continue
        if key in seen:
            first = seen[key]
            where = f"run {first.run}" if first.run is not None else f"line {first.line}"
            message = f"the same run as {where}: same parametrization, size, budget, seed and hyperparameters"
            problems.append(Problem(record.line, None, message, record.run))
        else:
            seen[key] = record
            if run is not None:
                runs.append(run)

    if not table.records and not problems:
        problems.append(Problem(None, None, "no runs: the file has a header but no data rows"))
    if problems:
        order = {name: i for i, name in enumerate(table.columns)}
        problems.sort(key=lambda p: (p.line or 0, order.get(p.column or "", -1)))
        raise RunTableError(problems, source)

    used = {"parametrization", "seed", "loss", *sizes, *BUDGET_COLUMNS, *hp_names, *axis_names}
    return RunTable(
        runs=runs,
        axes=axis_names,
        hps=hp_names,
        size_columns=sizes,
        columns=list(table.columns),
        ignored_columns=[c for c in table.columns if c not in used],
        source=source,
        warnings=list(warnings or []),
        skipped=skipped,
    )


def _row(
    record: _Record,
    sizes: list[str],
    hps: list[str],
    extra_axes: list[str],
    diverged_above: float,
    *,
    has_loss: bool,
) -> tuple[ImportedRun | None, tuple[Any, ...] | None, list[Problem]]:
    """One record as a run, or the problems of every cell of it that is wrong; and its key (what makes two
    runs the same run) when the cells that make it are right, so a duplicate is found beside a bad loss."""
    values = record.values
    problems: list[Problem] = []
    out: dict[str, Any] = {}

    def check(column: str, parse: Any) -> None:
        try:
            out[column] = parse(values.get(column))
        except _Bad as bad:
            problems.append(Problem(record.line, column, str(bad), record.run))

    def size(raw: Any) -> int:
        if _blank(raw):
            raise _Bad("missing value (the file has this size column, so every run needs it)")
        return _whole(raw, low=1, what="a positive whole number")

    def budget(raw: Any) -> int | None:
        return None if _blank(raw) else _whole(raw, low=1, what="a positive whole number")

    def seed(raw: Any) -> int:
        return 0 if _blank(raw) else _whole(raw, low=0, high=MAX_SEED, what=f"between 0 and {MAX_SEED}")

    def required(raw: Any) -> float:
        if _blank(raw):
            raise _Bad("missing value")
        return float(_finite(raw))

    def loss(raw: Any) -> float:
        if _blank(raw):
            raise _Bad(MISSING_LOSS)
        try:
            value = float(_number(raw))
        except _Bad:
            raise _Bad(f"not a number: {_show(raw)} (write inf or nan for a run that diverged)") from None
        if value < 0:
            raise _Bad(f"negative loss {_show(raw)}; a validation loss is at least 0")
        return value

    check("parametrization", _parametrization)
    for column in sizes:
        check(column, size)
    for column in BUDGET_COLUMNS:
        check(column, budget)
    check("seed", seed)
    for column in hps:
        if column in BUDGET_COLUMNS:
            if column in out and out[column] is None:
                problems.append(Problem(record.line, column, "missing value", record.run))
        else:
            check(column, required)
    for column in extra_axes:
        check(column, required)
    if has_loss:  # else the missing column is the one problem, not a missing value on every line
        check("loss", loss)

    batch, context, given = out.get("batch_size"), out.get("context_length"), out.get("batch_tokens")
    if batch is not None and context is not None:
        if given is not None and given != batch * context:
            product = f"batch_size × context_length = {batch} × {context} = {batch * context}"
            message = f"{given} disagrees with {product}"
            problems.append(Problem(record.line, "batch_tokens", message, record.run))
        out["batch_tokens"] = batch * context
    key = None
    if all(p.column == "loss" for p in problems):
        key = (
            out["parametrization"],
            *(out.get(c) for c in (*SIZE_COLUMNS, *BUDGET_COLUMNS)),
            out["seed"],
            tuple(sorted((name, out[name]) for name in hps)),
            tuple(sorted((name, out[name]) for name in extra_axes)),
        )
    if problems or "loss" not in out:
        return None, key, problems

    value = out["loss"]
    diverged = not math.isfinite(value) or value > diverged_above
    run = ImportedRun(
        line=record.line,
        parametrization=out["parametrization"],
        width=out.get("width"),
        depth=out.get("depth"),
        n_params=out.get("n_params"),
        tokens=out["tokens"],
        batch_size=out["batch_size"],
        context_length=out["context_length"],
        batch_tokens=out["batch_tokens"],
        seed=out["seed"],
        loss=None if diverged else value,
        diverged=diverged,
        hparams={name: out[name] for name in hps},
        extra={name: out[name] for name in extra_axes},
        run_id=record.run,
    )
    return run, key, []


# entry points ---------------------------------------------------------------------------------------------
def parse_runs(
    data: str | bytes,
    *,
    source: str = "<upload>",
    format: str | None = None,
    hps: list[str] | None = None,
    axes: list[str] | None = None,
    diverged_above: float = 100.0,
    columns: Mapping[str, str] | None = None,
    constants: Mapping[str, str] | None = None,
) -> RunTable:
    """Validate a CSV or JSON-lines file's runs (docs/import.md, "The import format"). The format: `format`
    (csv, jsonl), else `source`'s suffix (.csv; .jsonl, .ndjson, .json), else the content ('{' or '['
    first: JSON). Raises `RunTableError` listing every problem of the file.

    `columns` maps a schema name to the file's own column (`{"width": "h", "loss": "smooth loss"}`), so an
    export with its own naming imports without editing it; `constants` gives a column one value for every
    run (`{"context_length": "2048"}`) where the file leaves it out."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            hint = " (an Excel workbook? save it as CSV UTF-8)" if data.startswith(b"PK") else ""
            message = f"not UTF-8 text: byte {data[error.start]:#04x} at offset {error.start}{hint}"
            raise RunTableError([Problem(None, None, message)], source) from None
    text = data.lstrip("\ufeff")
    if format is not None:
        kind = FORMATS.get(format.strip().lower().lstrip("."))
        if kind is None:
            message = f"unknown format {format!r} (csv or jsonl)"
            raise RunTableError([Problem(None, None, message)], source)
    else:
        kind = FORMATS.get(Path(source).suffix.lower().lstrip("."))
        if kind is None:
            kind = "jsonl" if text.lstrip()[:1] in ("{", "[") else "csv"
    table = _read_jsonl(text) if kind == "jsonl" else _read_csv(text)
    _rename(table, columns or {}, constants or {})
    return _validate(table, source=source, hps=hps, axes=axes, diverged_above=diverged_above)


def _rename(table: _Table, columns: Mapping[str, str], constants: Mapping[str, str]) -> None:
    """Apply `parse_runs`'s `columns` and `constants` before validation; a mapped column the file lacks, or
    a constant for a column it has, is a problem like any other."""
    for new, old in columns.items():
        if old not in table.columns:
            table.problems.append(
                Problem(
                    table.header_line,
                    old,
                    f"no such column to read {new!r} from; the file has {table.columns}",
                )
            )
            continue
        table.columns = [new if c == old else c for c in table.columns if c != new or new == old]
        for record in table.records:
            if old in record.values:
                record.values[new] = record.values.pop(old)
    for name, value in constants.items():
        if name in table.columns:
            table.problems.append(
                Problem(table.header_line, name, "the file has this column: a constant would overwrite it")
            )
            continue
        table.columns.append(name)
        for record in table.records:
            record.values[name] = value


def read_runs(path: str | Path, **kwargs: Any) -> RunTable:
    """`parse_runs` of a file; the source named in errors is the file's name."""
    path = Path(path)
    kwargs.setdefault("source", path.name)
    if kwargs.get("format") is None and path.suffix.lower().lstrip(".") in FORMATS:
        kwargs["format"] = path.suffix.lower().lstrip(".")
    return parse_runs(path.read_bytes(), **kwargs)


def write_runs(
    runs: Iterable[Mapping[str, Any] | ImportedRun], path_or_file: Any, format: str = "csv"
) -> None:
    """Write runs in the import format: columns parametrization, the size and budget columns some run has,
    seed, the hyperparameters (and any other keys) sorted, loss; a diverged run's loss is `inf`. A run is a
    mapping of those names (hyperparameters flat or under `hparams`) or an `ImportedRun`."""
    kind = FORMATS.get(format.strip().lower().lstrip("."))
    if kind is None:
        raise ValueError(f"unknown format {format!r} (csv or jsonl)")
    rows = [_flat(run) for run in runs]
    standard = ["parametrization", *SIZE_COLUMNS, *BUDGET_COLUMNS, "seed"]
    present = [
        c for c in standard if c in ("parametrization", "seed") or any(r.get(c) is not None for r in rows)
    ]
    others = sorted({key for row in rows for key in row} - set(standard) - {"loss"})
    columns = [*present, *others, "loss"]

    def emit(handle: Any) -> None:
        if kind == "csv":
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow(["" if row.get(c) is None else _text(row[c]) for c in columns])
        else:
            for row in rows:
                data = {c: _json_value(row.get(c)) for c in columns}
                handle.write(json.dumps(data, allow_nan=False) + "\n")

    if isinstance(path_or_file, str | Path):
        with open(path_or_file, "w", newline="", encoding="utf-8") as handle:
            emit(handle)
    else:
        emit(path_or_file)


def _flat(run: Mapping[str, Any] | ImportedRun) -> dict[str, Any]:
    if isinstance(run, ImportedRun):
        data: dict[str, Any] = {c: getattr(run, c) for c in KNOWN_COLUMNS}
        data.update(hparams=run.hparams, extra=run.extra, diverged=run.diverged)
    else:
        data = dict(run)
    hparams, extra = data.pop("hparams", None) or {}, data.pop("extra", None) or {}
    diverged = bool(data.pop("diverged", False))
    for key in ("line", "run_id"):
        data.pop(key, None)
    row = {**data, **hparams, **extra}
    if "parametrization" in row and row["parametrization"] is not None:
        row["parametrization"] = str(row["parametrization"])
    if row.get("seed") is None:
        row["seed"] = 0
    loss = row.get("loss")
    if diverged or (isinstance(loss, float) and not math.isfinite(loss)):
        row["loss"] = math.inf
    return row


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float; inf, nan
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "inf": strict JSON has no infinity, and the reader takes the string
    return value


# MLflow ---------------------------------------------------------------------------------------------------
def runs_from_mlflow(
    tracking_uri: str,
    experiment: str,
    *,
    hps: list[str] | None = None,
    axes: list[str] | None = None,
    loss_metric: str | None = None,
    diverged_above: float = 100.0,
    filter_string: str = "",
) -> RunTable:
    """The FINISHED runs of an MLflow experiment (by name, or id) as a run table: each run's parameters are
    its columns and its loss is the last value of `loss_metric` (default: the first of val_loss,
    final_val_loss, loss that the run logged). Skipped, and counted in `warnings`: runs not finished,
    parent runs (they have child runs), runs without the loss metric, and mutransfer's target runs. Its
    problems name runs by id ("run <run_id>"); a run's `line` is its place in start-time order.

    An experiment mutransfer exported (orchestrator/tracking.py) imports as it is: a trial's run has the
    parameters parametrization, width, depth, seed and its hyperparameters, and the metric val_loss; a
    token or batch scan's budget is read from the run's name (its search key), and a trial tagged
    `status: diverged` is a diverged run. `filter_string` (MLflow's search syntax) picks runs, e.g. one
    sweep's: ``tags.`mutransfer.sweep_id` = '3'``."""
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    source = f"MLflow experiment {experiment!r} at {_without_password(tracking_uri)}"
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None and experiment.isdigit():
        try:
            found = client.get_experiment(experiment)
        except MlflowException:
            found = None
    if found is None or found.lifecycle_stage == "deleted":
        raise RunTableError([Problem(None, None, "no such experiment")], source)

    listed: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [found.experiment_id],
            filter_string=filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        listed.extend(page)
        token = page.token
        if not token:
            break
    listed.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))

    parents = {r.data.tags.get("mlflow.parentRunId") for r in listed}
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    candidates = []
    for run in listed:
        if run.info.status != "FINISHED":
            skip("that did not finish")
        elif run.info.run_id in parents:
            skip("that are parents of other runs (a sweep, not a training run)")
        elif run.data.tags.get("mutransfer.key", "").startswith("target/"):
            skip("that are mutransfer target runs (their size is not logged on the run)")
        else:
            candidates.append(run)

    metrics = (loss_metric,) if loss_metric else LOSS_METRICS
    wanted = " or ".join(repr(m) for m in metrics)
    columns: list[str] = []
    records: list[_Record] = []
    read_from: dict[str, int] = {}
    for run in candidates:
        diverged = run.data.tags.get("status") == "diverged" and "mutransfer.key" in run.data.tags
        metric = next((m for m in metrics if m in run.data.metrics), None)
        if metric is None and not diverged:
            skip(f"without a {wanted} metric")
            continue
        values: dict[str, Any] = {
            _canonical(k): (None if v in ("None", "") else v) for k, v in run.data.params.items()
        }
        named = TRIAL_NAME.match(run.info.run_name or "")
        if named and run.data.tags.get("mutransfer.key", "").startswith("trial/"):
            for budget in ("tokens", "batch_size"):
                if values.get(budget) is None and named.group(budget):
                    values[budget] = named.group(budget)
        if diverged:
            values["loss"] = math.inf
        else:
            values["loss"] = run.data.metrics[metric]
            read_from[metric] = read_from.get(metric, 0) + 1
        for name in values:
            if name not in columns:
                columns.append(name)
        records.append(_Record(len(records) + 1, values, run.info.run_id))
    if "loss" in columns:  # last, as in a file
        columns.remove("loss")
        columns.append("loss")

    warnings = [f"skipped {n} run{'' if n == 1 else 's'} {reason}" for reason, n in skipped.items()]
    if len(read_from) > 1:  # some runs' loss is another metric than others': say so
        counts = ", ".join(f"{m} for {n}" for m, n in read_from.items())
        warnings.append(f"the loss is not the same metric in every run: {counts}")
    table = _Table(columns, records)
    if not records:
        found_metrics = sorted({name for run in candidates for name in run.data.metrics})
        message = f"no finished run with a {wanted} metric to import"
        if found_metrics:
            message += f" (metrics logged: {', '.join(found_metrics)}; name one as loss_metric)"
        if warnings:
            message += f"; {'; '.join(warnings)}"
        table.problems.append(Problem(None, None, message))
    return _validate(
        table,
        source=source,
        hps=hps,
        axes=axes,
        diverged_above=diverged_above,
        warnings=warnings,
        skipped=sum(skipped.values()),
    )


def _without_password(uri: str) -> str:
    """The URI as errors may show it: without a password in its user part."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
