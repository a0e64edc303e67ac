"""Fuzzing `make grade`: 220 mutated notebooks and zips (truncated, huge numbers, deep nesting, wrong
types in the metadata, broken zips) in one batch with honest students. The batch must finish, give
every file a row, and the honest students exactly the points of the parts they solved."""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import zipfile

from autograde import grade as G
from autograde.mock_submissions import filled, load
from course_utils.nbcells import cell_kind, grade_id
from harness import deserved

A = "01_hw0_warmup"
N = 220
WEIRD = [
    None,
    True,
    -1,
    1e308,
    10**30,
    "",
    "x" * 5000,
    [],
    {},
    [["a"]],
    {"grade_id": "relu_tests"},
    "relu_tests",
    ["relu_tests"],
    "../../etc",
    3.5,
    "points",
]


def _mutate_notebook(nb: dict, rng: random.Random) -> dict:
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    for _ in range(rng.randint(1, 4)):
        c = rng.choice(cells) if cells else {}
        kind = rng.randrange(9)
        nbg = c.setdefault("metadata", {}).setdefault("nbgrader", {}) if isinstance(c.get("metadata"), dict) else {}
        if kind == 0:
            nbg[rng.choice(["grade_id", "points", "grade", "solution", "locked", "checksum"])] = rng.choice(WEIRD)
        elif kind == 1:
            c["metadata"] = rng.choice(WEIRD)
        elif kind == 2:
            c["source"] = rng.choice(WEIRD)
        elif kind == 3:
            c["cell_type"] = rng.choice(WEIRD + ["code", "markdown", "raw"])
        elif kind == 4 and cells:
            cells.insert(rng.randrange(len(cells)), copy.deepcopy(rng.choice(cells)))
        elif kind == 5 and cells:
            del cells[rng.randrange(len(cells))]
        elif kind == 6:
            c["id"] = rng.choice(WEIRD)
        elif kind == 7:
            nb[rng.choice(["metadata", "nbformat", "cells_extra"])] = rng.choice(WEIRD)
        else:
            rng.shuffle(cells)
    return nb


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return data[: rng.randrange(len(data))]  # truncated
    if kind == 1:
        i = rng.randrange(len(data))
        return data[:i] + b"9" * rng.choice([400, 5000, 50000]) + data[i:]  # a huge number
    if kind == 2:
        depth = rng.choice([1000, 100_000])
        return data.replace(b'"cells"', b'"deep": ' + b"[" * depth + b"]" * depth + b', "cells"', 1)
    if kind == 3:
        b = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    return data.replace(b'"cells"', b'"cells": 7, "x"', 1)


def _zip(nb_bytes: bytes, rng: random.Random) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as z:
        z.writestr(f"hw/{A}.ipynb", nb_bytes)
        if rng.random() < 0.5:
            z.writestr("hw/extra.bin", b"\0" * rng.choice([10, 10_000]))
    data = bytearray(buf.getvalue())
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(data[: rng.randrange(len(data))])
    if kind == 1:
        for _ in range(rng.randint(1, 30)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 2:
        data[data.index(b"PK\x03\x04") + 6] |= 1  # the "encrypted" flag
    return bytes(data)


def test_fuzzed_batch_finishes_and_honest_scores_hold(tmp_path):
    source, release = load(A)
    rng = random.Random(1234)
    subs = tmp_path / "subs"
    subs.mkdir()
    solved = [None, {"relu_impl"}, set(), {"softmax_impl", "sigmoid_impl"}]  # None: all; set(): the release
    honest = {f"honest{i}": filled(source, release, s) for i, s in enumerate(solved)}
    for name, nb in honest.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    names = set(honest)
    for i in range(N):
        base = rng.choice([release, release, release, filled(source, release)])
        kind = rng.randrange(3)
        name = f"fuzz{i:03d}"
        if kind == 0:
            (subs / f"{name}.ipynb").write_text(json.dumps(_mutate_notebook(base, rng)))
        elif kind == 1:
            (subs / f"{name}.ipynb").write_bytes(_mutate_bytes(json.dumps(base).encode(), rng))
        else:
            (subs / f"{name}.zip").write_bytes(_zip(json.dumps(_mutate_notebook(base, rng)).encode(), rng))
        names.add(name)
    cells = {grade_id(c) for c in source["cells"] if cell_kind(c) == "solution"}
    deserve = {f"honest{i}": deserved(source, cells - s if s is not None else set()) for i, s in enumerate(solved)}
    results = G.grade(A, subs, out=tmp_path / "out", workers=2, quiet=True, limits={"cell": 10, "notebook": 60})
    got = {r.student: r for r in results}
    assert set(got) == names  # every file has its row
    assert {n: got[n].total for n in honest} == deserve, {n: got[n].messages for n in honest}
    assert len(set(deserve.values())) == 4  # four different scores
    rows = list(csv.DictReader(open(tmp_path / "out" / f"grades_{A}.csv")))
    assert len(rows) == len(names)
    assert all(0 <= r.total <= 8 for r in results)
