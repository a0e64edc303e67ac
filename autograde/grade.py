"""Grade a batch of submissions: ``make grade ASSIGNMENT=... SUBMISSIONS=...``.

nbgrader is the engine (its ``generate_assignment`` fills the gradebook with the assignment's cells
and checksums; grades go into its Gradebook, so ``nbgrader formgrader``/``export`` work afterwards);
this module makes autograding parallel, sandboxed, tamper-proof and robust to bad submissions:

    python -m autograde.grade 01_hw0_warmup path/to/submissions
    python -m autograde.grade 01_hw0_warmup submissions.zip-folder --workers 2 --db sqlite:///grades.db

Accepted layouts of SUBMISSIONS (a folder):
  STUDENT.ipynb or STUDENT_anything.ipynb     a folder of notebooks (an LMS download)
  STUDENT.zip or STUDENT_anything.zip         zip files holding the notebook (any depth)
  STUDENT/ASSIGNMENT/*.ipynb                  nbgrader's own submitted/ folder
The student id is the file name up to the first ``_``. Anything else (a .pdf, a .docx) is
reported as "not a notebook" and scores 0. Hidden files are ignored.

Output (under --out, default ``autograde/``): ``submitted/STUDENT/ASSIGNMENT/`` (the imported
notebooks), ``autograded/...`` (what was graded), ``feedback/STUDENT/ASSIGNMENT/*.html``,
``grades_ASSIGNMENT.csv`` and the gradebook (``gradebook.db``, or ``--db URL``: any SQLAlchemy URL
nbgrader supports, e.g. ``postgresql://user@host/db``). Only the main process writes the gradebook,
one transaction per student, so parallel workers never lose or double-write a grade.

How each notebook is graded (see ``autograde/sandbox_runner.py`` for the protocol):
  * test cells always come from the instructor's source (with the hidden tests), whatever the
    student did to them; deleted ones are put back after the student's matching solution cell,
    edited ones replaced (and reported), copies of a test cell graded once;
  * the notebook runs in a sandbox (bubblewrap if installed: no network, a private /tmp, only the
    Python environment and course_utils visible read-only; else OS limits), one throw-away process
    per student forked from a worker that has torch imported already;
  * a test scores its points only when the sandbox reports it passed with that test's secret nonce.
"""
from __future__ import annotations

import argparse
import ast
import csv
import html
import json
import os
import queue
import re
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.submit_check import cell_source as _src, nbgrader_meta as _nbg

REPO = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "sandbox_runner.py"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


# ----------------------------------------------------------------------------------- the assignment
@dataclass
class GradedCell:
    grade_id: str
    kind: str                   # "test" (autograded code), "solution", "written" (manual), "locked"
    points: float
    source: str                 # instructor's version (hidden tests included)
    release: str                # what students got
    checksum: str | None


@dataclass
class Assignment:
    name: str
    notebook: str               # file name of the (single) notebook
    source_nb: dict
    release_nb: dict
    cells: dict[str, GradedCell]
    order: list[str]            # grade_ids in notebook order
    imports: str                # import statements of the release's given cells
    import_names: list[str]

    @property
    def tests(self) -> list[str]:
        return [g for g in self.order if self.cells[g].kind == "test"]

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.cells.values() if c.kind in ("test", "written"))


def nbgrader_env(root: Path, db_url: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, COURSE_NBGRADER_ROOT=str(root), PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))


def prepare(name: str, db_url: str, solutions: Path = REPO / "solutions") -> Assignment:
    """Run ``nbgrader generate_assignment`` (fills the gradebook at ``db_url``) in a scratch course."""
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        root = Path(tmp)
        shutil.copytree(solutions / name, root / "solutions" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "checkpoints", "data"))
        (root / "autograde").mkdir()
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force", "--log-level=WARN",
               f"--CourseDirectory.db_url={db_url}"]
        r = subprocess.run(cmd, cwd=REPO, env=nbgrader_env(root, db_url), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{r.stdout}\n{r.stderr}")
        nbs = sorted((root / "notebooks" / name).glob("*.ipynb"))
        if len(nbs) != 1:
            raise RuntimeError(f"{name}: expected one notebook, found {[p.name for p in nbs]}")
        release = json.loads(nbs[0].read_text())
        source = json.loads((root / "solutions" / name / nbs[0].name).read_text())
    rel_by_id = {_nbg(c).get("grade_id"): c for c in release["cells"] if _nbg(c).get("grade_id")}
    cells, order = {}, []
    for c in source["cells"]:
        n = _nbg(c)
        gid = n.get("grade_id")
        if not gid:
            continue
        if n.get("grade") and c.get("cell_type") == "code" and not n.get("solution"):
            kind = "test"
        elif n.get("grade"):
            kind = "written"
        elif n.get("solution"):
            kind = "solution"
        else:
            kind = "locked"
        rel = rel_by_id.get(gid, {})
        cells[gid] = GradedCell(gid, kind, float(n.get("points", 0) or 0), _src(c), _src(rel),
                                _nbg(rel).get("checksum"))
        order.append(gid)
    imports, names = [], []
    for c in release["cells"]:
        n = _nbg(c)
        if c.get("cell_type") != "code" or n.get("solution") or n.get("grade"):
            continue
        try:
            tree = ast.parse(_transform(_src(c)))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not (isinstance(node, ast.ImportFrom) and node.level):
                imports.append(ast.unparse(node))
                names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    return Assignment(name, nbs[0].name, source, release, cells, order, "\n".join(imports) + "\n", names)


_transformer = None


def _transform(src: str) -> str:
    """IPython syntax (magics, ``!cmd``) to plain Python calling ``get_ipython()``."""
    global _transformer
    if "%" not in src and "!" not in src:
        return src
    try:
        if _transformer is None:
            from IPython.core.inputtransformer2 import TransformerManager
            _transformer = TransformerManager()
        return _transformer.transform_cell(src)
    except Exception:
        return src


def checksum(cell: dict) -> str:
    """nbgrader's checksum of a cell (same as nbgrader.utils.compute_checksum)."""
    from course_utils.submit_check import cell_checksum
    return cell_checksum(cell)


# ----------------------------------------------------------------------------------- submissions
@dataclass
class Submission:
    student: str
    origin: str                       # file the notebook came from (for the summary)
    nb: dict | None = None
    problem: str | None = None        # why it could not be graded at all
    notes: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)   # other files handed in (e.g. a checkpoint)


MAX_EXTRA_BYTES = 200 * 1024 * 1024


def _extra_files(items: list[tuple[str, int, object]], sub: Submission) -> None:
    """Attach the other files of a zip or folder (relative paths, size-capped) to a submission."""
    total = 0
    for rel, size, read in items:
        parts = Path(rel).parts
        if not parts or rel.startswith("/") or ".." in parts or any(p.startswith(".") for p in parts) \
                or "__MACOSX" in parts or rel.endswith(".ipynb"):
            continue
        total += size
        if total > MAX_EXTRA_BYTES:
            sub.notes.append(f"other files over {MAX_EXTRA_BYTES >> 20} MB: {rel} and later ones left out")
            return
        sub.files[rel] = read()


_STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.@+-]*$")


def _student_of(name: str) -> str:
    return Path(name).stem.split("_")[0]


def _load_notebook(data: bytes, origin: str) -> tuple[dict | None, str | None]:
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, f"{origin} is not a notebook (not text)"
    except json.JSONDecodeError as e:
        return None, f"{origin} is not a valid notebook: invalid JSON (line {e.lineno}: {e.msg})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, f"{origin} is not a Jupyter notebook (no list of cells)"
    if not all(isinstance(c, dict) for c in nb["cells"]):
        return None, f"{origin} is not a valid notebook (a cell is not an object)"
    return nb, None


def collect(folder: Path, assignment: Assignment) -> list[Submission]:
    """Submissions found in ``folder`` (see the module docstring for the layouts)."""
    folder = Path(folder)
    found: dict[str, list[tuple[float, Submission]]] = {}

    def add(student: str, sub: Submission, mtime: float) -> None:
        found.setdefault(student, []).append((mtime, sub))

    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.startswith("__"):
            continue
        if p.is_dir():                                   # nbgrader layout STUDENT/ASSIGNMENT/*.ipynb
            student = p.name
            inner = p / assignment.name
            nbs = sorted(inner.glob("*.ipynb")) if inner.is_dir() else sorted(p.glob("*.ipynb"))
            if not nbs:
                others = [q.name for q in p.iterdir() if not q.name.startswith(".")]
                add(student, Submission(student, str(p.relative_to(folder)),
                                        problem=f"{p.name}/ holds no notebook for {assignment.name}"
                                        + (f" ({', '.join(others[:3])})" if others else "")), 0)
                continue
            pick = [q for q in nbs if q.name == assignment.notebook] or nbs
            q = pick[0]
            nb, problem = _load_notebook(q.read_bytes(), str(q.relative_to(folder)))
            sub = Submission(student, str(q.relative_to(folder)), nb, problem)
            _extra_files([(str(f.relative_to(q.parent)), f.stat().st_size, f.read_bytes)
                          for f in sorted(q.parent.rglob("*")) if f.is_file()], sub)
            if len(nbs) > 1:
                sub.notes.append(f"{len(nbs)} notebooks in the folder; graded {q.name}")
            add(student, sub, q.stat().st_mtime)
            continue
        student = _student_of(p.name)
        if p.suffix == ".ipynb":
            nb, problem = _load_notebook(p.read_bytes(), p.name)
            add(student, Submission(student, p.name, nb, problem), p.stat().st_mtime)
        elif p.suffix == ".zip":
            try:
                with zipfile.ZipFile(p) as z:
                    names = [n for n in z.namelist() if n.endswith(".ipynb") and "/." not in "/" + n
                             and "__MACOSX" not in n and ".ipynb_checkpoints" not in n]
                    pick = [n for n in names if Path(n).name == assignment.notebook] or names
                    if not pick:
                        add(student, Submission(student, p.name, problem=f"{p.name} holds no notebook"), 0)
                        continue
                    info = z.getinfo(pick[0])
                    if info.file_size > 50 * 1024 * 1024:
                        add(student, Submission(student, p.name, problem=f"{p.name}: notebook over 50 MB"), 0)
                        continue
                    nb, problem = _load_notebook(z.read(pick[0]), f"{p.name}:{pick[0]}")
                    sub = Submission(student, f"{p.name}:{pick[0]}", nb, problem)
                    base = str(Path(pick[0]).parent)
                    _extra_files([(str(Path(i.filename).relative_to(base)) if base != "." else i.filename,
                                   i.file_size, (lambda n=i.filename: z.read(n)))
                                  for i in z.infolist() if not i.is_dir()
                                  and (base == "." or i.filename.startswith(base + "/"))], sub)
                    if len(pick) > 1:
                        sub.notes.append(f"{len(names)} notebooks in the zip; graded {pick[0]}")
                    add(student, sub, p.stat().st_mtime)
            except zipfile.BadZipFile:
                add(student, Submission(student, p.name, problem=f"{p.name} is not a valid zip file"), 0)
        else:
            add(student, Submission(student, p.name, problem=f"{p.name} is not a notebook (.ipynb or .zip)"), 0)
    out = []
    for student, subs in sorted(found.items()):
        subs.sort(key=lambda t: (t[1].nb is not None, t[0]))     # prefer readable notebooks, then newest
        chosen = subs[-1][1]
        if not _STUDENT_RE.match(student):
            chosen.problem = chosen.problem or f"{chosen.origin}: cannot tell the student id from the file name"
        if len(subs) > 1:
            chosen.notes.append(f"{len(subs)} submissions found ({', '.join(s.origin for _, s in subs)}); "
                                f"graded {chosen.origin}")
        out.append(chosen)
    return out


# ----------------------------------------------------------------------------------- building a job
@dataclass
class Job:
    cells: list[dict]           # {"kind": "student"|"test", "src", "nonce", "grade_id"}
    notes: list[str]
    files: dict[str, bytes] = field(default_factory=dict)


def build_job(sub: Submission, a: Assignment) -> Job:
    """The cells to execute: the student's code, with the instructor's test cells in place."""
    notes = list(sub.notes)
    out: list[dict] = []
    anchor: dict[str, int] = {}          # grade_id -> index in out after which it was last seen
    seen_tests: set[str] = set()
    seen_solutions: set[str] = set()
    ids: set[str] = set()
    foreign = 0
    for c in sub.nb["cells"]:
        cid = c.get("id")
        if isinstance(cid, str):
            if cid in ids:
                notes.append(f"duplicate cell id {cid!r} (repaired)")
            ids.add(cid)
        n = _nbg(c)
        gid = n.get("grade_id")
        info = a.cells.get(gid) if isinstance(gid, str) else None
        if gid and info is None:
            foreign += 1
        ctype = c.get("cell_type")
        if info is not None and info.kind == "test":
            if gid in seen_tests:
                notes.append(f"copy of test cell {gid} ignored")
                continue
            seen_tests.add(gid)
            if info.checksum and (ctype != "code" or checksum(c) != info.checksum):
                notes.append(f"test cell {gid} was edited: graded with the original")
            out.append({"kind": "test", "grade_id": gid})
            anchor[gid] = len(out)
        elif info is not None and info.kind == "locked" and ctype == "code":
            out.append({"kind": "student", "src": info.release, "grade_id": gid})
            anchor[gid] = len(out)
        elif info is not None and info.kind == "solution" and ctype == "code":
            if gid in seen_solutions:
                notes.append(f"solution cell {gid} appears twice (both run, in order)")
            seen_solutions.add(gid)
            out.append({"kind": "student", "src": _src(c), "grade_id": gid})
            anchor[gid] = len(out)
        elif ctype == "code":
            out.append({"kind": "student", "src": _src(c)})
        elif info is not None:
            anchor[gid] = len(out)
    missing = [g for g in a.tests if g not in seen_tests]
    solutions = [g for g in a.order if a.cells[g].kind == "solution"]
    if foreign and not (seen_tests or seen_solutions):
        notes.append(f"none of {a.name}'s graded cells found (wrong assignment?)")
    elif not (seen_tests or seen_solutions):
        notes.append(f"no graded cells of {a.name} found: all tests added at the end")
    else:
        for g in [g for g in solutions if g not in seen_solutions]:
            notes.append(f"solution cell {g} is missing")
        if missing:
            notes.append(f"test cell(s) {', '.join(missing)} were missing: the originals were put back")
    # put missing tests back after the nearest earlier graded cell that is present
    for g in missing:
        i = a.order.index(g)
        pos = len(out)
        for prev in reversed(a.order[:i]):
            if prev in anchor:
                pos = anchor[prev]
                break
        if not (seen_tests or seen_solutions):
            pos = len(out)
        out.insert(pos, {"kind": "test", "grade_id": g})
        for k, v in anchor.items():
            if v >= pos and k != g:
                anchor[k] = v + 1
        anchor[g] = pos + 1
    for cell in out:
        if cell["kind"] == "test":
            cell["src"] = a.cells[cell["grade_id"]].source
            cell["nonce"] = secrets.token_hex(16)
        else:
            cell["shown"] = cell["src"]             # as the student wrote it (feedback)
            cell["src"] = _transform(cell["src"])
    return Job(out, notes, dict(sub.files))


# ----------------------------------------------------------------------------------- the sandbox
def have_bwrap() -> bool:
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        r = subprocess.run([exe, "--unshare-net", "--ro-bind", "/", "/", "true"], capture_output=True, timeout=20)
        return r.returncode == 0
    except Exception:
        return False


def sandbox_command(python: str = sys.executable, use_bwrap: bool = True) -> tuple[list[str], dict, str | None]:
    """(command, environment, temporary folder or None) of one sandboxed worker."""
    env = {"PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "COURSE_QUICK": "1",
           "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "TQDM_DISABLE": "1"}
    if use_bwrap:
        import course_utils
        pkg = str(Path(course_utils.__file__).resolve().parent)
        env.update(MPLCONFIGDIR="/tmp/.mpl", COURSE_DATA_DIR="/tmp/no-data", GRADER_TMP="/tmp")
        cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid", "--unshare-ipc",
               "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL",
               # the private /tmp first: binds below may lie under /tmp (a course cloned there) and
               # must be mounted on top of it, not hidden by it
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
        for d in ("bin", "lib", "lib64", "sbin"):
            p = Path("/") / d
            if p.is_symlink():
                cmd += ["--symlink", os.readlink(p), str(p)]
            elif p.exists():
                cmd += ["--ro-bind", str(p), str(p)]
        binds = {str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve()), sys.prefix,
                 str(Path(python).resolve().parent.parent)}
        for b in sorted(binds):
            if not b.startswith("/usr/") and Path(b).exists():
                cmd += ["--ro-bind", b, b]
        cmd += ["--ro-bind", "/etc", "/etc", "--ro-bind", pkg, pkg, "--ro-bind", str(RUNNER), str(RUNNER),
                "--chdir", "/tmp", "--clearenv"]
        for k, v in env.items():
            cmd += ["--setenv", k, v]
        return cmd + [python, str(RUNNER)], dict(os.environ), None
    tmp = tempfile.mkdtemp(prefix="course-sandbox-")
    env.update(MPLCONFIGDIR=os.path.join(tmp, ".mpl"), COURSE_DATA_DIR=os.path.join(tmp, "no-data"), GRADER_TMP=tmp,
               HOME=tmp)
    return [python, str(RUNNER)], env, tmp


class Worker:
    """One sandboxed zygote; grades one student at a time, each in a fresh forked process."""

    def __init__(self, use_bwrap: bool, log: Path):
        self.use_bwrap = use_bwrap
        self.log = log
        self.proc = None
        self.buf = b""
        self.tmp = None

    def start(self) -> None:
        cmd, env, self.tmp = sandbox_command(use_bwrap=self.use_bwrap)
        self.errf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errf,
                                     env=env, cwd=self.tmp or "/", start_new_session=True)
        self.buf = b""
        line = self._readline(300)
        if line != "READY":
            self.stop()
            raise RuntimeError(f"the grading sandbox did not start (see {self.log})")

    def stop(self) -> None:
        if self.proc is not None:
            try:                      # the whole process group: the zygote and a student still running
                os.killpg(self.proc.pid, 9)
            except Exception:
                pass
            self.proc.wait()
            self.proc = None
            self.errf.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _readline(self, timeout: float) -> str | None:
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    return None
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def run(self, job: Job, limits: dict) -> list[str]:
        """Send one job; return the sandbox's lines up to and including the final ``Z ...``."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        import base64
        msg = {"cells": [{"kind": c["kind"], "src": c["src"], "nonce": c.get("nonce")} for c in job.cells],
               "files": {k: base64.b64encode(v).decode() for k, v in job.files.items()},
               "imports": limits["imports"], "import_names": limits["import_names"], "limits": limits}
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        lines = []
        wait = float(limits.get("notebook", 300)) + 60
        while True:
            line = self._readline(wait)
            if line is None:
                self.stop()
                lines.append("Z KILLED the grading sandbox stopped responding")
                return lines
            lines.append(line)
            if line.startswith("Z "):
                return lines


# ----------------------------------------------------------------------------------- results
@dataclass
class Result:
    student: str
    origin: str
    scores: dict[str, float] = field(default_factory=dict)     # grade_id -> points scored
    messages: dict[str, str] = field(default_factory=dict)     # grade_id -> why it failed
    hidden: dict[str, bool] = field(default_factory=dict)      # grade_id -> failed in the hidden part
    cell_errors: list[str] = field(default_factory=list)
    problem: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    job: Job | None = None

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def interpret(lines: list[str], job: Job, a: Assignment, res: Result) -> None:
    """Turn the sandbox's report into scores: only ``P k nonce`` with the right nonce passes."""
    verdict: dict[int, bool] = {}
    last_started = None
    end = ""
    for line in lines:
        if line.startswith("Z "):
            end = line[2:]
            continue
        if line.startswith("T "):
            res.notes.append(line[2:] + (f" (cell {last_started + 1})" if last_started is not None else ""))
            continue
        if not line.startswith("C "):
            continue
        parts = line[2:].split(" ", 3)
        tag = parts[0]
        try:
            k = int(parts[1]) if len(parts) > 1 and tag in "SDPFM" and tag else None
        except ValueError:
            k = None
        if k is None or not (0 <= k < len(job.cells)):
            continue
        cell = job.cells[k]
        if tag == "S":
            last_started = k
        elif tag == "P" and cell["kind"] == "test" and k not in verdict:
            ok = len(parts) > 2 and secrets.compare_digest(parts[2].strip(), cell["nonce"])
            verdict[k] = ok
            if not ok:
                res.notes.append(f"suspicious: a forged pass for {cell['grade_id']} was ignored")
                res.messages[cell["grade_id"]] = "the test did not report a genuine pass"
        elif tag == "F" and cell["kind"] == "test" and k not in verdict:
            verdict[k] = False
        elif tag == "M" and cell["kind"] == "test" and len(parts) > 3:
            gid = cell["grade_id"]
            if gid not in res.messages:
                try:
                    msg = json.loads(parts[3])
                except Exception:
                    msg = parts[3]
                res.messages[gid] = str(msg)[:1500]
                try:
                    res.hidden[gid] = _in_hidden(a.cells[gid].source, int(parts[2]))
                except ValueError:
                    pass
        elif tag == "D" and len(parts) > 2 and parts[2] == "error" and len(res.cell_errors) < 20:
            try:
                msg = json.loads(parts[3]) if len(parts) > 3 else ""
            except Exception:
                msg = parts[3] if len(parts) > 3 else ""
            res.cell_errors.append(f"cell {k + 1}: {str(msg)[:300]}")
    stopped = None
    finished = any(l == "C END" for l in lines)
    if end.startswith("KILLED"):
        stopped = end[len("KILLED "):]
    elif not finished:
        stopped = "the notebook's process ended early (" + end.replace("EXIT ", "exit ") + "; os._exit?)"
    for k, cell in enumerate(job.cells):
        if cell["kind"] != "test":
            continue
        gid = cell["grade_id"]
        if verdict.get(k):
            res.scores[gid] = a.cells[gid].points
        else:
            res.scores[gid] = 0.0
            if k not in verdict:
                res.messages.setdefault(gid, "not run: " + (stopped or "the notebook stopped before this test"))
    if stopped:
        where = f" at cell {last_started + 1}" if last_started is not None else ""
        res.notes.append(f"stopped{where}: {stopped}")
    for gid in a.tests:
        res.scores.setdefault(gid, 0.0)


def _in_hidden(source: str, line: int) -> bool:
    inside = False
    for i, text in enumerate(source.splitlines(), 1):
        if HIDDEN_BEGIN in text:
            inside = True
        elif HIDDEN_END in text:
            inside = False
        if i == line:
            return inside
    return False


# ----------------------------------------------------------------------------------- writing out
def write_gradebook(db_url: str, a: Assignment, res: Result) -> None:
    import warnings
    from nbgrader.api import Gradebook
    nb_id = Path(a.notebook).stem
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")         # nbgrader's own SQLAlchemy session warnings
        gb.update_or_create_student(res.student)
        gb.update_or_create_submission(a.name, res.student)
        for gid, cell in a.cells.items():
            if cell.kind not in ("test", "written"):
                continue
            g = gb.find_grade(gid, nb_id, a.name, res.student)
            if cell.kind == "test":
                g.auto_score = res.scores.get(gid, 0.0)
                g.needs_manual_grade = g.manual_score is not None
            else:
                g.auto_score = None
                g.needs_manual_grade = g.manual_score is None
        gb.db.commit()


def autograded_notebook(sub: Submission, a: Assignment, res: Result) -> dict:
    """The notebook as graded: the student's cells, the original test cells with a pass/fail output."""
    cells = []
    by_gid = {}
    if sub.nb is not None:
        for c in sub.nb["cells"]:
            g = _nbg(c).get("grade_id")
            if g:
                by_gid.setdefault(g, c)
    for i, cell in enumerate(res.job.cells if res.job else []):
        if cell["kind"] == "test":
            gid = cell["grade_id"]
            info = a.cells[gid]
            meta = {"nbgrader": {"grade": True, "grade_id": gid, "locked": True, "points": info.points,
                                 "solution": False, "schema_version": 3}}
            ok = res.scores.get(gid, 0) > 0
            outputs = [] if ok else [{"output_type": "error", "ename": "TestFailed",
                                      "evalue": res.messages.get(gid, "failed"), "traceback": []}]
            cells.append({"cell_type": "code", "id": f"g-{i}", "metadata": meta, "source": info.source,
                          "outputs": outputs, "execution_count": None})
        else:
            meta = {}
            gid = cell.get("grade_id")
            if gid and gid in by_gid:
                meta = {"nbgrader": dict(_nbg(by_gid[gid]))}
            cells.append({"cell_type": "code", "id": f"c-{i}", "metadata": meta, "source": cell["src"],
                          "outputs": [], "execution_count": None})
    return {"cells": cells, "metadata": a.release_nb.get("metadata", {}), "nbformat": 4, "nbformat_minor": 5}


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;border-radius:4px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.ok{color:#176f2c}.bad{color:#b00020}
.result{border-left:4px solid #ccc;padding:.3rem .8rem;margin:.3rem 0 1.2rem}.result.ok{border-color:#2da44e}
.result.bad{border-color:#cf222e}.note{color:#555}"""


def feedback_html(sub: Submission, a: Assignment, res: Result) -> str:
    """Feedback for the student: score per graded cell, visible test code and messages, no hidden tests."""
    e = html.escape
    total = res.total
    rows = []
    for gid in a.order:
        c = a.cells[gid]
        if c.kind == "test":
            s = res.scores.get(gid, 0.0)
            cls = "ok" if s == c.points else "bad"
            rows.append(f"<tr><td>{e(gid)}</td><td class='{cls}'>{s:g} / {c.points:g}</td>"
                        f"<td>{e(_feedback_message(res, gid, s == c.points))}</td></tr>")
        elif c.kind == "written":
            rows.append(f"<tr><td>{e(gid)}</td><td>? / {c.points:g}</td><td>graded by hand</td></tr>")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(a.name)} feedback: {e(res.student)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{e(a.name)}: feedback for {e(res.student)}</h1>",
             f"<p><b>Autograded score: {total:g} / {sum(a.cells[g].points for g in a.tests):g}</b>"
             + (f" (plus {sum(c.points for c in a.cells.values() if c.kind == 'written'):g} points graded by hand)"
                if any(c.kind == "written" for c in a.cells.values()) else "") + "</p>",
             "<table><tr><th>cell</th><th>score</th><th>result</th></tr>" + "".join(rows) + "</table>"]
    if res.problem:
        parts.append(f"<p class='bad'>{e(res.problem)}</p>")
    notes = [n for n in res.notes if not n.startswith("suspicious")]
    if notes:
        parts.append("<ul class='note'>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    if res.job is not None:
        parts.append("<h2>Your notebook as graded</h2>")
        for cell in res.job.cells:
            if cell["kind"] == "test":
                gid = cell["grade_id"]
                c = a.cells[gid]
                s = res.scores.get(gid, 0.0)
                ok = s == c.points
                parts.append(f"<h3>Test {e(gid)} ({s:g} / {c.points:g})</h3><pre>{e(_visible(c.release))}</pre>")
                parts.append(f"<div class='result {'ok' if ok else 'bad'}'>"
                             f"{'passed' if ok else e(_feedback_message(res, gid, ok))}</div>")
            else:
                parts.append(f"<pre>{e(cell.get('shown', cell['src']))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _visible(release_src: str) -> str:
    """The test code students were given (the release never contains hidden tests; belt and braces)."""
    out, inside = [], False
    for line in release_src.splitlines():
        if HIDDEN_BEGIN in line:
            inside = True
            continue
        if HIDDEN_END in line:
            inside = False
            continue
        if not inside:
            out.append(line)
    return "\n".join(out)


def _feedback_message(res: Result, gid: str, ok: bool) -> str:
    if ok:
        return "passed"
    msg = res.messages.get(gid, "failed")
    if res.hidden.get(gid):
        short = msg if ":" in msg and msg.split(":", 1)[1].strip() else ""
        return "a hidden test failed" + (f": {short}" if short else " (its code is not shown)")
    return msg


def write_csv(path: Path, a: Assignment, results: list[Result]) -> None:
    tests = a.tests
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score", "status"] + tests + ["problems"])
        for r in sorted(results, key=lambda r: r.student):
            status = "failed" if r.problem else "graded"
            w.writerow([r.student, a.name, f"{r.total:g}", f"{sum(a.cells[g].points for g in tests):g}", status]
                       + [f"{r.scores.get(g, 0):g}" for g in tests]
                       + ["; ".join(([r.problem] if r.problem else []) + r.notes)])


# ----------------------------------------------------------------------------------- the batch
def grade(assignment: str, submissions: Path, out: Path = REPO / "autograde", db_url: str | None = None,
          workers: int | None = None, sandbox: str = "auto", limits: dict | None = None,
          solutions: Path = REPO / "solutions", quiet: bool = False) -> list[Result]:
    """Grade every submission in ``submissions``; return one :class:`Result` per student."""
    t0 = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db_url = db_url or "sqlite:///" + str((out / "gradebook.db").resolve())
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    use_bwrap = sandbox == "bwrap" or (sandbox == "auto" and have_bwrap())
    if sandbox == "bwrap" and not have_bwrap():
        raise RuntimeError("bubblewrap (bwrap) is not installed or cannot create namespaces here")
    a = prepare(assignment, db_url, solutions)
    subs = collect(Path(submissions), a)
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(subs))))
    lim = {"cell": 60, "notebook": 600, "memory_mb": 2048, "output_kb": 512, "file_mb": 64}
    lim.update(limits or {})
    lim.update(imports=a.imports, import_names=a.import_names)
    say(f"Grading {assignment}: {len(subs)} submission(s), {workers} worker(s), sandbox: "
        f"{'bubblewrap (no network, private /tmp, read-only system)' if use_bwrap else 'OS limits only (bubblewrap not available)'}")
    log = out / "grade-sandbox.log"
    todo: queue.Queue = queue.Queue()
    done: queue.Queue = queue.Queue()
    for s in subs:
        todo.put(s)

    def work() -> None:
        w = Worker(use_bwrap, log)
        try:
            while True:
                try:
                    s = todo.get_nowait()
                except queue.Empty:
                    return
                t = time.monotonic()
                res = Result(s.student, s.origin, notes=list(s.notes), problem=s.problem)
                try:
                    if s.nb is not None and not s.problem:
                        res.job = build_job(s, a)
                        res.notes = res.job.notes
                        for attempt in (1, 2):
                            lines = w.run(res.job, lim)
                            if lines[-1].startswith("Z KILLED the grading sandbox") and attempt == 1:
                                w.stop()
                                continue
                            break
                        interpret(lines, res.job, a, res)
                except Exception as exc:                                    # noqa: BLE001
                    res.problem = f"grader error: {type(exc).__name__}: {exc}"
                    w.stop()
                for g in a.tests:
                    res.scores.setdefault(g, 0.0)
                res.seconds = time.monotonic() - t
                done.put((s, res))
        finally:
            w.stop()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for th in threads:
        th.start()
    results: list[Result] = []
    for d in ("submitted", "autograded", "feedback"):
        (out / d).mkdir(exist_ok=True)
    while len(results) < len(subs):
        s, res = done.get()
        results.append(res)
        # the only writer of the gradebook and the output folders: this thread
        write_gradebook(db_url, a, res)
        if s.nb is not None:
            for d, name, text in (("submitted", a.notebook, json.dumps(s.nb, indent=1)),
                                  ("autograded", a.notebook, json.dumps(autograded_notebook(s, a, res), indent=1))):
                if d == "submitted" and (out / d).resolve() == Path(submissions).resolve():
                    continue                        # grading nbgrader's own submitted/ folder in place
                p = out / d / res.student / a.name
                p.mkdir(parents=True, exist_ok=True)
                (p / name).write_text(text)
        fb = out / "feedback" / res.student / a.name
        fb.mkdir(parents=True, exist_ok=True)
        (fb / (Path(a.notebook).stem + ".html")).write_text(feedback_html(s, a, res))
        say(f"  {res.student:<20} {res.total:g}/{sum(a.cells[g].points for g in a.tests):g}"
            f"{'  FAILED: ' + res.problem if res.problem else ''}"
            f"{'  (' + '; '.join(res.notes) + ')' if res.notes else ''}  [{res.seconds:.1f} s]")
    for th in threads:
        th.join()
    csv_path = out / f"grades_{assignment}.csv"
    write_csv(csv_path, a, results)
    took = time.monotonic() - t0
    failed = [r for r in results if r.problem]
    maxs = sum(a.cells[g].points for g in a.tests)
    say(f"\nSummary of {assignment}: {len(results) - len(failed)} graded, {len(failed)} failed, "
        f"{took:.1f} s ({len(results) / took * 60:.1f} submissions/min, {workers} worker(s))")
    for r in sorted(results, key=lambda r: r.student):
        if r.problem:
            say(f"  FAILED  {r.student}: {r.problem} -> 0/{maxs:g}")
    for r in sorted(results, key=lambda r: r.student):
        if not r.problem and (r.notes or r.total < maxs):
            why = "; ".join(r.notes) if r.notes else "some tests failed"
            say(f"  {r.total:g}/{maxs:g}  {r.student}: {why}")
    say(f"Grades: {csv_path}\nFeedback: {out / 'feedback'}/STUDENT/{assignment}/\nGradebook: {db_url}")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=REPO / "autograde", help="output folder (default autograde/)")
    p.add_argument("--db", help="gradebook URL (default sqlite:///OUT/gradebook.db)")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                   help="auto: bubblewrap when it works here, else OS limits only")
    p.add_argument("--cell-timeout", type=float, default=60)
    p.add_argument("--notebook-timeout", type=float, default=600)
    p.add_argument("--memory-mb", type=int, default=2048)
    p.add_argument("--output-kb", type=int, default=512)
    args = p.parse_args(argv)
    if not args.submissions.is_dir():
        p.error(f"{args.submissions} is not a folder")
    grade(args.assignment, args.submissions, args.out, args.db, args.workers, args.sandbox,
          {"cell": args.cell_timeout, "notebook": args.notebook_timeout, "memory_mb": args.memory_mb,
           "output_kb": args.output_kb})
    return 0


if __name__ == "__main__":
    sys.exit(main())
