"""Role inference for a model mutransfer did not write: microsoft/mup's base-shape idea, without attributes
on tensors (docs/external-models.md, "How roles are inferred").

The model is built twice on the meta device (no memory, no init cost), at the base width and at twice it,
at the same depth. A dimension whose size differs between the two grows with width; which of a weight's
dimensions is its fan-in and which its fan-out comes from the module that owns it (torch's `Linear` and any
other layer store (fan_out, fan_in), an `...Embedding` (rows, width), `transformers`' GPT-2 `Conv1D`
(fan_in, fan_out)). Then:

- one dimension, growing: `vector` (norm gains, biases);
- fan-in and fan-out growing: `hidden`;
- fan-out growing, fan-in fixed: `input` (token and position embeddings: the fan-in is the vocabulary or
  the context);
- fan-in growing, fan-out fixed: `output` (the readout, whose fan-out is the vocabulary);
- a weight shared by an input module and an output module (tied embeddings): `input`, as microsoft/mup
  treats a shared readout, and the readout's forward multiplier goes on the readout module, not the weight;
- nothing growing, or more than two dimensions: ambiguous. These are listed in one error with the fix,
  a `roles:` entry, never guessed.

`roles:` (glob pattern -> role) overrides any inference; the first matching pattern wins.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from workers.external.source import Builder, ModelSourceError
from workers.roles import Role

OVERRIDE_ROLES = (Role.INPUT, Role.HIDDEN, Role.OUTPUT, Role.VECTOR)


class AmbiguousRoles(ModelSourceError):
    """Some parameters' roles cannot be inferred; the message lists each and the `roles:` line to add."""


@dataclass(frozen=True)
class Owner:
    """A module that applies a parameter, and where the parameter's fan-in and fan-out sit in its shape."""

    module: str
    kind: str  # "embedding" | "linear" | "conv1d" | "other"

    def fans(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """(fan_in, fan_out) of a weight of `shape` used by this module."""
        if len(shape) == 1:
            return 1, shape[0]
        if self.kind in ("embedding", "conv1d"):
            return shape[0], int(torch.Size(shape[1:]).numel())
        return int(torch.Size(shape[1:]).numel()), shape[0]

    def axes(self, ndim: int) -> tuple[int, int]:
        """(fan-in axis, fan-out axis) of a 2-D weight."""
        return (0, 1) if self.kind in ("embedding", "conv1d") else (1, 0)


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


def _owner_kind(module: nn.Module) -> str:
    """A lookup table stores (rows, width): torch's `Embedding`, or any layer whose class says it is one
    (mutransfer's own `ScaledEmbedding`, a library's scaled word embedding)."""
    if isinstance(module, nn.Embedding) or type(module).__name__.endswith("Embedding"):
        return "embedding"
    if isinstance(module, nn.Linear):
        return "linear"
    if type(module).__name__ == "Conv1D":  # transformers' GPT-2 layer: weight is (fan_in, fan_out)
        return "conv1d"
    return "other"


def owners(model: nn.Module) -> dict[int, list[tuple[str, Owner]]]:
    """id(parameter) -> every (full name, owner) that holds it, in module order (a tied weight has two)."""
    found: dict[int, list[tuple[str, Owner]]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for attr, param in module._parameters.items():
            if param is None:
                continue
            full = f"{module_name}.{attr}" if module_name else attr
            entry = (full, Owner(module_name, _owner_kind(module)))
            if entry not in found.setdefault(id(param), []):
                found[id(param)].append(entry)
    return found


def _classify(
    shape: tuple[int, ...], grows: set[int], owner: Owner, vocab_size: int
) -> tuple[Role | None, str]:
    if not grows:
        return None, "no dimension changes with width"
    if len(shape) == 1:
        return Role.VECTOR, "one dimension, growing with width"
    if len(shape) > 2:
        return None, f"{len(shape)}-D weight: which dimensions are its fan-in and fan-out is not known"
    fan_in_axis, fan_out_axis = owner.axes(2)
    in_grows, out_grows = fan_in_axis in grows, fan_out_axis in grows
    if in_grows and out_grows:
        return Role.HIDDEN, "fan-in and fan-out grow with width"
    if out_grows:
        return Role.INPUT, f"fan-in fixed at {shape[fan_in_axis]}, fan-out grows with width"
    what = "the vocabulary" if shape[fan_out_axis] == vocab_size else "fixed"
    return Role.OUTPUT, f"fan-in grows with width, fan-out {shape[fan_out_axis]} ({what})"


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
    build: Builder, base_width: int, depth: int, vocab_size: int, roles: Mapping[str, str] | None = None
) -> list[InferredParam]:
    """Every parameter of the model `build` makes, in `named_parameters` order, with its role."""
    overrides = check_overrides(roles)
    with torch.device("meta"):
        small, large = build(base_width, depth), build(2 * base_width, depth)
    large_shapes = {name: tuple(p.shape) for name, p in large.named_parameters()}
    small_owners = owners(small)
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
        role, reason = _classify(shape, grows, holders[0][1], vocab_size)
        tied_readout = None
        if len(holders) > 1 and role is not None:
            readouts = [o for _, o in holders[1:] if _classify(shape, grows, o, vocab_size)[0] == Role.OUTPUT]
            if role == Role.INPUT and readouts:
                tied_readout = readouts[0].module
                reason += f"; tied: also the readout of {tied_readout}"
        chosen = _override(aliases, overrides)
        if chosen is not None:
            role, reason = chosen
        item = InferredParam(name, shape, role, holders[0][1], reason, tied_readout, aliases)
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
        example = ", ".join(
            f'"{p.name}": {"vector" if len(p.shape) == 1 else "hidden"}' for p in ambiguous[:2]
        )
        raise AmbiguousRoles(
            f"{len(ambiguous)} parameter(s) have no role mutransfer can infer:\n{lines}\n"
            f"say each one's role in the spec's model.roles (input | hidden | output | vector), e.g. "
            f"roles: {{{example}}}"
        )
    return inferred
