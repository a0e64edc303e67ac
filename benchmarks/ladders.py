"""The two ladders of ``07_training_cnns`` on real CIFAR-10: per rung, train and test accuracy and seconds.

Runs the rungs of :data:`course_utils.ladder.TRAINING_LADDER` and
:data:`course_utils.ladder.GENERALIZATION_LADDER` on the budget the notebook uses on a CPU (or one given
on the command line), one fixed seed for every rung, and prints the table of slide and measured numbers.

Usage (from the repository root, with the data where ``load_dataset`` finds it, e.g. ``COURSE_DATA_DIR``)::

    python benchmarks/ladders.py                       # both ladders, the notebook's CPU budget
    python benchmarks/ladders.py --ladder training --epochs 6 --n-train 4000

Writes JSON (default ``benchmarks/results/ladders-DATE.json``, not committed) with the budget, per rung
its settings, the slides' and the measured accuracies, the seconds, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_utils.data import load_dataset  # noqa: E402
from course_utils.ladder import GENERALIZATION_LADDER, TRAINING_LADDER, LadderResults, climb, ladder_budgets  # noqa: E402

LADDERS = {"training": TRAINING_LADDER, "generalization": GENERALIZATION_LADDER}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ladder", choices=[*LADDERS, "both"], default="both")
    p.add_argument("--rungs", default="", help="comma-separated rung numbers (0-based) to run; default all")
    for key in ("n_train", "n_test", "epochs", "batch_size"):
        p.add_argument("--" + key.replace("_", "-"), type=int, default=None)
    p.add_argument("--width-scale", type=float, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_full, test_full = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    report: dict = dict(
        started=datetime.now(UTC).isoformat(),
        torch=torch.__version__,
        threads=args.threads,
        load_before=os.getloadavg(),
        ladders={},
    )
    start, cpu = time.perf_counter(), time.process_time()
    for name in LADDERS if args.ladder == "both" else [args.ladder]:
        budget = ladder_budgets("cpu")[name]
        keys = ("n_train", "n_test", "epochs", "batch_size", "width_scale")
        changes = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
        budget = replace(budget, **changes)
        rungs = LADDERS[name]
        if args.rungs:
            rungs = [rungs[int(i)] for i in args.rungs.split(",")]
        train, test = train_full.subset(budget.n_train), test_full.subset(budget.n_test)
        print(f"{name} ladder, budget {budget}, load {os.getloadavg()}")
        res: LadderResults = climb(rungs, train, test, budget, title=f"{name} ladder", progress=False)
        print(res)
        report["ladders"][name] = dict(
            budget=asdict(budget),
            load_after=os.getloadavg(),
            rungs=[
                dict(
                    asdict(r.rung),
                    train_acc=r.train_acc,
                    test_acc=r.test_acc,
                    params=r.params,
                    seconds=round(r.seconds, 1),
                    cpu_seconds=round(r.cpu_seconds, 1),
                    val_acc_curve=r.history.val_acc,
                )
                for r in res.results
            ],
        )
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["cpu_seconds"] = round(time.process_time() - cpu, 1)
    report["load_after"] = os.getloadavg()
    print(f"total {report['seconds']} s ({report['cpu_seconds']} s of CPU time), load after {report['load_after']}")
    out = args.out or REPO / "benchmarks" / "results" / f"ladders-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
