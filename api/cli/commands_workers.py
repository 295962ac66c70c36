"""`mutransfer parametrization | coord-check`: inspect the μP library from the shell.

`parametrization` prints the resolved table (each parameter's role, init std, forward multiplier, LR and
weight decay) for a model; `coord-check` runs the coordinate check, which judges every measured slope
against the one its parametrization predicts (docs/coordinate-check.md), and exits 0 when it passes, 1 when
it fails, 2 on bad input, so CI can gate on it. Both only call `workers/`; neither needs a service.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli import app
from workers.config import TrialConfig

console = Console(highlight=False, soft_wrap=True)
# Tables are wide (names, shapes, six numbers): never squeeze them into an 80-column pipe.
table_console = Console(highlight=False, width=max(Console().width, 150))
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EntrypointOpt = Annotated[
    str | None,
    typer.Option(help="your model: 'package.module:function' (family custom; docs/external-models.md)"),
]
CodeOpt = Annotated[
    str | None, typer.Option("--code", help="the directory that holds --entrypoint's package")
]
HfConfigOpt = Annotated[
    str | None,
    typer.Option(help="a transformers config file (JSON or YAML, with model_type: llama | gpt2): family hf"),
]
RolesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--role", help="override an inferred role: PATTERN=ROLE (repeatable), e.g. 'lm_head.*=output'"
    ),
]
SchemeOpt = Annotated[
    str, typer.Option("--parametrization", "-p", help="sp | mup | sp-embedding-lr | u-mup | completep")
]
OptimizerOpt = Annotated[str, typer.Option("--optimizer", "-o", help="adamw | sgd | muon | lamb | adopt")]
FamilyOpt = Annotated[str, typer.Option("--family", help="model family: gpt | mlp | moe")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
# MoE options (read only with --family moe; workers/models/moe.py documents each).
NExpertsOpt = Annotated[int, typer.Option(help="moe: number of experts")]
TopKOpt = Annotated[int, typer.Option(help="moe: experts each token is routed to")]
DExpertOpt = Annotated[
    int | None, typer.Option(help="moe: expert hidden size (default mlp_ratio·width / active experts)")
]
SharedOpt = Annotated[
    bool, typer.Option("--shared-expert/--no-shared-expert", help="moe: add a shared expert")
]
RouterOpt = Annotated[str, typer.Option(help="moe: softmax | sigmoid")]
BridgeOpt = Annotated[str, typer.Option(help="moe: complete-mue (dense ↔ MoE bridges I+II) | none")]


def _moe(
    family: str,
    n_experts: int,
    top_k: int,
    d_expert: int | None,
    shared: bool,
    router: str,
    bridge: str,
    aux_loss_weight: float = 0.01,
) -> dict[str, object] | None:
    """The TrialConfig.moe dict for --family moe (None otherwise)."""
    if family != "moe":
        return None
    return {
        "aux_loss_weight": aux_loss_weight,
        "n_experts": n_experts,
        "top_k": top_k,
        "d_expert": d_expert,
        "shared_expert": shared,
        "router": router,
        "bridge": bridge,
    }


def _bad_input(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _external(
    family: str, entrypoint: str | None, code: str | None, hf_config: str | None, roles: list[str] | None
) -> dict[str, object]:
    """TrialConfig fields of an external model given by --entrypoint/--code or --hf-config (else none)."""
    if entrypoint and hf_config:
        raise _bad_input("give --entrypoint (your module) or --hf-config (a transformers config), not both")
    overrides = {}
    for item in roles or []:
        pattern, sep, role = item.rpartition("=")
        if not sep or not pattern:
            raise _bad_input(f"--role takes PATTERN=ROLE, got {item!r}")
        overrides[pattern] = role
    if entrypoint:
        return {"family": "custom", "entrypoint": entrypoint, "code_path": code, "roles": overrides or None}
    if hf_config:
        import yaml

        try:
            with open(hf_config, encoding="utf-8") as handle:
                config = yaml.safe_load(handle)  # JSON is YAML
        except (OSError, yaml.YAMLError) as exc:
            raise _bad_input(f"cannot read --hf-config {hf_config}: {exc}") from None
        if not isinstance(config, dict):
            raise _bad_input(f"--hf-config {hf_config} must hold a mapping (a transformers config)")
        return {"family": "hf", "hf_config": config, "roles": overrides or None}
    if code or roles:
        raise _bad_input("--code and --role describe an external model: give --entrypoint or --hf-config")
    return {"family": family}


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _bad_input(f"{option} takes comma-separated integers, e.g. 64,128,256; got {text!r}") from None
    if not values:
        raise _bad_input(f"{option} is empty")
    return values


@app.command("parametrization")
def parametrization_command(
    parametrization: SchemeOpt = "mup",
    optimizer: OptimizerOpt = "adamw",
    width: Annotated[int, typer.Option(help="model width (d_model)")] = 256,
    base_width: Annotated[int, typer.Option(help="width the base values were tuned at")] = 64,
    depth: Annotated[int, typer.Option(help="number of blocks")] = 2,
    base_depth: Annotated[
        int | None, typer.Option(help="depth the base values were tuned at (default: depth)")
    ] = None,
    depth_alpha: Annotated[float, typer.Option(help="CompleteP α: 1, or 0.5 for depth-μP")] = 1.0,
    family: FamilyOpt = "gpt",
    lr: Annotated[float, typer.Option(help="base LR η (1: the lr column reads as a multiplier)")] = 1.0,
    weight_decay: Annotated[float, typer.Option(help="base weight decay (1: reads as a multiplier)")] = 1.0,
    weight_decay_mode: Annotated[
        str, typer.Option(help="standard | independent | width_scaled")
    ] = "standard",
    init_std: Annotated[float | None, typer.Option(help="base init std σ (default: base_width^-½)")] = None,
    head_dim: Annotated[int | None, typer.Option(help="fixed head size (heads grow with width)")] = 16,
    n_heads: Annotated[int | None, typer.Option(help="fixed number of heads (head size grows)")] = None,
    vocab_size: Annotated[int, typer.Option(help="vocabulary size of the readout")] = 256,
    tied_embeddings: Annotated[
        bool, typer.Option("--tied/--untied", help="tie embedding and readout")
    ] = False,
    n_experts: NExpertsOpt = 8,
    top_k: TopKOpt = 2,
    d_expert: DExpertOpt = None,
    shared_expert: SharedOpt = False,
    router: RouterOpt = "softmax",
    bridge: BridgeOpt = "complete-mue",
    entrypoint: EntrypointOpt = None,
    code: CodeOpt = None,
    hf_config: HfConfigOpt = None,
    role: RolesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print every parameter's resolved role, init std, forward multiplier, LR and weight decay (for your
    own model: --entrypoint/--code or --hf-config; its roles are inferred, and how each multiplier is
    applied is shown)."""
    from workers.external import EXTERNAL_FAMILIES
    from workers.external.source import ModelSourceError
    from workers.parametrization import resolve_table

    external = _external(family, entrypoint, code, hf_config, role)
    family = str(external.pop("family"))
    config = TrialConfig(
        family=family,
        **external,  # type: ignore[arg-type]
        width=width,
        base_width=base_width,
        depth=depth,
        base_depth=base_depth or depth,
        depth_alpha=depth_alpha,
        parametrization=parametrization,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        weight_decay_mode=weight_decay_mode,
        init_std=init_std,
        head_dim=head_dim,
        n_heads=n_heads,
        tied_embeddings=tied_embeddings,
        moe=_moe(family, n_experts, top_k, d_expert, shared_expert, router, bridge),
    )
    try:
        rows = resolve_table(config, vocab_size)
        notes = external_notes(config, vocab_size) if family in EXTERNAL_FAMILIES else []
    except (ValueError, ModelSourceError) as exc:
        raise _bad_input(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=1))
        for note in notes:
            err_console.print(f"note: {note}")
        return
    table = Table(title=f"{parametrization} + {optimizer}: width {width} (base {base_width}), depth {depth}")
    columns = ("name", "shape", "role", "init_std", "forward_multiplier", "applied_as", "lr", "weight_decay")
    if family in EXTERNAL_FAMILIES:
        columns += ("role_source",)
    for column in columns:
        table.add_column(column, justify="right" if column in NUMERIC_COLUMNS else "left")
    for row in rows:
        values = row.to_dict()
        table.add_row(
            *(
                "×".join(map(str, values[c]))
                if c == "shape"
                else f"{values[c]:.4g}"
                if c in NUMERIC_COLUMNS
                else str(values[c])
                for c in columns
            )
        )
    table_console.print(table)
    for note in notes:
        console.print(f"note: {note}")


NUMERIC_COLUMNS = ("init_std", "forward_multiplier", "lr", "weight_decay")


def external_notes(config: TrialConfig, vocab_size: int) -> list[str]:
    """What a user of an external model should know beyond the table: the forward hooks on a tied weight,
    and the attention scale mutransfer cannot see."""
    import torch

    from workers.parametrization import apply_parametrization, make_structure

    with torch.device("meta"):
        model = make_structure(config, vocab_size)
    model = apply_parametrization(model, config) if model.hook_sites() else model
    notes = model.hook_notes()
    if config.family == "custom":
        notes.append(
            "attention: mutransfer cannot see your attention's scale. μP needs 1/head_dim where head_dim "
            "grows with width; with head_dim fixed (heads ∝ width) the usual 1/√head_dim differs only by a "
            "constant. Otherwise pass scale=1/head_dim to scaled_dot_product_attention "
            "(docs/external-models.md)"
        )
    return notes


@app.command("coord-check")
def coord_check_command(
    parametrization: SchemeOpt = "mup",
    optimizer: OptimizerOpt = "adamw",
    widths: Annotated[str, typer.Option(help="comma-separated widths to compare")] = "64,128,256,512",
    depths: Annotated[str | None, typer.Option(help="compare depths at --width instead of widths")] = None,
    width: Annotated[int, typer.Option(help="the fixed width when --depths is given")] = 64,
    depth: Annotated[int, typer.Option(help="the fixed depth when comparing widths")] = 2,
    base_width: Annotated[int | None, typer.Option(help="default: the smallest width")] = None,
    base_depth: Annotated[int | None, typer.Option(help="default: the smallest depth, else --depth")] = None,
    family: FamilyOpt = "gpt",
    steps: Annotated[int, typer.Option(help="optimizer updates per model")] = 3,
    seeds: Annotated[str, typer.Option(help="comma-separated seeds to average")] = "0,1",
    lr: Annotated[float | None, typer.Option(help="LR (default: a large one per optimizer)")] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="how far a slope may sit from its prediction (default 0.15 along width, 0.3 depth)"
        ),
    ] = None,
    growing_tolerance: Annotated[
        float, typer.Option(help="the same around a prediction that grows with width (SP's)")
    ] = 0.25,
    out: Annotated[str | None, typer.Option(help="directory for coord_check.json/.png/.html")] = None,
    n_experts: NExpertsOpt = 8,
    top_k: TopKOpt = 2,
    d_expert: DExpertOpt = None,
    shared_expert: SharedOpt = False,
    router: RouterOpt = "softmax",
    bridge: BridgeOpt = "complete-mue",
    aux_loss_weight: Annotated[
        float,
        typer.Option(
            help="moe: load-balancing loss weight; 0 by default here: behind the check's zero readout its "
            "gradient alone drives the step-0 update, which Adam blows up to full size"
        ),
    ] = 0.0,
    entrypoint: EntrypointOpt = None,
    code: CodeOpt = None,
    hf_config: HfConfigOpt = None,
    role: RolesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train each size a few steps on one fixed batch; pass iff every activation's slope vs size matches the
    slope its parametrization predicts (flat under μP, growing where SP predicts growth)."""
    from workers.coord_check import coord_check
    from workers.external.source import ModelSourceError

    width_list = _int_list(widths, "--widths")
    depth_list = _int_list(depths, "--depths") if depths else None
    external = _external(family, entrypoint, code, hf_config, role)
    family = str(external.pop("family"))
    config = TrialConfig(
        family=family,
        **external,  # type: ignore[arg-type]
        width=width if depth_list else min(width_list),
        depth=depth,
        base_width=base_width or (width if depth_list else min(width_list)),
        base_depth=base_depth or (min(depth_list) if depth_list else depth),
        moe=_moe(family, n_experts, top_k, d_expert, shared_expert, router, bridge, aux_loss_weight),
    )
    try:
        result = coord_check(
            config,
            parametrization,
            optimizer,
            widths=width_list,
            depths=depth_list,
            steps=steps,
            seeds=_int_list(seeds, "--seeds"),
            lr=lr,
            tolerance=tolerance,
            growing_tolerance=growing_tolerance,
        )
    except (ValueError, ModelSourceError) as exc:
        raise _bad_input(str(exc)) from None
    data = result.to_dict()
    if out:
        from workers.coord_plot import save_artifacts

        data["artifacts"] = {kind: str(path) for kind, path in save_artifacts(result, out).items()}
    if as_json:
        typer.echo(json.dumps(data))
    else:
        _print_verdict(data)
    raise typer.Exit(0 if result.passed else 1)


def _slopes(values: list[float | None], shown: list[bool]) -> str:
    """One slope per step ('·' where the step is not shown)."""
    return " ".join(
        f"{v:+.2f}" if ok and v is not None else ("n/a" if ok else "·")
        for v, ok in zip(values, shown, strict=True)
    )


def _print_verdict(data: dict) -> None:
    """One row per module and judged statistic: the predicted and the measured slope at each step."""
    table = Table(
        title=f"coordinate check vs {data['axis']}: log2-log2 slope at steps {data['steps']}, predicted by "
        f"{data['settings']['parametrization']} ± {data['tolerance']} (± {data['growing_tolerance']} where "
        "it grows)"
    )
    for column in ("module", "statistic", "predicted", "measured", "verdict"):
        table.add_column(column, justify="left" if column in ("module", "statistic") else "right")
    failing = {(f["module"], f["stat"]) for f in data["failing"]}
    for module in data["modules"]:
        for stat in ("rms", "delta_rms"):
            predicted = data["predicted"][module][stat]
            judged = [p is not None for p in predicted]
            measured = _slopes(data["slopes"][module][stat], [True] * len(judged))
            if not any(judged):
                table.add_row(module, stat, "not judged", f"[dim]{measured}[/dim]", "")
                continue
            verdict = "[red]FAIL[/red]" if (module, stat) in failing else "[green]ok[/green]"
            table.add_row(module, stat, _slopes(predicted, judged), measured, verdict)
    table_console.print(table)
    verdict = "[green]PASS[/green]" if data["passed"] else f"[red]FAIL[/red] ({len(data['failing'])} slopes)"
    console.print(
        f"{verdict} in {data['wall_s']:.1f}s; artifacts: {data.get('artifacts', 'none (use --out)')}"
    )
