"""Store, in the solution notebooks, the outputs that nbval compares -- and only those.

Cells tagged ``nbval-check-output`` hold results that are exact and meaningful (shapes,
parameter counts, worked examples of the slides); ``make test`` re-executes every
solution notebook and nbval fails when such a cell's output changes. This tool executes
each notebook in quick mode (as the tests do), keeps the outputs of those cells and
clears every other output, so the solutions stay small and diff-friendly.

    python -m autograde.outputs                      # every notebook in solutions/
    python -m autograde.outputs 03_convolution       # one assignment
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
CHECK_TAG = "nbval-check-output"


def _merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name, so that stored outputs do not depend on
    how the kernel happened to chunk its writes (stable diffs)."""
    merged: list = []
    for o in outputs:
        if (
            o.get("output_type") == "stream"
            and merged
            and merged[-1].get("output_type") == "stream"
            and merged[-1]["name"] == o["name"]
        ):
            merged[-1]["text"] += o["text"]
        else:
            merged.append(o)
    return merged


def refresh(nb_path: Path, timeout: int = 600) -> int:
    """Execute one notebook and keep only the checked outputs; return how many cells are checked."""
    nb = nbformat.read(nb_path, as_version=4)
    os.environ["COURSE_QUICK"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(nb_path.parent)}},
    )
    client.execute()
    checked = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if CHECK_TAG in cell.metadata.get("tags", []):
            checked += 1
            cell.outputs = [
                o for o in cell.outputs if o.get("output_type") != "display_data" or "text/plain" in o.get("data", {})
            ]
            cell.outputs = _merge_streams(cell.outputs)
            for o in cell.outputs:  # keep text; images differ between machines
                if "data" in o:
                    o["data"] = {k: v for k, v in o["data"].items() if k == "text/plain"}
                o.pop("metadata", None) if o.get("output_type") == "stream" else None
        else:
            cell.outputs = []
            cell.execution_count = None
    for key in ("widgets",):
        nb.metadata.pop(key, None)
    nbformat.write(nb, nb_path)
    return checked


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="assignments (default: all in solutions/)")
    args = p.parse_args(argv)
    folders = [REPO / "solutions" / n for n in args.names] or sorted(
        d for d in (REPO / "solutions").iterdir() if d.is_dir()
    )
    for d in folders:
        for nb_path in sorted(d.glob("*.ipynb")):
            n = refresh(nb_path)
            print(f"{nb_path.relative_to(REPO)}: {n} checked cell(s) stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
