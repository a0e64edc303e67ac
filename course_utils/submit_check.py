"""Check a homework notebook before submitting it (Colab or JupyterLab; nbgrader is not needed).

Taught in ``01_hw0_warmup`` ("Before you submit"). Two checks:

- :func:`protected_cell_problems` -- test cells and other locked cells carry a checksum (nbgrader's)
  in their metadata; a cell whose checksum no longer matches was edited, a grade id that appears
  twice was copied, and, given the released notebook, a missing grade id was deleted. The
  autograder puts the original test cells back either way, but a student should know.
- :func:`run_visible_tests` -- runs the whole notebook in a fresh kernel (like *Restart and Run All*)
  and reports, for every test cell, whether its visible checks pass.

From a notebook cell (in JupyterLab, save the notebook first)::

    from course_utils.submit_check import check_before_submit
    check_before_submit("01_hw0_warmup.ipynb")

or from a terminal: ``python -m course_utils.submit_check 01_hw0_warmup.ipynb``.

On Colab the notebook is not a file on the runtime's disk: there :func:`check_before_submit` asks
Colab's editor for the notebook as it is now (:func:`colab_notebook`), and its last lines say what to
download and submit (:func:`submit_message`). Under the autograder (``NBGRADER_EXECUTION``) it does
nothing; inside its own test run it does nothing either, so a notebook may end with it.

Example:
    >>> cell = {"cell_type": "code", "source": "assert 1 + 1 == 2", "metadata": {"nbgrader": {
    ...     "grade": True, "grade_id": "t", "locked": True, "points": 1, "solution": False}}}
    >>> cell["metadata"]["nbgrader"]["checksum"] = cell_checksum(cell)
    >>> protected_cell_problems({"cells": [cell]})
    []
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from .nbcells import cell_checksum, cell_source, nbgrader_meta  # noqa: F401 (also used by the grader)

__all__ = [
    "cell_checksum",
    "protected_cell_problems",
    "run_visible_tests",
    "check_before_submit",
    "Verdict",
    "in_colab",
    "colab_notebook",
    "submit_message",
    "SUBMIT_WITH",
]

#: Files a homework is submitted with, besides its notebook (by the notebook's name without ``.ipynb``).
SUBMIT_WITH: dict[str, tuple[str, ...]] = {"08_hw3_cifar10": ("hw3_model.pt",)}

#: The kernel's own log only from errors up: its warning about an unencrypted local connection is no news.
QUIET_KERNEL = ("--log-level=ERROR",)

_NESTED = "COURSE_SUBMIT_CHECK"  # set while run_visible_tests runs a notebook: its own call does nothing


def protected_cell_problems(nb: dict, release: dict | None = None) -> list[str]:
    """Warnings about edited, copied or (given the released notebook) deleted protected cells."""
    problems, seen = [], {}
    for i, cell in enumerate(nb.get("cells", []), 1):
        n = nbgrader_meta(cell)
        gid = n.get("grade_id")
        if not gid:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        if seen[gid] == 2:
            problems.append(f"cell {i} ({gid}) is a copy of another cell: delete the copy")
        locked = n.get("locked") or (n.get("grade") and not n.get("solution"))
        if locked and n.get("checksum") and n["checksum"] != cell_checksum(cell):
            problems.append(f"cell {i} ({gid}) is protected but was edited: the grader uses the original")
    ids = [c.get("id") for c in nb.get("cells", []) if c.get("id")]
    if len(ids) != len(set(ids)):
        problems.append("some cells share the same id (copied cells): delete the copies")
    if release is not None:
        for cell in release.get("cells", []):
            gid = nbgrader_meta(cell).get("grade_id")
            if gid and gid not in seen:
                problems.append(f"the cell {gid} of the released notebook is missing (deleted?)")
    return problems


def run_visible_tests(
    path: str | Path, timeout: int = 300, cwd: str | Path | None = None
) -> list[tuple[str, float, str | None]]:
    """Run the notebook in a fresh kernel; (grade_id, points, error or None) for every test cell.

    The kernel starts in ``cwd`` (default: the notebook's folder), where the notebook's relative paths
    (a checkpoint, say) are found.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        allow_errors=True,
        kernel_name="python3",
        extra_arguments=list(QUIET_KERNEL),
        resources={"metadata": {"path": str(Path(cwd or Path(path).resolve().parent))}},
    )
    before = os.environ.get(_NESTED)
    os.environ[_NESTED] = "1"  # the kernel inherits it: the notebook's own check does nothing
    try:
        client.execute()
    finally:
        if before is None:
            os.environ.pop(_NESTED, None)
        else:
            os.environ[_NESTED] = before
    out = []
    for cell in nb.cells:
        n = nbgrader_meta(cell)
        if cell.cell_type == "code" and n.get("grade") and not n.get("solution"):
            err = next(
                (
                    f"{o.get('ename')}: {o.get('evalue')}"
                    for o in cell.get("outputs", [])
                    if o.get("output_type") == "error"
                ),
                None,
            )
            out.append((n.get("grade_id", "?"), float(n.get("points", 0)), err))
    return out


def in_colab() -> bool:
    """Whether this runs on Google Colab (the same test as every notebook's set-up cell)."""
    return "google.colab" in sys.modules


def colab_notebook(timeout: float = 30.0) -> dict:
    """The notebook open in Colab, as its editor holds it now (saved or not), as a JSON dict.

    On Colab the notebook lives in the browser and in Google Drive, not on the runtime's disk; Colab's
    own request for the current notebook (``get_ipynb``) returns it.
    """
    from google.colab import _message

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=timeout)
    nb = reply.get("ipynb") if isinstance(reply, dict) else None
    if not isinstance(nb, dict):
        raise RuntimeError("Colab did not send the notebook (no answer in time): run this cell again")
    return nb


def _stem(name: str | Path | None) -> str | None:
    return Path(str(name)).name.removesuffix(".ipynb") if name else None


def submit_message(name: str | None, colab: bool, files: tuple[str, ...] | list[str] = ()) -> str:
    """What to submit, and how to get it there: ``name.ipynb`` and the other ``files``.

    Example:
        >>> print(submit_message("08_hw3_cifar10", colab=True, files=["hw3_model.pt"]))  # doctest: +ELLIPSIS
        To submit on Colab: File > Download > Download .ipynb saves 08_hw3_cifar10.ipynb; ...hw3_model.pt...
    """
    nb = f"{_stem(name)}.ipynb" if name else "this notebook (.ipynb)"
    also = " and ".join(files)
    if colab:
        msg = f"To submit on Colab: File > Download > Download .ipynb saves {nb}; submit that file"
        if files:
            msg += (
                f" together with {also} (Files panel on the left: right-click {files[0]} > Download). "
                "Download it before the runtime ends: Colab deletes its files then"
            )
        return msg + ", as your instructor describes."
    msg = f"To submit: save the notebook (File > Save Notebook), then submit {nb}"
    if files:
        msg += f" together with {also} from the same folder"
    return msg + ", as your instructor describes."


class Verdict:
    """Whether a check found all well: true or false like a ``bool``, and shown as nothing in a notebook
    (the check printed its verdict already; a bare ``True`` under it would only puzzle).

    Example:
        >>> ok = Verdict(False)
        >>> bool(ok), ok == False, repr(ok)
        (False, True, 'False')
    """

    def __init__(self, ok: bool) -> None:
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other: object) -> bool:
        return bool(other) == self.ok if isinstance(other, (bool, Verdict)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.ok)

    def __repr__(self) -> str:
        return repr(self.ok)

    def _ipython_display_(self) -> None:
        """IPython calls this instead of printing ``Out[n]: True``: nothing to show."""


def check_before_submit(
    path: str | Path | None = None,
    release: str | Path | None = None,
    run: bool | None = None,
    files: tuple[str, ...] | list[str] | None = None,
) -> Verdict:
    """Print the protected-cell warnings, the visible-test results and what to submit; true when all is well.

    Args:
        path: the notebook file. On Colab, ``None`` or a bare name (``"01_hw0_warmup.ipynb"``) reads the
            notebook open in the editor instead (:func:`colab_notebook`): its file is not on the runtime's
            disk. Elsewhere ``None`` finds the notebook JupyterLab says is running (``JPY_SESSION_NAME``).
        release: the notebook as released, to detect deleted cells.
        run: run the notebook in a fresh kernel (like *Restart and Run All*) and report its test cells;
            default yes, except in quick mode (``COURSE_QUICK=1``, the course's automatic checks).
        files: files submitted with the notebook, checked to be there (default: :data:`SUBMIT_WITH`).
    """
    if os.environ.get(_NESTED):
        print("(check_before_submit does nothing inside its own test run)")
        return Verdict(True)
    if "NBGRADER_EXECUTION" in os.environ:
        print("The autograder is running this notebook: nothing to check here.")
        return Verdict(True)
    colab = in_colab() and (path is None or Path(str(path)).name == str(path))
    if colab:
        nb = colab_notebook()
        name = _stem(path) or _stem(((nb.get("metadata") or {}).get("colab") or {}).get("name"))
        folder = Path.cwd()
    else:
        if path is None:
            path = os.environ.get("JPY_SESSION_NAME")
            if not path or not Path(path).is_file():
                print('Give the notebook\'s file name, e.g. check_before_submit("01_hw0_warmup.ipynb").')
                return Verdict(False)
        if not Path(path).is_file():
            print(
                f"WARNING: there is no file {path} in {Path.cwd()}: save the notebook, and if you renamed it, "
                "give check_before_submit its new name."
            )
            return Verdict(False)
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        name, folder = _stem(path), Path(path).resolve().parent
    files = tuple(SUBMIT_WITH.get(name or "", ()) if files is None else files)
    rel = json.loads(Path(release).read_text(encoding="utf-8")) if release else None
    problems = protected_cell_problems(nb, rel)
    problems += [
        f"{f} is not in {'the current folder' if colab else folder}: it must be submitted with the notebook"
        for f in files
        if not (folder / f).is_file()
    ]
    for p in problems:
        print("WARNING:", p)
    ok = not problems
    if run is None:
        run = os.environ.get("COURSE_QUICK", "0") in ("", "0")
        if not run:
            print("Quick mode: the protected cells are checked, the notebook is not run again.")
    if run:
        with tempfile.TemporaryDirectory() as tmp:
            if colab:  # nbclient runs a file: the editor's notebook, written to a scratch folder
                nb_file = Path(tmp) / f"{name or 'notebook'}.ipynb"
                nb_file.write_text(json.dumps(nb), encoding="utf-8")
                results = run_visible_tests(nb_file, cwd=folder)
            else:
                results = run_visible_tests(path)
        got = sum(p for _, p, e in results if e is None)
        for gid, pts, err in results:
            print(f"{'PASS' if err is None else 'FAIL'}  {gid} ({pts:g} pt){'' if err is None else ': ' + err}")
        print(f"Visible tests: {got:g} / {sum(p for _, p, _ in results):g} points (the grader also runs hidden tests)")
        ok = ok and all(e is None for _, _, e in results)
    print("Ready to submit." if ok else "Fix the problems above before submitting.")
    print(submit_message(name, colab, files))
    return Verdict(ok)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Check a homework notebook before submitting it.")
    ap.add_argument("notebook")
    ap.add_argument("--release", help="the notebook as released, to detect deleted cells")
    ap.add_argument("--no-run", action="store_true", help="only check the protected cells")
    a = ap.parse_args()
    sys.exit(0 if check_before_submit(a.notebook, a.release, False if a.no_run else None) else 1)
