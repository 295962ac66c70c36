"""What a user's leaf modules do, read from behaviour rather than from class names (docs/external-models.md,
"The coordinate check on your model").

A norm is a module whose output's scale does not follow its input's: one forward of a few tokens records
each leaf module's input and output; each leaf is called again on its input × 4 and on a perturbed input.
Its output's RMS then stays within `SCALE_INVARIANT` of the original (a Linear's grows 4×, an activation's
by ~4× or more) while the output still depends on the input (a rotary table's cos/sin do not), with the
same shape as its input. `RMSNorm`, `LayerNorm` and a class called `Rms` are all found; nothing is read
from names.

The same forward, under `usage`'s tracer, tells whether a readout with no module of its own (`h @ W`) reads
a norm's output: the coordinate check's prediction for the logits depends on it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from workers.external.forward import call, first_tensor
from workers.external.usage import PROBE_TOKENS, contracted_inputs

SCALE = 4.0
SCALE_INVARIANT = 0.15  # |log2(rms ratio)| below this: the output's scale ignores the input's


def leaf_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Name -> module for every module without children, in module order (the root excluded)."""
    return {name: m for name, m in model.named_modules() if name and not any(True for _ in m.children())}


def norm_modules(model: nn.Module) -> set[str]:
    """Names of the leaf modules that behave as norms (module docstring). Empty on the meta device, where
    nothing is computed."""
    if any(p.device.type == "meta" for p in model.parameters()):
        return set()
    inputs: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in leaf_modules(model).items():

        def keep(_m: nn.Module, args: Any, out: Any, name: str = name) -> None:
            x, y = first_tensor(list(args)), first_tensor(out)
            if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.is_floating_point():
                inputs.setdefault(name, x.detach())
                outputs.setdefault(name, y.detach())

        handles.append(module.register_forward_hook(keep))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 2, (2, PROBE_TOKENS), generator=generator).to(device)
    try:
        with torch.no_grad():
            call(model, idx)
    finally:
        for handle in handles:
            handle.remove()
    modules = leaf_modules(model)
    found = set()
    with torch.no_grad():
        for name, x in inputs.items():
            y = outputs[name]
            if y.shape != x.shape or not y.is_floating_point() or _rms(y) == 0:
                continue
            try:
                scaled = first_tensor(modules[name](x * SCALE))
                moved = first_tensor(
                    modules[name](x + torch.randn(x.shape, generator=generator).to(x) * _rms(x))
                )
            except Exception:  # noqa: BLE001 (a leaf that needs more than its first input: not a norm we can test)
                continue
            if not isinstance(scaled, torch.Tensor) or not isinstance(moved, torch.Tensor):
                continue
            ratio = _rms(scaled) / _rms(y)
            invariant = ratio > 0 and abs(torch.log2(torch.tensor(ratio)).item()) < SCALE_INVARIANT
            if invariant and not torch.allclose(moved, y):
                found.add(name)
    return found


def _rms(x: torch.Tensor) -> float:
    return float(x.float().pow(2).mean().sqrt())


def readouts_reading_norms(model: nn.Module, readouts: set[str], norms: set[str]) -> set[str]:
    """Which of the parameters `readouts` are contracted with the output of a module in `norms` (itself, or a
    view of it: `transformers` slices positions), in one forward of a few tokens."""
    modules = dict(model.named_modules())
    outputs: list[torch.Tensor] = []
    handles = [
        modules[name].register_forward_hook(lambda _m, _a, out: outputs.append(first_tensor(out)))
        for name in norms
    ]
    try:
        met = contracted_inputs(model, PROBE_TOKENS)
    finally:
        for handle in handles:
            handle.remove()
    reading = set()
    for name in readouts:
        for x in met.get(name, []):
            if any(o is not None and (x is o or x._base is o) for o in outputs):
                reading.add(name)
    return reading
