"""Store, in the solution notebooks, the outputs the course keeps.

Two kinds of notebook, two rules:

* **Homework** (graded) notebooks stay output-free except the cells tagged ``nbval-check-output``
  (shapes, parameter counts, worked examples of the slides): executed in quick mode, as the tests do,
  their text outputs are kept and nbval compares them on every ``make test``.
* **Lectures** carry the outputs of one **full run on real data** (figures, tables, measured numbers),
  so a student can read the results before running anything. They are executed with the full budgets
  on the data under ``COURSE_DATA_DIR``; every output is kept (large figures of photos as JPEG),
  widgets are replaced by a line saying to run the cell, progress bars are off, and the last cell
  (``course_utils.runinfo.run_report``) records the machine, the data, the time and the peak memory.
  The README's table of lecture runs is rewritten from those reports. A data set the machine lacks
  runs on a small stand-in, and the cells tagged ``needs-<data set>`` (e.g. ``needs-fashion_mnist``)
  then store a note saying so instead of the stand-in's numbers. nbval still compares only the
  tagged cells, in quick mode.

    COURSE_DATA_DIR=/data python -m autograde.outputs               # every notebook
    COURSE_DATA_DIR=/data python -m autograde.outputs 07_training_cnns
    python -m autograde.outputs 04_hw1_layer_sizes                   # homework: no data needed
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_utils.nbcells import is_homework
from course_utils.runinfo import RECORDING_ENV, REPORT_MIME

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CHECK_TAG = "nbval-check-output"
NEEDS_PREFIX = "needs-"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "[An interactive widget: run the notebook to use it.]"
MISSING_NOTE = (
    "[Not recorded: {name} was not on the machine that recorded this notebook, so this cell ran on a "
    "synthetic stand-in and its results are not shown. Run the notebook where {name} is available to see them.]\n"
)
STANDIN_MARK = "SYNTHETIC STAND-IN"
DATA_NAMES = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST"}  # as students read them
TABLE_START, TABLE_END = "<!-- lecture-runs:start -->", "<!-- lecture-runs:end -->"


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


def _execute(nb, nb_path: Path, env: dict[str, str | None], timeout: int) -> None:
    """Execute ``nb`` in a fresh kernel whose environment is ours with ``env`` changed (None removes a variable)."""
    kernel_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(nb_path.parent)}},
    )
    client.execute(env=kernel_env)


def keep_checked(nb) -> int:
    """Homework: keep the text outputs of the checked cells, clear the rest; return how many are checked."""
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
    return checked


def _scrub_paths(output: dict) -> None:
    """Replace this machine's folders in text outputs by names that hold everywhere."""
    from course_utils.data import data_root

    folders = [(str(data_root()), "$COURSE_DATA_DIR"), (str(REPO), "."), (str(Path.home()), "~")]

    def scrub(text: str) -> str:
        for folder, name in folders:
            text = text.replace(folder, name)
        return text

    if "text" in output:
        output["text"] = scrub("".join(output["text"]))
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/"):
            output["data"][mime] = scrub("".join(value))


def _shrink_figure(output: dict, limit: int = 200_000) -> None:
    """Store a large PNG (a figure of photos) as a JPEG, which is several times smaller for photos."""
    png = output.get("data", {}).get("image/png")
    if not png or len(png) <= limit:
        return
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    output["data"]["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    del output["data"]["image/png"]


def stored_report(nb) -> dict | None:
    """The run report a lecture's last cell stored (None when there is none)."""
    for cell in reversed(nb.cells):
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if REPORT_MIME in o.get("data", {}):
                return dict(o["data"][REPORT_MIME])
    return None


def missing_data(report: dict) -> set[str]:
    """Data sets (e.g. ``fashion_mnist``) the recorded run had to replace with a stand-in."""
    return {key.split()[0] for key, source in report.get("data", {}).items() if "stand-in" in source}


def keep_full_run(nb, nb_name: str) -> dict:
    """Lecture: keep every output of the run, with widgets and missing data replaced by notes."""
    report = stored_report(nb)
    if report is None:
        raise RuntimeError(f"{nb_name}: a lecture must end with a cell showing course_utils.runinfo.run_report()")
    missing = missing_data(report)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        needs = {t[len(NEEDS_PREFIX) :] for t in cell.metadata.get("tags", []) if t.startswith(NEEDS_PREFIX)}
        if needs & missing:
            name = ", ".join(DATA_NAMES.get(d, d) for d in sorted(needs & missing))
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=MISSING_NOTE.format(name=name))]
            continue
        outputs = []
        for o in _merge_streams(cell.outputs):
            if WIDGET_MIME in o.get("data", {}):
                o = nbformat.v4.new_output("display_data", data={"text/plain": WIDGET_NOTE})
            text = json.dumps(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
            if STANDIN_MARK in text:
                raise RuntimeError(
                    f"{nb_name}, cell {i}: shows results of a stand-in data set; tag it "
                    f"{NEEDS_PREFIX}<data set> so that a note is stored instead:\n{cell.source[:200]}"
                )
            _shrink_figure(o)
            _scrub_paths(o)
            outputs.append(o)
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return report


def check_real_data() -> None:
    """Refuse to record lectures without real CIFAR-10: their outputs would be a stand-in's."""
    from course_utils.data import DataNotFoundError, load_dataset

    try:
        load_dataset("cifar10", "test", download=False, synthetic=False)
    except DataNotFoundError as e:
        raise SystemExit(
            "Lectures are recorded on real data, and CIFAR-10 was not found. Set COURSE_DATA_DIR to a folder "
            f"that holds it (README, 'Data'), or record only homework notebooks.\n{e}"
        ) from None


def refresh(nb_path: Path, timeout: int = 600) -> str:
    """Execute one notebook and keep what its kind keeps; return a line saying what was stored."""
    nb = nbformat.read(nb_path, as_version=4)
    if is_homework(nb):
        _execute(nb, nb_path, {"COURSE_QUICK": "1", "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg")}, timeout)
        line = f"{keep_checked(nb)} checked cell(s) stored"
    else:
        env = {"COURSE_QUICK": None, "MPLBACKEND": None, "TQDM_DISABLE": "1", RECORDING_ENV: "1"}
        start = time.perf_counter()
        _execute(nb, nb_path, env, max(timeout, 3600))
        report = keep_full_run(nb, nb_path.name)
        line = f"full run recorded in {time.perf_counter() - start:.0f} s; {_report_row(nb_path.parent.name, report)}"
    nbformat.write(nb, nb_path)
    return line


def _report_row(name: str, r: dict) -> str:
    minutes, seconds = divmod(round(r["seconds"]), 60)
    memory = "?" if r.get("peak_memory_mib") is None else f"{r['peak_memory_mib'] / 1024:.1f} GiB"
    device = f"GPU {r['gpu']}" if r.get("gpu") else f"{r['cores']}-core CPU ({r['cpu']})"
    used = sorted({key.split()[0] for key in r.get("data", {})})
    missing = missing_data(r)
    data = "; ".join(
        f"{DATA_NAMES.get(d, d)}: " + ("not on the machine, not recorded" if d in missing else "real") for d in used
    )
    data = data or "no image data set (built-in examples)"
    machine = f"{device}, torch {r['torch']}"
    return f"| `{name}` | {minutes} min {seconds:02d} s | {memory} | {machine} | {data} | {r['day']} |"


def readme_table(solutions: Path = REPO / "solutions") -> str:
    """The README's table of recorded lecture runs, made from the reports the lectures store."""
    rows = [
        "| lecture | full run | peak memory | machine | data | recorded |",
        "|---|---|---|---|---|---|",
    ]
    for nb_path in sorted(solutions.glob("*/*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        if not is_homework(nb):
            report = stored_report(nb)
            rows.append(_report_row(nb_path.parent.name, report) if report else f"| `{nb_path.parent.name}` | - |||||")
    return "\n".join(rows)


def update_readme(readme: Path = README) -> None:
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme.name}: the markers {TABLE_START} ... {TABLE_END} are missing")
    readme.write_text(pattern.sub(lambda _: f"{TABLE_START}\n{readme_table()}\n{TABLE_END}", text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="assignments (default: all in solutions/)")
    args = p.parse_args(argv)
    folders = [REPO / "solutions" / n for n in args.names] or sorted(
        d for d in (REPO / "solutions").iterdir() if d.is_dir()
    )
    paths = [nb for d in folders for nb in sorted(d.glob("*.ipynb"))]
    if any(not is_homework(json.loads(nb.read_text(encoding="utf-8"))) for nb in paths):
        check_real_data()
    for nb_path in paths:
        print(f"{nb_path.relative_to(REPO)}: {refresh(nb_path)}", flush=True)
    update_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
