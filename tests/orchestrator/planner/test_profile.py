"""The slice a multi-HP grid's optimum is fitted along: through the best configuration of all swept HPs."""

from __future__ import annotations

import numpy as np

from orchestrator.planner import HPAxis, TrialResult
from orchestrator.planner.profile import profile

LR = HPAxis("lr", log=True, low=2**-10, high=2**-4)
STD = HPAxis("init_std", log=True, low=2**-6, high=2**-2)


def test_the_slice_goes_through_the_best_configuration_not_the_best_average_row() -> None:
    """A sharp row (its best point the best of the grid, a high mean) and a flat one (lower mean, no point
    as good): the LR slice must be the sharp row's, as at the demo's widest μP proxy."""
    lrs = [2**-9, 2**-7, 2**-5]
    rows = {2**-4: [3.0, 2.0, 3.0], 2**-2: [2.3, 2.3, 2.3]}
    trials = [
        TrialResult("mup", 128, 2, 0, {"lr": lr, "init_std": std}, loss, False, "completed")
        for std, losses in rows.items()
        for lr, loss in zip(lrs, losses, strict=True)
    ]
    slice_ = profile(trials, LR, [STD])
    assert sorted(slice_.losses.tolist()) == [2.0, 3.0, 3.0]
    assert np.allclose(sorted(slice_.values), lrs)
