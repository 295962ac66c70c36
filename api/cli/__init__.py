"""The `mutransfer` command line. Each submodule registers its own commands on `app`."""

import typer

app = typer.Typer(
    name="mutransfer",
    help="Push-button μP hyperparameter transfer: sweep proxies, fit, launch the target run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on import; keep this list in CLI order.
from api.cli import (  # noqa: E402,F401
    commands_export,
    commands_imports,
    commands_sweeps,
    commands_tokens,
    commands_workers,
)
