"""The planner on simulated studies drawn from truths it does not assume: the table in docs/planner.md, "Under
models the planner does not assume".

Each case (tests/support/misspecified.py, `cases`) breaks one of the planner's assumptions: a saturating
width drift, a jump of the optimum at the widest widths, Student-t run noise, loss curves steeper toward
divergence, a loss law whose exponent changes with N. Per case, `--studies` seeded studies of μP and SP on
two designs (proxies 32/64/128 → target 1024, and 32/64/128/256 → 2048, where the loss law E + A·N^−α is
fitted and its band is under test); 17 learning rates half an octave apart (2^-12 .. 2^-4), `--seeds` seeds.
Per parametrization it prints, over the studies:

- lr cover: the fraction whose 90 % interval of the transferred lr holds the true optimum at the target;
- median width of that interval, octaves; RMS error of the point, octaves (its median: the bias);
- regret: the true loss at the transferred lr over the true best at the target, minus 1 (mean, 90th pct);
- loss cover: the fraction whose predicted_loss holds one realized (fresh-seed) target run at the plan's lr,
  with its median width and the median of (predicted point − true expected loss);
- the verdicts (holds/fails/untested) and how many said "holds" while the regret exceeded 1 %.

The test (tests/orchestrator/planner/test_misspecified.py) asserts these over 40 studies.

    .venv/bin/python bench/misspecified.py [--studies 200] [--seeds 2] [--only 2c]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages first: tests/orchestrator must not shadow them
sys.path.append(str(ROOT / "tests"))

from support.misspecified import FOUR_WIDTHS, THREE_WIDTHS, Summary, cases, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2, help="proxy seeds per configuration")
    parser.add_argument("--only", default="", help="only the cases whose name starts with this")
    args = parser.parse_args()
    start = time.perf_counter()
    for design in (THREE_WIDTHS, FOUR_WIDTHS):
        design = dataclasses.replace(design, seeds=args.seeds)
        widths = "/".join(map(str, design.widths))
        print(
            f"\nProxies {widths} → {design.target}, {design.points} lrs half an octave apart, "
            f"{design.seeds} seed(s), {args.studies} studies per case\n"
        )
        print("| case | p " + Summary.HEADER)
        print("|---" * (2 + Summary.HEADER.count("|") - 1) + "|")
        for name, truths in cases(design):
            if not name.startswith(args.only):
                continue
            for p, summary in measure(design, truths, args.studies).items():
                print(f"| {name} | {p} | {summary.row()} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
