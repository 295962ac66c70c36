"""Role inference for a model mutransfer did not write: microsoft/mup's base-shape idea, without attributes
on tensors, and with each weight's fan-in read from how the forward uses it (docs/external-models.md, "How
roles are inferred").

The model is built twice on the meta device (no memory, no init cost), at the base width and at twice it,
at the same depth: a dimension whose size differs between the two grows with width. One forward of a few
tokens on the meta device (`workers.external.usage`) says which of a weight's dimensions meets the
activation (its fan-in) and which is its output (its fan-out): the shape alone never decides, since torch's
`Linear` stores (fan_out, fan_in), GPT-2's `Conv1D` (fan_in, fan_out) and a raw `nn.Parameter` anything. Then:

- no dimension growing (a 0-D scalar gate or temperature, a bias over the vocabulary): `finite`, the same at
  every width, which no parametrization rescales (microsoft/mup's finite parameters);
- one dimension, growing: `vector` (norm gains, biases);
- a matrix contracted with the activation: `hidden` when fan-in and fan-out grow, `input` when only the
  fan-out grows, `output` (the readout) when only the fan-in grows;
- a matrix whose rows are picked by index (an embedding) or added to the activation (a learned positional
  table): `input`, its fan-out the dimension that grows;
- a weight used both ways by two modules (tied embeddings): `input`, as microsoft/mup treats a shared
  readout, and the readout's forward multiplier goes on the module that reads it out, not the weight;
- anything else (a use whose fan-in is unknown, conflicting uses, more than two dimensions): ambiguous.
  These are listed in one error with the fix, a `roles:` entry, never guessed.

`roles:` (glob pattern -> role) overrides any inference; the first matching pattern wins.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from workers.external.source import Builder, ModelSourceError
from workers.external.usage import ADDED, CONTRACT, ELEMENTWISE, LOOKUP, OTHER, PROBE_TOKENS, Use, trace_uses
from workers.roles import Role

OVERRIDE_ROLES = (Role.INPUT, Role.HIDDEN, Role.OUTPUT, Role.VECTOR, Role.FINITE)


class AmbiguousRoles(ModelSourceError):
    """Some parameters' roles cannot be inferred; the message lists each and the `roles:` line to add."""


@dataclass(frozen=True)
class Owner:
    """The module a parameter's role is applied through (its multipliers' hook, its coordinate site)."""

    module: str


@dataclass(frozen=True)
class InferredParam:
    """One parameter of an external model with its role and why."""

    name: str
    shape: tuple[int, ...]
    role: Role | None  # None: ambiguous
    owner: Owner
    reason: str
    # A tied weight: the module that uses it as the readout (its multiplier is applied there).
    tied_readout: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)
    axes: tuple[int, int] | None = None  # a matrix's (fan-in, fan-out) dimensions, from its use

    def fans(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """(fan_in, fan_out) of this parameter at `shape` (its shape at another width)."""
        if len(shape) == 0:
            return 1, 1
        if len(shape) == 1:
            return 1, shape[0]
        if self.axes is not None and len(shape) == 2:
            return shape[self.axes[0]], shape[self.axes[1]]
        return int(torch.Size(shape[1:]).numel()), shape[0]  # torch's layout: declared by `roles:`


def owners(model: nn.Module) -> dict[int, list[tuple[str, Owner]]]:
    """id(parameter) -> every (full name, owner) that holds it, in module order (a tied weight has two)."""
    found: dict[int, list[tuple[str, Owner]]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for attr, param in module._parameters.items():
            if param is None:
                continue
            full = f"{module_name}.{attr}" if module_name else attr
            entry = (full, Owner(module_name))
            if entry not in found.setdefault(id(param), []):
                found[id(param)].append(entry)
    return found


@dataclass(frozen=True)
class _Decision:
    role: Role | None
    reason: str
    axes: tuple[int, int] | None = None
    module: str | None = None  # the module whose use decided it
    tied_readout: str | None = None


def _decide(shape: tuple[int, ...], grows: set[int], uses: list[Use], holders: set[str]) -> _Decision:
    """The role of one parameter from its shape's growth and its uses (module docstring)."""
    if not grows:
        what = "a scalar (0-D)" if len(shape) == 0 else "no dimension changes with width"
        return _Decision(Role.FINITE, f"{what}: the same at every width, nothing to rescale")
    if len(shape) == 1:
        return _Decision(Role.VECTOR, "one dimension, growing with width")
    if not uses:
        return _Decision(None, "the forward on a few tokens does not use it")
    if len(shape) > 2:
        return _Decision(None, f"{len(shape)}-D weight: {uses[0].describe()}")
    unknown = [u for u in uses if u.kind in (OTHER, ELEMENTWISE)]
    if unknown:
        return _Decision(None, unknown[0].describe())
    tables = [u for u in uses if u.kind in (LOOKUP, ADDED)]
    contracts = [u for u in uses if u.kind == CONTRACT]
    if tables:
        return _table(shape, grows, tables, contracts, holders)
    axes = {(u.fan_in_axis, u.fan_out_axis) for u in contracts}
    if len(axes) > 1:
        ways = "; ".join(u.describe() for u in contracts)
        return _Decision(None, f"contracted along different dimensions: {ways}")
    fan_in, fan_out = next(iter(axes))
    assert fan_in is not None and fan_out is not None
    use = contracts[0].describe()
    in_grows, out_grows = fan_in in grows, fan_out in grows
    if in_grows and out_grows:
        return _Decision(Role.HIDDEN, f"{use}; fan-in and fan-out grow with width", (fan_in, fan_out))
    if out_grows:
        return _Decision(
            Role.INPUT, f"{use}; fan-in fixed at {shape[fan_in]}, fan-out grows with width", (fan_in, fan_out)
        )
    # some dimension grows (finite parameters were decided above), so here it is the fan-in
    reason = f"{use}; fan-in grows with width, fan-out fixed at {shape[fan_out]}"
    return _Decision(Role.OUTPUT, reason, (fan_in, fan_out))


def _table(
    shape: tuple[int, ...], grows: set[int], tables: list[Use], contracts: list[Use], holders: set[str]
) -> _Decision:
    """A matrix looked up by index or added to the activation: an input layer, maybe also a tied readout."""
    lookups = {(u.fan_in_axis, u.fan_out_axis) for u in tables if u.kind == LOOKUP}
    if len(lookups) > 1:
        return _Decision(None, "looked up along different dimensions")
    if lookups:
        fan_in, fan_out = next(iter(lookups))
    elif len(grows) == 1:
        fan_out = next(iter(grows))
        fan_in = 1 - fan_out
    else:
        reason = f"{tables[0].describe()}, but both its dimensions grow with width: its width is unknown"
        return _Decision(None, reason)
    assert fan_in is not None and fan_out is not None
    use = tables[0].describe()
    if fan_in in grows or fan_out not in grows:
        return _Decision(None, f"{use}, but its fan-out (dim {fan_out}) is not the one growing with width")
    decision = _Decision(
        Role.INPUT, f"{use}; fan-in fixed at {shape[fan_in]}, fan-out grows with width", (fan_in, fan_out),
        tables[0].module or None,
    )  # fmt: skip
    if not contracts:
        return decision
    readouts = [u for u in contracts if u.fan_in_axis == fan_out]
    if len(readouts) != len(contracts):
        return _Decision(None, f"{use}, and also contracted along its fixed dimension")
    module = readouts[0].module
    if module not in holders:
        where = f"inside {module}" if module else "in the model's own forward"
        return _Decision(
            None,
            f"{use}, and read out {where}, which does not hold it: μP's readout multiplier needs a module to "
            "apply it; tie the weight through a module (lm_head.weight = token.weight) or declare its role",
        )
    reason = decision.reason + f"; tied: also the readout of {module}"
    return _Decision(Role.INPUT, reason, decision.axes, decision.module, module)


def _declared_axes(role: Role, shape: tuple[int, ...], grows: set[int]) -> tuple[int, int] | None:
    """A declared role's (fan-in, fan-out) dimensions where its use did not say: the growing dimension is an
    input's fan-out and a readout's fan-in; otherwise torch's layout (fan_out, fan_in)."""
    if len(shape) != 2:
        return None
    if len(grows) == 1 and role in (Role.INPUT, Role.OUTPUT):
        grown = next(iter(grows))
        return (1 - grown, grown) if role == Role.INPUT else (grown, 1 - grown)
    return (1, 0)


def _override(names: tuple[str, ...], roles: Mapping[str, str]) -> tuple[Role, str] | None:
    for pattern, role in roles.items():
        if any(fnmatch.fnmatchcase(name, pattern) for name in names):
            return Role(role), f"roles: {pattern!r} -> {role}"
    return None


def check_overrides(roles: Mapping[str, str] | None) -> dict[str, str]:
    """`roles:` as given, each value one of the four roles an external model's parameter may take."""
    allowed = [r.value for r in OVERRIDE_ROLES]
    for pattern, role in (roles or {}).items():
        if role not in allowed:
            raise ModelSourceError(f"roles[{pattern!r}] = {role!r}: a role is one of {allowed}")
    return dict(roles or {})


def infer_roles(
    build: Builder,
    base_width: int,
    depth: int,
    roles: Mapping[str, str] | None = None,
    context_length: int = PROBE_TOKENS,
) -> list[InferredParam]:
    """Every parameter of the model `build` makes, in `named_parameters` order, with its role."""
    overrides = check_overrides(roles)
    with torch.device("meta"):
        small, large = build(base_width, depth), build(2 * base_width, depth)
    large_shapes = {name: tuple(p.shape) for name, p in large.named_parameters()}
    small_owners = owners(small)
    try:
        uses = trace_uses(small, context_length)
        failed = None
    except Exception as exc:  # noqa: BLE001 (the user's forward on the meta device: say what failed)
        uses, failed = {}, f"the forward on the meta device failed ({type(exc).__name__}: {exc})"
    inferred, ambiguous = [], []
    any_grows = False
    for name, param in small.named_parameters():
        shape = tuple(param.shape)
        if name not in large_shapes:
            raise ModelSourceError(
                f"parameter {name} exists at width {base_width} but not at {2 * base_width}: parameter names "
                "must not depend on width"
            )
        other = large_shapes[name]
        grows = {i for i, (a, b) in enumerate(zip(shape, other, strict=False)) if a != b}
        holders = small_owners[id(param)]
        aliases = tuple(full for full, _ in holders)
        modules = {owner.module for _, owner in holders}
        decision = _decide(shape, grows, uses.get(name, []), modules)
        if failed and decision.role is None and len(shape) >= 2:
            decision = _Decision(None, failed)
        role, reason, axes = decision.role, decision.reason, decision.axes
        chosen = _override(aliases, overrides)
        if chosen is not None:
            role, reason = chosen
            if axes is None or role != decision.role:
                axes = _declared_axes(role, shape, grows)
        owner = Owner(decision.module) if decision.module in modules else holders[0][1]
        tied = decision.tied_readout if role == decision.role else None
        item = InferredParam(name, shape, role, owner, reason, tied, aliases, axes)
        (ambiguous if role is None else inferred).append(item)
        any_grows = any_grows or bool(grows)
    if not any_grows:
        raise ModelSourceError(
            f"no parameter's shape changes between width {base_width} and {2 * base_width}: the model does "
            "not grow with width (does build() use its width argument?)"
        )
    if ambiguous:
        lines = "\n".join(
            f"  {p.name} {list(p.shape)} (at width {2 * base_width}: {list(large_shapes[p.name])}): "
            f"{p.reason}"
            for p in ambiguous
        )
        example = ", ".join(f'"{p.name}": {_suggest(p, large_shapes[p.name])}' for p in ambiguous[:2])
        raise AmbiguousRoles(
            f"{len(ambiguous)} parameter(s) have no role mutransfer can infer:\n{lines}\n"
            "say each one's role in the spec's model.roles (input | hidden | output | vector | finite), "
            f"e.g. "
            f"roles: {{{example}}}"
        )
    return inferred


def _suggest(p: InferredParam, wide: tuple[int, ...]) -> str:
    """The role the example line proposes: a guess for the user to check, never applied."""
    if len(p.shape) <= 1:
        return "vector"
    grown = sum(a != b for a, b in zip(p.shape, wide, strict=False))
    return "hidden" if grown >= 2 else "input" if grown else "finite"
