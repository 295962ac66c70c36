"""How a model's forward uses each parameter: the evidence role inference reads (docs/external-models.md,
"How roles are inferred").

A parameter's layout says nothing about which of its dimensions is the fan-in: `nn.Linear` stores (out, in),
GPT-2's `Conv1D` (in, out), and a raw `nn.Parameter` whatever its author chose. Its use does: one forward of
a few tokens on the meta device (no memory, no arithmetic) under a `TorchFunctionMode` that sees every torch
call, follows each parameter through views (transpose, slicing, dtype casts, scaling by a number) and
records what consumes it:

- `contract`: a matrix product (`linear`, `matmul`/`@`, `mm`, `bmm`, `addmm`, `einsum`, and torch's fused
  `multi_head_attention_forward`, whose weights are Linear weights) contracts one of its dimensions with
  the activation: that dimension is the fan-in, the other the fan-out;
- `lookup`: rows picked by token ids (`embedding`, or indexing with an integer tensor): the rows are the
  fan-in (the vocabulary or the context), the other dimension the fan-out;
- `added`: a 2-D table added to an activation (a learned positional table `x + self.pos[:T]`): a lookup by
  position, so an input layer whose fan-out is its dimension that grows with width;
- `elementwise`: a 0-D or 1-D parameter multiplied or added elementwise, or a norm's gain or bias;
- `other`: anything else (a convolution, a reshape before use): no claim, so a matrix used only that way is
  ambiguous and its `roles:` line is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from workers.external.forward import call

CONTRACT, LOOKUP, ADDED, ELEMENTWISE, OTHER = "contract", "lookup", "added", "elementwise", "other"
PROBE_TOKENS = 4


@dataclass(frozen=True)
class Use:
    """One consumption of a parameter: what kind, which of its own dimensions are fan-in and fan-out (None
    where the use does not say), the torch op and the module that was running."""

    kind: str
    fan_in_axis: int | None
    fan_out_axis: int | None
    op: str
    module: str

    def describe(self) -> str:
        where = f" in {self.module}" if self.module else ""
        if self.kind == CONTRACT:
            return f"{self.op}{where} contracts its dim {self.fan_in_axis} with the activation"
        if self.kind == LOOKUP:
            return f"{self.op}{where} picks its rows (dim {self.fan_in_axis}) by index"
        if self.kind == ADDED:
            return f"added to an activation{where} (a lookup table by position)"
        if self.kind == ELEMENTWISE:
            return f"applied elementwise by {self.op}{where}"
        return f"used by {self.op}{where}, whose fan-in mutransfer does not know"


_VIEWS = {"t", "transpose", "permute", "swapaxes", "swapdims"}
_TRANSPOSES = {torch.Tensor.T.__get__, torch.Tensor.mT.__get__}  # type: ignore[attr-defined]
_CASTS = {"contiguous", "clone", "detach", "to", "float", "half", "bfloat16", "double", "type", "type_as"}
_SCALES = {"mul", "__mul__", "__rmul__", "div", "__truediv__", "neg", "__neg__"}  # by a number: a view
_MATMUL = {"matmul", "__matmul__", "__rmatmul__", "mm", "bmm"}
# torch's fused attention and encoder-layer functions, whose 2-D parameters are all Linear weights (fan_out,
# fan_in): nn.MultiheadAttention's in_proj_weight and out_proj.weight, the encoder layer's fast path
_FUSED = ("multi_head_attention", "transformer_encoder_layer")
_ADD = {"add", "__add__", "__radd__", "add_", "__iadd__", "sub", "__sub__", "__rsub__"}


class _Tracer(TorchFunctionMode):
    """Records every use of the model's parameters (module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = {id(p): n for n, p in model.named_parameters()}
        # id(tensor) -> (parameter name, the parameter's dimension behind each of the tensor's dimensions)
        self.origin: dict[int, tuple[str, tuple[int | None, ...]]] = {
            id(p): (n, tuple(range(p.dim()))) for n, p in model.named_parameters()
        }
        self.alive: list[torch.Tensor] = []  # keeps derived tensors alive so their ids are not reused
        self.uses: dict[str, list[Use]] = {n: [] for n in self.names.values()}
        self.modules: list[str] = []
        # parameter name -> the activations it was contracted with (kept for `contracted_inputs`)
        self.activations: dict[str, list[torch.Tensor]] = {n: [] for n in self.names.values()}

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: Any = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self._record(func, list(args), kwargs, out)
        except Exception:  # noqa: BLE001 (reading the use must never break the user's forward)
            pass
        return out

    def _from(self, value: Any) -> tuple[str, tuple[int | None, ...]] | None:
        return self.origin.get(id(value)) if isinstance(value, torch.Tensor) else None

    def _use(self, name: str, kind: str, fan_in: int | None, fan_out: int | None, op: str) -> None:
        if kind in (CONTRACT, LOOKUP) and (fan_in is None or fan_out is None or fan_in == fan_out):
            kind = OTHER  # a dimension the parameter gained by a view (`w[None]`): its use says nothing
        self.uses[name].append(Use(kind, fan_in, fan_out, op, self.modules[-1] if self.modules else ""))

    def _record(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], out: Any) -> None:
        op = getattr(func, "__name__", str(func))
        operands = [*args, *kwargs.values()]
        if op == "einsum":
            self._einsum(args)
            return
        sources = [(i, self._from(a)) for i, a in enumerate(operands)]
        sources = [(i, s) for i, s in sources if s is not None]
        if not sources:
            return
        if op == "__get__":
            op = "t" if func in _TRANSPOSES else ("to" if isinstance(out, torch.Tensor) else op)
        if isinstance(out, list | tuple) and op in ("split", "chunk", "tensor_split") and len(sources) == 1:
            for piece in out:  # a fused weight cut into parts: each part keeps the parameter's dimensions
                self.origin[id(piece)] = sources[0][1]
                self.alive.append(piece)
            return
        produced = isinstance(out, torch.Tensor) or (
            isinstance(out, list | tuple) and any(isinstance(o, torch.Tensor) for o in out)
        )
        if not produced:
            return  # .shape, .dtype, .size(): reading an attribute is not a use
        if (
            len(sources) == 1
            and isinstance(out, torch.Tensor)
            and self._derive(op, operands, sources[0], out)
        ):
            return
        for position, (name, dims) in sources:
            self._consume(op, operands, position, name, dims)

    def _derive(
        self, op: str, operands: list[Any], source: tuple[int, tuple[str, tuple[int | None, ...]]], out: Any
    ) -> bool:
        """A view of a parameter: follow it. False when the op consumes it instead."""
        position, (name, dims) = source
        if position != 0:
            return False
        tensor = operands[0]
        if op == "__getitem__":
            key = operands[1] if isinstance(operands[1], tuple) else (operands[1],)
            if any(isinstance(k, torch.Tensor) for k in key):
                return False  # rows picked by ids: a lookup
            kept, axis = [], 0
            for k in key:
                if k is Ellipsis:
                    skip = tensor.dim() - sum(k2 is not None and k2 is not Ellipsis for k2 in key)
                    kept += list(dims[axis : axis + skip])
                    axis += skip
                elif k is None:
                    kept.append(None)
                elif isinstance(k, slice):
                    kept.append(dims[axis])
                    axis += 1
                else:
                    axis += 1  # an integer drops the dimension
            new = (*kept, *dims[axis:])
        elif op in _CASTS:
            new = dims
        elif op in _SCALES:
            if any(isinstance(o, torch.Tensor) and o.dim() > 0 for o in operands[1:]):
                return False  # multiplied by an activation: consumed elementwise
            new = dims
        elif op in _VIEWS and out.dim() == tensor.dim():
            new = self._permuted(op, operands, dims)
            if new is None:
                return False
        else:
            return False
        self.origin[id(out)] = (name, tuple(new))
        self.alive.append(out)
        return True

    @staticmethod
    def _permuted(
        op: str, operands: list[Any], dims: tuple[int | None, ...]
    ) -> tuple[int | None, ...] | None:
        n = len(dims)
        if op == "t":  # .t(), .T, .mT: the last two dimensions swap
            if n < 2:
                return dims
            return (*dims[:-2], dims[-1], dims[-2])
        if op in ("transpose", "swapaxes", "swapdims"):
            a, b = int(operands[1]) % n, int(operands[2]) % n
            swapped = list(dims)
            swapped[a], swapped[b] = swapped[b], swapped[a]
            return tuple(swapped)
        if op == "permute":
            order = operands[1:] if not isinstance(operands[1], list | tuple) else operands[1]
            return tuple(dims[int(i) % n] for i in order)
        return None

    def _consume(
        self, op: str, operands: list[Any], position: int, name: str, dims: tuple[int | None, ...]
    ) -> None:
        tensor = operands[position]
        if op in _MATMUL or op == "linear":
            other = [o for i, o in enumerate(operands[:2]) if i != position and isinstance(o, torch.Tensor)]
            self.activations[name] += [o for o in other if self._from(o) is None]
        if tensor.dim() <= 1 and len(dims) <= 1:
            self._use(name, ELEMENTWISE, None, None, op)
            return
        if op == "linear" and position == 1:
            self._use(name, CONTRACT, dims[-1], dims[0], op)
        elif any(fused in op for fused in _FUSED) and tensor.dim() == 2:
            self._use(name, CONTRACT, dims[1], dims[0], op)  # torch's fused layers take Linear weights
        elif op in _MATMUL or op in ("addmm", "baddbmm", "addbmm"):
            left = position == (1 if op.startswith("add") or op == "baddbmm" else 0)
            if op == "__rmatmul__":
                left = position == 1
            if left:  # W @ x: W's last dimension meets the activation
                self._use(name, CONTRACT, dims[-1], dims[-2], op)
            else:  # x @ W
                self._use(name, CONTRACT, dims[-2], dims[-1], op)
        elif op == "embedding" and tensor.dim() == 2:
            self._use(name, LOOKUP, dims[0], dims[1], op)
        elif op == "__getitem__" and position == 0 and tensor.dim() == 2:
            self._use(name, LOOKUP, dims[0], dims[1], "indexing")
        elif op in _ADD and tensor.dim() >= 2:
            self._use(name, ADDED, None, None, op)
        else:
            self._use(name, OTHER, None, None, op)

    def _einsum(self, args: list[Any]) -> None:
        equation = str(args[0]).replace(" ", "")
        operands = list(args[1]) if len(args) == 2 and isinstance(args[1], list | tuple) else list(args[1:])
        if "->" not in equation or "." in equation:
            inputs, output = equation.split("->")[0].split(","), None
        else:
            left, output = equation.split("->")
            inputs = left.split(",")
        for letters, operand in zip(inputs, operands, strict=False):
            source = self._from(operand)
            if source is None:
                continue
            name, dims = source
            if output is None or len(letters) != len(dims) or not re.fullmatch(r"[a-zA-Z]+", letters):
                self._use(name, OTHER, None, None, "einsum")
                continue
            contracted = [i for i, c in enumerate(letters) if c not in output]
            kept = [i for i, c in enumerate(letters) if c in output]
            if len(dims) == 2 and len(contracted) == 1 and len(kept) == 1:
                self._use(name, CONTRACT, dims[contracted[0]], dims[kept[0]], "einsum")
            else:
                self._use(name, ELEMENTWISE if len(dims) <= 1 else OTHER, None, None, "einsum")


def trace_uses(model: nn.Module, context_length: int) -> dict[str, list[Use]]:
    """Parameter name -> every use one forward of a few tokens makes of it (module docstring). The model is
    expected on the meta device (nothing is computed); a forward that fails there is retried nowhere: the
    error says what failed."""
    return _trace(model, context_length).uses


def contracted_inputs(model: nn.Module, context_length: int) -> dict[str, list[torch.Tensor]]:
    """Parameter name -> the activations a matrix product met it with, in one forward of a few tokens (the
    caller's forward hooks, active during it, see the same tensors)."""
    return _trace(model, context_length).activations


def _trace(model: nn.Module, context_length: int) -> _Tracer:
    tracer = _Tracer(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    names = {m: n for n, m in model.named_modules()}

    def enter(module: nn.Module, _args: Any) -> None:
        tracer.modules.append(names.get(module, ""))

    def leave(module: nn.Module, _args: Any, _out: Any) -> None:
        if tracer.modules:
            tracer.modules.pop()

    handles = [
        torch.nn.modules.module.register_module_forward_pre_hook(enter),
        torch.nn.modules.module.register_module_forward_hook(leave),
    ]
    tokens = max(1, min(PROBE_TOKENS, context_length))
    idx = torch.zeros(1, tokens, dtype=torch.long, device=device)
    try:
        with torch.no_grad(), tracer:
            call(model, idx)
    finally:
        for handle in handles:
            handle.remove()
    return tracer
