"""`mutransfer serve | submit | status | demo`: run the service, and use it over its REST API.

`submit` and `status` are plain HTTP clients of a running service (the same API the UI uses); `demo`
starts a service in-process on SQLite, submits the example study over HTTP and watches it. Options
fall back to the environment, then to defaults, through `Settings.load`.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
import yaml
from fastapi import FastAPI
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli import app
from api.cli.plan_view import plan_renderables
from orchestrator.settings import Settings, SettingsError
from orchestrator.spec import parse_spec, validation_messages
from orchestrator.status import SETTLED, SweepStatus
from orchestrator.store.db import printable_url
from orchestrator.store.errors import DatabaseError

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEMO_DATA_DIR = "mutransfer-data"
DEMO_SPEC = Path("examples") / "tiny-cpu.yaml"
# Where waiting stops: a finished sweep, or one whose target run waits for approval.
SETTLED_STATUSES = {s.value for s in SETTLED}

# soft_wrap: long messages (URLs, validation errors) stay on one line for copy/paste and grep.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

ServerOpt = Annotated[
    str, typer.Option("--server", envvar="MUTRANSFER_SERVER", help="URL of a running mutransfer service")
]


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings.load(overrides)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


# HTTP client -------------------------------------------------------------------------------------
class ClientSettings(BaseSettings):
    """What the CLI's client commands read from the environment (the service's settings are `Settings`)."""

    model_config = SettingsConfigDict(env_prefix="MUTRANSFER_", env_ignore_empty=True, extra="ignore")

    token: SecretStr | None = Field(None, description="the API token `submit`/`status` send")


class ApiClient:
    """A thin client of `/api/v1`; every failure becomes one readable line (and exit code 1)."""

    def __init__(self, server: str, timeout: float = 30.0):
        token = ClientSettings().token
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self.server = server.rstrip("/")
        self.http = httpx.Client(base_url=f"{self.server}/api/v1", headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach {self.server} ({exc}); is `mutransfer serve` running there?") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                lines = body.get("errors") or [body.get("detail", response.text)]
            except ValueError:
                lines = [response.text or response.reason_phrase]
            for line in lines:
                err_console.print(f"[red]{response.status_code}:[/red] {line}")
            raise typer.Exit(1)
        return response.json() if response.content else None


# serve -------------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [env MUTRANSFER_HOST; 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [env MUTRANSFER_PORT; 8000]")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL [env MUTRANSFER_DATABASE_URL; sqlite:///./mutransfer.db]"),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster [env RAY_ADDRESS; a local Ray]")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="working files [env MUTRANSFER_DATA_DIR]")] = None,
    runner: Annotated[
        bool | None,
        typer.Option("--runner/--no-runner", help="execute queued sweeps (off: store and serve only)"),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="critical|error|warning|info|debug")] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="require API tokens [env MUTRANSFER_AUTH; on]; --no-auth only on loopback, for local use",
        ),
    ] = None,
) -> None:
    """Start the service: REST API under /api/v1, docs at /docs, sweep runner in the background."""
    settings = load_settings(
        host=host,
        port=port,
        database_url=database_url,
        ray_address=ray_address,
        data_dir=data_dir,
        run_sweeps=runner,
        log_level=log_level,
        auth=auth,
    )
    application = build_app(settings)
    console.print(
        f"mutransfer serving on http://{settings.host}:{settings.port} (database {_safe_url(settings)})"
    )
    announce_auth(settings)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


def build_app(settings: Settings) -> FastAPI:
    """The API app, after checking that its database URL is usable and answers (a clear message, not a
    traceback from inside the server's start-up)."""
    from api.app import create_app

    try:
        application = create_app(settings)
        application.state.service.store.ping()
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    except DatabaseError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise fail(f"cannot reach the database {_safe_url(settings)}: {reason}") from None
    return application


def announce_auth(settings: Settings) -> None:
    """Say how callers authenticate; with auth off, say it loudly."""
    from api.auth import AUTH_OFF_WARNING, TOKEN_HINT

    if settings.auth:
        console.print(f"API tokens required: {TOKEN_HINT}")
    else:
        err_console.print(f"[bold red]WARNING: {AUTH_OFF_WARNING}[/bold red]")


def _safe_url(settings: Settings) -> str:
    """The database URL without its password, for printing."""
    return printable_url(settings.database_url)


# submit ------------------------------------------------------------------------------------------
def read_spec_file(path: Path, code: str | None = None) -> dict[str, Any]:
    """Load and locally validate a spec file; print every problem and exit 1 if it is invalid. `code`: the
    digest of the model code uploaded with it (`submit --code`), written into `model.code`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise fail(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise fail(f"{path} must hold a mapping (a sweep spec), got {type(data).__name__}")
    if code is not None:
        model = data.setdefault("model", {})
        if not isinstance(model, dict):
            raise fail(f"{path}: model must be a mapping")
        model["code"] = code
    try:
        spec = parse_spec(data)
    except ValidationError as exc:
        err_console.print(f"[red]{path} is not a valid sweep spec:[/red]")
        for line in validation_messages(exc):
            err_console.print(f"  - {line}")
        raise typer.Exit(1) from None
    return spec.model_dump(mode="json")


def upload_code(client: ApiClient, directory: Path, quiet: bool = False) -> str:
    """Pack `directory` (workers/code_archive.py), upload it with its digest, return the digest."""
    from workers.code_archive import ArchiveError, digest, pack

    try:
        data = pack(directory)
    except ArchiveError as exc:
        raise fail(str(exc), 2) from None
    headers = {"Content-Type": "application/octet-stream", "X-Content-SHA256": digest(data)}
    uploaded = client.request("POST", "/code", content=data, headers=headers)
    if not quiet:
        console.print(f"uploaded {directory} ({uploaded['size']} bytes) as {uploaded['digest']}")
    return str(uploaded["digest"])


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="sweep spec (YAML), e.g. examples/tiny-cpu.yaml")],
    server: ServerOpt = DEFAULT_SERVER,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the sweep id")] = False,
    code: Annotated[
        Path | None,
        typer.Option(
            help="model.family custom: the directory that holds the model's package (uploaded first; the "
            "sweep keeps this version of it)"
        ),
    ] = None,
) -> None:
    """Validate a sweep spec locally, submit it, and print the new sweep's id."""
    client = ApiClient(server, timeout=300.0)  # an external model is built at every size before queueing
    digest = upload_code(client, code, quiet) if code is not None else None
    spec = read_spec_file(file, digest)
    created = client.request("POST", "/sweeps", json=spec)
    if quiet:
        console.print(created["id"])
        return
    console.print(f"queued sweep '{created['name']}' with {created['total_trials']} proxy trials")
    console.print(f"watch it: mutransfer status {created['id']} --server {server}")
    console.print(f"sweep id: {created['id']}")


# status ------------------------------------------------------------------------------------------
@app.command()
def status(
    sweep_id: Annotated[int | None, typer.Argument(help="one sweep's details; omit to list sweeps")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="follow progress until the sweep ends")
    ] = False,
    limit: Annotated[int, typer.Option(help="sweeps to list", min=1, max=1000)] = 20,
) -> None:
    """List sweeps, or show one sweep's progress (with --watch, until it finishes)."""
    client = ApiClient(server)
    if sweep_id is None:
        page = client.request("GET", "/sweeps", params={"limit": limit})
        console.print(sweeps_table(page))
        return
    if watch:
        detail = watch_sweep(client, sweep_id)
    else:
        detail = client.request("GET", f"/sweeps/{sweep_id}")
        console.print(progress_snapshot(detail))
    console.print(counts_line(detail))
    print_outcome(client, sweep_id)
    if detail.get("error"):
        console.print(f"[red]error:[/red] {detail['error']}")


def sweeps_table(page: dict[str, Any]) -> Table:
    table = Table(title=f"sweeps ({len(page['items'])} of {page['total']})")
    for column in ("id", "name", "status", "done/total", "created"):
        table.add_column(column)
    for sweep in page["items"]:
        progress = sweep["progress"]
        table.add_row(
            str(sweep["id"]),
            sweep["name"],
            sweep["status"],
            f"{progress['done']}/{progress['total']}",
            sweep["created_at"][:19].replace("T", " "),
        )
    return table


def _progress_bar(live: bool) -> Progress:
    """done/total trials as a bar; a live bar (--watch) also shows the time it has been watching."""
    columns = [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials"),
    ]
    if live:
        columns.append(TimeElapsedColumn())
    return Progress(*columns, TextColumn("{task.fields[eta]}"), console=console)


def _describe(detail: dict[str, Any]) -> str:
    return f"sweep {detail['id']} {detail['name']} ({detail['status']})"


def _eta(detail: dict[str, Any]) -> str:
    eta = detail["progress"].get("eta_s")
    return f"ETA {eta:.0f}s" if eta is not None else ""


def progress_snapshot(detail: dict[str, Any]) -> Progress:
    bar = _progress_bar(live=False)
    bar.add_task(
        _describe(detail),
        total=max(detail["progress"]["total"], 1),
        completed=detail["progress"]["done"],
        eta=_eta(detail),
    )
    return bar


def counts_line(detail: dict[str, Any]) -> str:
    counts = detail["progress"]["counts"]
    return "  ".join(f"{name}: {n}" for name, n in counts.items() if n) or "no trials yet"


def print_outcome(client: ApiClient, sweep_id: int) -> None:
    """The study's answer in a few lines: each parametrization's transferred values, and the target run."""
    outputs = client.request("GET", f"/sweeps/{sweep_id}/outputs")
    if outputs.get("plan_version") is None:
        return
    plan = client.request("GET", f"/sweeps/{sweep_id}/plan")["plan"]
    console.print(plan_renderables(plan, outputs["plan_version"]))
    run = outputs.get("target_run")
    if run is not None:
        target = client.request("GET", f"/sweeps/{sweep_id}/target-run")
        realized = target.get("realized_loss")
        inside = {True: "inside the predicted interval", False: "outside the predicted interval"}.get(
            target.get("within_interval"),
            "no prediction at the target's budget to compare it with"
            if target.get("predicted_loss") is None
            else "the prediction has no interval",
        )
        outcome = "not known yet" if realized is None else f"{realized:.3f}, {inside}"
        console.print(f"target run {target['status']}: realized loss {outcome}")


def watch_sweep(client: ApiClient, sweep_id: int, interval: float = 1.0) -> dict[str, Any]:
    """Poll one sweep and draw its progress until its status is terminal; return the last detail."""
    detail = client.request("GET", f"/sweeps/{sweep_id}")
    with _progress_bar(live=True) as bar:
        task = bar.add_task("", total=1, eta="")
        while True:
            progress = detail["progress"]
            bar.update(
                task,
                description=_describe(detail),
                total=max(progress["total"], 1),
                completed=progress["done"],
                eta=_eta(detail),
            )
            if detail["status"] in SETTLED_STATUSES:
                return detail
            time.sleep(interval)
            detail = client.request("GET", f"/sweeps/{sweep_id}")


# demo --------------------------------------------------------------------------------------------
def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _pick_port(host: str, preferred: int) -> int:
    if preferred and _port_free(host, preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _default_demo_spec() -> Path:
    """examples/tiny-cpu.yaml from the working directory, else from the source tree of this install."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / DEMO_SPEC).is_file():
            return root / DEMO_SPEC
    raise fail(f"cannot find {DEMO_SPEC}; run from the repository root or pass --spec FILE")


class BackgroundServer:
    """uvicorn in a thread of this process (signals stay with the main thread, so Ctrl-C stops cleanly)."""

    def __init__(self, settings: Settings):
        self.app = build_app(settings)
        config = uvicorn.Config(self.app, host=settings.host, port=settings.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="mutransfer-api", daemon=True)

    def start(self, timeout: float = 120.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise fail("the service did not start; see the messages above")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)

    def wait(self) -> None:
        while self.thread.is_alive():
            self.thread.join(timeout=0.5)


@app.command()
def demo(
    exit_when_done: Annotated[
        bool, typer.Option("--exit", help="stop the service when the sweep ends (for scripts)")
    ] = False,
    spec_file: Annotated[
        Path | None, typer.Option("--spec", help="spec to run [examples/tiny-cpu.yaml]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port [env MUTRANSFER_PORT; 8000, or a free one]")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help=f"working files [env MUTRANSFER_DATA_DIR; ./{DEMO_DATA_DIR}]")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="[env MUTRANSFER_DATABASE_URL; SQLite in data dir]")
    ] = None,
) -> None:
    """The main job: start the service (SQLite, local Ray), run the example study, show where to watch it."""
    spec_path = spec_file or _default_demo_spec()
    spec = read_spec_file(spec_path)
    # The demo's own defaults (a data dir of its own, SQLite inside it) apply where neither a flag nor the
    # environment says otherwise.
    from_env = load_settings()
    data = data_dir or (from_env.data_dir if "data_dir" in from_env.model_fields_set else Path(DEMO_DATA_DIR))
    if database_url is None and "database_url" not in from_env.model_fields_set:
        database_url = f"sqlite:///{data.resolve() / 'mutransfer.db'}"
    # The demo is local single-user use: auth off, which create_app allows on a loopback host only.
    settings = load_settings(data_dir=data, database_url=database_url, port=port, auth=False)
    settings = settings.model_copy(update={"port": _pick_port(settings.host, settings.port)})

    server = BackgroundServer(settings)
    console.print(f"starting mutransfer (database {_safe_url(settings)}, data in {settings.data_dir}) ...")
    announce_auth(settings)
    server.start()
    url = f"http://{settings.host}:{settings.port}"
    try:
        client = ApiClient(url)
        created = client.request("POST", "/sweeps", json=spec)
        sweep_id = created["id"]
        console.print(f"submitted {spec_path} as sweep {sweep_id}: {created['total_trials']} proxy trials")
        console.print(
            f"watch it: {url}/sweeps/{sweep_id}   (API: {url}/api/v1/sweeps/{sweep_id}, docs: {url}/docs)"
        )
        final_status = None
        if server.app.state.service.runs_sweeps:
            detail = watch_sweep(client, sweep_id)
            final_status = detail["status"]
            console.print(f"sweep {sweep_id} finished: {final_status}  ({counts_line(detail)})")
            print_outcome(client, sweep_id)
        else:
            console.print(
                f"sweep {sweep_id} is stored and validated; no sweep runner is installed, so it stays queued"
            )
        if exit_when_done:
            if final_status not in (None, SweepStatus.COMPLETED.value):
                raise typer.Exit(1)
            return
        console.print(f"the service keeps running at {url}; press Ctrl-C to stop it")
        server.wait()
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        server.stop()
