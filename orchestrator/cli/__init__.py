"""The `mutransfer` command line. Each submodule registers its own commands on `app`."""

import typer

app = typer.Typer(
    name="mutransfer",
    help="Push-button μP hyperparameter transfer: sweep proxies, fit, launch the target run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on import; keep this list in CLI order.
from orchestrator.cli import commands_sweeps  # noqa: E402,F401
from orchestrator.cli import commands_tokens  # noqa: E402,F401
from orchestrator.cli import commands_workers  # noqa: E402,F401
