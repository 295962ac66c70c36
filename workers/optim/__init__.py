"""Optimizers beyond torch's: Muon (hybrid with AdamW), LAMB, ADOPT. SGD and AdamW come from torch.optim.

Each reads the per-group `lr`, `weight_decay` and `eps` that `workers.parametrization.build_optimizer`
resolved; none knows about μP.
"""

from workers.optim.adopt import Adopt
from workers.optim.lamb import Lamb
from workers.optim.muon import Muon, orthogonalize

__all__ = ["Adopt", "Lamb", "Muon", "orthogonalize"]
