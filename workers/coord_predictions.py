"""The slopes each parametrization predicts for the coordinate check (docs/coordinate-check.md).

A parametrization is a claim about exponents: how the size of every activation (`rms`) and of its change
since step 0 (`delta_rms`) scale with width, or with depth. `predicted_slope` gives, for one recorded
activation (its `CoordSite`: kind and chain), statistic and step, the slope of log2(stat) against log2(x)
the parametrization's own theory predicts, or None where that theory is not sharp at the check's sizes (widths
64..512, depths 2..8): such a slope is recorded and plotted but not judged. `l1` is never judged (it
carries rms's information).

Each activation has an init exponent (its rms at step 0), an update exponent (its change at its first
update) and a later one (its change at later updates). Its rms after updates is judged only where the two
terms share an exponent, or where the update is the smaller one by construction; otherwise the sum crosses
over from one exponent to the other inside the ladder. Width axis, after the first update:

- μP and CompleteP (Yang et al. 2022, TP5 Table 8; the spectral condition of Yang, Simon & Bernstein 2023
  for SGD, Muon and LAMB): every activation and every update Θ(1), slope 0, for every optimizer. The logits
  start at exactly 0 behind the check's zero readout (nothing to fit at step 0); with a σ-initialized
  readout their initial rms is σ·√width/m, slope −½, and their change mixes the Θ(1) readout update with
  the readout's initial weights times the body's change (∝ m^-½): not sharp.
- u-μP (Blake et al. 2024, Table 2; Adam family only): μP's, except the embedding's update, whose LR
  η/√d_model on a unit-scale table moves each entry ∝ m^-½: update −½. Its rms stays 0 (the unit init
  dominates the shrinking update).
- SP (GPT-2 init σ and LR η for every parameter): each matrix whose fan-in grows with width multiplies an
  activation's size by σ·√fan_in, so an activation `chain` such matrices past the embedding or a LayerNorm
  starts at slope chain/2 (+1 for an MLP branch: fc then proj). The readout's first update adds `width`
  coherent terms: Adam-type optimizers (AdamW, ADOPT, LAMB, and Muon, whose readout stays on AdamW) move
  each readout entry by η, so the logits grow like (chain + 1)/2 (+1 behind a LayerNorm); SGD moves it by
  η·h, so the logits grow like ‖h‖², +1 when h is a LayerNorm's output. The embedding's first update is η
  per entry (Adam-type): 0. Not sharp at these sizes, hence not judged:
  - an attention or MoE branch's init: its softmax (over tokens; the router's over experts) reads logits
    that grow like σ²·width (σ·√width) and sharpens inside the ladder by an amount that depends on σ
    (attention: +1.02 to +1.25);
  - every body activation's change: asymptotically +1.5 for a branch under Adam (the update's +1 times the
    second matrix's √width), but each branch reads the LayerNorm of a residual stream whose relative change
    grows like √width until it saturates, and the attention pattern moves with its sharpening softmax
    (measured +1.0 to +2.3);
  - the residual stream at init (the σ-sized embedding plus branches ∝ σ²·width: a crossover that depends
    on σ) and the LayerNorms' change (the residual's relative change, saturating);
  - everything after each module's first update: the body's growing updates turn the gradients' directions
    in a width-dependent way;
  - under SGD every body update: its gradients carry the LayerNorms' backward factor 1/rms(residual)
    through the residual's crossover.
- SP + embedding LR × m (Kalra & Barkeshli 2026): SP's, plus the embedding's update +1 (Adam-type); its
  rms after updates crosses from σ to η·m: not judged.

Depth axis (x = depth at a fixed width; block outputs averaged over blocks): CompleteP and depth-μP (Dey
et al. 2025; Yang et al. 2023, TP-VI) claim that depth changes nothing: the residual stream's update is Θ(1)
(L branches × L^-α, each moving Θ(1) under the LR × L^(α−1) of a normalized optimizer), the embedding, the
blocks' initial outputs (each reads a LayerNorm), the LayerNorm's output and the logits flat. Not sharp at
depths 2..8: the residual stream's initial rms (the embedding plus L^(½−α) from the branches), each block's
own change (its input is the LayerNorm of that mixed stream: measured +0.41 for attention at σ = 1/√64,
0.00 at σ = 0.02), the final LayerNorm's change, and under SGD every update (its gradients carry the
LayerNorm backward factor through the same mix). Parametrizations without a depth rule make no claim along
depth: None everywhere, and the check refuses to run them (`coord_check`).

Expert-count axis (x = n_experts at a fixed width, top_k and expert width; `workers.moe_coord_check`): no
parametrization's rule reads n_experts, and Complete-muE's gates sum to top_k, so every activation is flat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.activations import CoordSite, Kind
from workers.parametrization.table import optimizer_family

AXES = ("width", "depth", "n_experts")
# mean |x| (microsoft/mup's plot), RMS, and RMS of the change since step 0; l1 is recorded, never judged.
STATS = ("l1", "rms", "delta_rms")
JUDGED_STATS = ("rms", "delta_rms")
# ADOPT's first step only initializes its second moment (Taniguchi et al. 2024, Algorithm 2): every module
# moves one step later than under the other optimizers.
UPDATE_DELAY = {"adopt": 1}


@dataclass(frozen=True)
class Claim:
    """One activation's predicted slopes; None: no sharp prediction at the check's sizes."""

    init: float | None  # rms at step 0
    update: float | None  # delta_rms at the activation's first update
    later: float | None  # delta_rms at later updates
    rms: float | None  # rms after updates (an activation that starts at zero: its change instead)
    starts_at_zero: bool = False  # a zero-initialized readout's logits: exactly 0 until the first update


FLAT = Claim(0.0, 0.0, 0.0, 0.0)
NONE = Claim(None, None, None, None)


def _logits(zero_readout: bool, update: float | None, later: float | None, init: float | None) -> Claim:
    """The readout's output: its change only behind a zero readout, else its σ-sized init and no sharp
    change (the readout's own update plus its initial weights times the body's change)."""
    if zero_readout:
        return Claim(None, update, later, None, starts_at_zero=True)
    return Claim(init, None, None, None)


def _mup(site: CoordSite, zero_readout: bool, embedding_update: float = 0.0) -> Claim:
    """μP, CompleteP along width, u-μP (embedding update −½): everything Θ(1); a σ- or unit-initialized
    readout with forward α_out/m (u-μP α_out/fan_in) starts at −½."""
    if site.kind == Kind.LOGITS:
        return _logits(zero_readout, 0.0, 0.0, init=-0.5)
    if site.kind == Kind.EMBEDDING:
        return Claim(0.0, embedding_update, embedding_update, 0.0)
    return FLAT


def _sp(site: CoordSite, zero_readout: bool, family: str, embedding_lr_times_m: bool) -> Claim:
    """SP and SP + embedding LR × m along width (see the module docstring)."""
    adam_type = family != "sgd"
    if site.kind == Kind.EMBEDDING:
        update = (1.0 if embedding_lr_times_m else 0.0) if adam_type else None
        return Claim(0.0, update, None, 0.0 if adam_type and not embedding_lr_times_m else None)
    if site.kind in (Kind.MLP, Kind.HIDDEN):
        return Claim(site.chain / 2, None, None, None)
    if site.kind == Kind.NORM:
        return Claim(0.0, None, None, 0.0)
    if site.kind == Kind.LOGITS:
        first = (site.chain + 1) / 2 if adam_type else (1.0 if site.chain == 1 else None)
        return _logits(zero_readout, first, None, init=site.chain / 2)
    return NONE


def _depth(site: CoordSite, zero_readout: bool, family: str) -> Claim:
    """CompleteP / depth-μP along depth (see the module docstring)."""
    normalized = 0.0 if family != "sgd" else None
    if site.kind == Kind.EMBEDDING:
        return Claim(0.0, normalized, normalized, 0.0)
    if site.kind in (Kind.ATTENTION, Kind.MLP, Kind.MOE):
        return Claim(0.0, None, None, None)
    if site.kind == Kind.RESIDUAL:
        return Claim(None, normalized, normalized, None)
    if site.kind == Kind.NORM:
        return Claim(0.0, None, None, 0.0)
    if site.kind == Kind.LOGITS:
        return _logits(zero_readout, 0.0, 0.0, init=0.0)
    return NONE


def claim(parametrization: str, optimizer: str, axis: str, site: CoordSite, zero_readout: bool) -> Claim:
    """What `parametrization` trained with `optimizer` predicts for `site` along `axis`."""
    family = optimizer_family(optimizer)
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; choose one of {list(AXES)}")
    if axis == "n_experts":
        return _logits(zero_readout, 0.0, 0.0, init=0.0) if site.kind == Kind.LOGITS else FLAT
    if axis == "depth":
        return _depth(site, zero_readout, family) if parametrization == "completep" else NONE
    if parametrization in ("mup", "completep"):
        return _mup(site, zero_readout)
    if parametrization == "u-mup":
        return _mup(site, zero_readout, embedding_update=-0.5)
    if parametrization in ("sp", "sp-embedding-lr"):
        return _sp(site, zero_readout, family, embedding_lr_times_m=parametrization == "sp-embedding-lr")
    raise ValueError(f"no coordinate-check predictions for parametrization {parametrization!r}")


def first_update_step(kind: Kind, optimizer: str, zero_readout: bool) -> int:
    """The first step at which `kind` has moved: the readout after one update; the body one step later
    behind a zero readout (no gradient reaches it before the readout is non-zero); ADOPT one step later."""
    body_waits = zero_readout and kind != Kind.LOGITS
    return 1 + UPDATE_DELAY.get(optimizer, 0) + int(body_waits)


def predicted_slope(
    parametrization: str,
    optimizer: str,
    axis: str,
    site: CoordSite,
    stat: str,
    step: int,
    zero_readout: bool = True,
) -> float | None:
    """The slope of log2(`stat`) vs log2(x) at `step` that the parametrization predicts; None: not judged."""
    if stat not in JUDGED_STATS:
        return None
    c = claim(parametrization, optimizer, axis, site, zero_readout)
    first = first_update_step(site.kind, optimizer, zero_readout)
    if step < first:  # not moved yet: rms is still the init, and there is no change to fit
        return c.init if stat == "rms" and not c.starts_at_zero else None
    change = c.update if step == first else c.later
    return change if stat == "delta_rms" or c.starts_at_zero else c.rms


def predictions(
    parametrization: str,
    optimizer: str,
    axis: str,
    sites: Mapping[str, CoordSite],
    steps: Sequence[int],
    zero_readout: bool = True,
) -> dict[str, dict[str, list[float | None]]]:
    """`predicted[module][stat][step]`, the shape of `CoordCheckReport.slopes`."""
    return {
        label: {
            stat: [
                predicted_slope(parametrization, optimizer, axis, site, stat, k, zero_readout) for k in steps
            ]
            for stat in STATS
        }
        for label, site in sites.items()
    }
