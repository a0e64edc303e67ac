"""The similarity report (``make similarity``) on submissions made from HW1's solution and release.

Two students hand in one solution, the second with its variables renamed, reformatted, without comments and
with the written answer reworded in places; four others solve the short formulas on their own (two of them
exactly as the solution writes them, as anyone would); two hand in the release untouched, one the release
with its test code pasted again, reformatted. The copy must rank first and the rest not rank high.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import tokenize

import pytest

from autograde import similarity_page
from autograde.mock_submissions import filled, load
from harness import make

HW1 = "04_hw1_layer_sizes"
NAMES = {
    "i": "length", "k": "kern", "s": "stride", "p": "pad", "d": "dil", "shape": "cur", "rows": "result",
    "n": "count", "children": "kids", "out": "res", "params": "n_par", "span": "extent", "o": "size",
    "child": "sub", "name": "label", "block_input": "entry", "c_in": "cin", "c_out": "cout", "v": "val",
}  # fmt: skip

# Natural code for the short formulas, written three ways; honest0 and honest1 both write the first way.
HONEST = {
    "conv_size_impl": [
        "return (i + 2 * p - d * (k - 1) - 1) // s + 1",
        "eff = d * (k - 1) + 1\n    return (i + 2 * p - eff) // s + 1",
        "import math\n    return math.floor((i + 2*p - d*(k-1) - 1) / s) + 1",
    ],
    "convT_size_impl": [
        "return (i - 1) * s - 2 * p + d * (k - 1) + output_padding + 1",
        "size = (i - 1) * s\n    size += d * (k - 1) + 1 - 2 * p\n    return size + output_padding",
        "return s*(i-1) + d*(k-1) + output_padding + 1 - 2*p",
    ],
    "conv_params_impl": [
        "return k * k * (c_in // groups) * c_out + (c_out if bias else 0)",
        "w = c_out * (c_in // groups) * k ** 2\n    return w + c_out if bias else w",
        "total = k*k*c_in//groups*c_out\n    if bias:\n        total += c_out\n    return total",
    ],
    "convT_params_impl": [
        "return c_in * (c_out // groups) * k * k + (c_out if bias else 0)",
        "n = c_in * k * k * (c_out // groups)\n    return n + (c_out if bias else 0)",
        "weights = c_in * c_out * k * k // groups\n    return weights + bias * c_out",
    ],
    "linear_params_impl": [
        "return n_in * n_out + (n_out if bias else 0)",
        "return n_out * (n_in + 1) if bias else n_out * n_in",
        "w = n_in * n_out\n    b = n_out if bias else 0\n    return w + b",
    ],
    "bn_impl": [
        "return 2 * c if affine else 0",
        "return c * 2 if affine else 0",
        "if not affine:\n        return 0\n    return 2*c",
    ],
    "conv_macs_impl": [
        "return c_out * h_out * w_out * (c_in // groups) * k * k",
        "per_output = (c_in // groups) * k * k\n    return per_output * c_out * h_out * w_out",
        "return h_out*w_out*c_out*k*k*c_in//groups",
    ],
    "linear_macs_impl": ["return n_in * n_out", "return n_out * n_in", "macs = n_in * n_out\n    return macs"],
}  # fmt: skip
ANSWERS = [
    "The table forgets the batch norm layers: gamma and beta for every channel, 9600 numbers. It also skips the "
    "projection shortcuts in layer2 to layer4 and it gives every convolution a bias that ResNet does not use.",
    "Missing: the downsample 1x1 convs (172032 parameters). The BN weights are missing as well. The slide adds "
    "biases that are not there since BN follows each conv, so its count is too high by 3904.",
    "I counted with model.named_parameters(): the shortcut convolutions and the BatchNorm affine parameters are "
    "not in the slide, and biases are counted where torchvision has bias=False.",
    "",
]


def _rename_and_reformat(src: str) -> str:
    """``src`` with its variables renamed, comments dropped and every line respaced (tokenize's compat mode)."""
    toks = []
    for t in tokenize.generate_tokens(io.StringIO(src).readline):
        if t.type == tokenize.COMMENT:
            continue
        toks.append((t.type, NAMES.get(t.string, t.string) if t.type == tokenize.NAME else t.string))
    return tokenize.untokenize(toks)


def _cell(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def _answer(source: dict) -> str:
    text = "".join(_cell(source, "resnet_table_why")["source"])
    return text.split("### BEGIN SOLUTION\n", 1)[1].split("**Rubric", 1)[0].strip()


def _honest(release: dict, way: int) -> dict:
    nb = copy.deepcopy(release)
    for j, (gid, ways) in enumerate(HONEST.items()):
        c = _cell(nb, gid)
        body = ways[(way + j) % 3] if way > 1 else ways[0]
        c["source"] = "".join(c["source"]).replace("# YOUR CODE HERE\n    raise NotImplementedError()", body, 1)
    _cell(nb, "resnet_table_why")["source"] = ANSWERS[way]
    return nb


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    source, release = load(HW1)
    subs = tmp_path_factory.mktemp("subs")
    out = tmp_path_factory.mktemp("out")
    copied = filled(source, release)
    _cell(copied, "resnet_table_why")["source"] = _answer(source)
    renamed = copy.deepcopy(copied)
    for c in renamed["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("solution") and c["cell_type"] == "code":
            c["source"] = _rename_and_reformat("".join(c["source"]))
    answer = _answer(source).replace("The slide's table lists", "The table on the slide has").replace("\n", " ")
    _cell(renamed, "resnet_table_why")["source"] = answer.replace("exactly the slide's total", "the same as the slide")
    repasted = copy.deepcopy(release)
    tests = [c for c in release["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    extra = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": re.sub(r"\s*([=,+*])\s*", r" \1 ", "".join(c["source"]))} for c in tests]  # fmt: skip
    repasted["cells"] += extra
    repasted2 = copy.deepcopy(release)
    repasted2["cells"] += [dict(c, source="\n\n".join("".join(c["source"]).split("\n"))) for c in extra[::-1]]
    evil = copy.deepcopy(release)
    payload = "# </pre><script>alert(1)</script>\ndef helper_that_is_long(values, weights):\n"
    payload += "    return sum(v * w for v, w in zip(values, weights)) + len(values) * 2 - 1\n"
    evil["cells"].append(
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": payload}
    )
    evil["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "<img src=x onerror=alert(2)> " * 4})
    files = {
        "copya": copied, "copyb": renamed, "blank1": release, "blank2": release, "repasted": repasted,
        "repasted2": repasted2, "=evil": evil, "evil2": evil, **{f"honest{w}": _honest(release, w) for w in range(4)},
    }  # fmt: skip
    for student, nb in files.items():
        (subs / f"{student}_{HW1}.ipynb").write_text(json.dumps(nb))
    (subs / f"broken_{HW1}.ipynb").write_text('{"cells": [')
    (subs / f"odd_{HW1}.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": 5}, {"source": []}]}))
    assert similarity_page.main([HW1, str(subs), "--out", str(out)]) == 0
    with open(out / f"similarity_{HW1}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return out, rows


def _pair(rows, a, b):
    return next((r for r in rows if {r["student_a"], r["student_b"]} == {a, b}), None)


def test_renamed_copy_ranks_first(report):
    _, rows = report
    top = rows[0]
    assert {top["student_a"], top["student_b"]} == {"copya", "copyb"}, rows[:3]
    assert float(top["share_a"]) > 0.7 and float(top["share_b"]) > 0.7, top
    assert int(top["text_a"]) > 200 and int(top["text_b"]) > 200, "the reworded answer still matches in part"


def test_honest_short_formulas_do_not_rank_high(report):
    _, rows = report
    top = float(rows[0]["shared"])
    honest = [f"honest{w}" for w in range(4)]
    for a in honest:
        for b in [*honest, "copya", "copyb"]:
            r = _pair(rows, a, b) if a != b else None
            if r is not None:
                assert float(r["shared"]) < 0.1 * top, r
                assert max(float(r["share_a"]), float(r["share_b"])) < 0.35, r


def test_released_code_is_excluded(report):
    _, rows = report
    for a, b in [
        ("blank1", "blank2"),
        ("blank1", "repasted"),
        ("repasted", "repasted2"),
        ("blank2", "copya"),
        ("repasted", "honest0"),
    ]:
        assert _pair(rows, a, b) is None, _pair(rows, a, b)
    assert all("blank" not in r["student_a"] + r["student_b"] for r in rows)


def test_unreadable_listed_not_fatal(report):
    out, rows = report
    page = (out / f"similarity_{HW1}" / "index.html").read_text()
    assert "broken" in page and "invalid JSON" in page
    listed = re.findall(r"<li>([^:<]+): ", page.split("Unreadable submissions", 1)[1])
    assert listed == ["broken"], f"only the invalid notebook is unreadable, not {listed}"
    assert all("broken" not in r["student_a"] + r["student_b"] for r in rows)


def test_student_content_is_inert(report):
    out, rows = report
    r = _pair(rows, "'=evil", "evil2")
    assert r is not None and "'=evil" in (r["student_a"], r["student_b"]), "a formula-like id is text in the CSV"
    pages = sorted((out / f"similarity_{HW1}").glob("*.html"))
    page = (out / f"similarity_{HW1}" / r["page"]).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    for p in pages:
        html = p.read_text().lower()
        assert (
            "<script" not in html and "<img" not in html and "onerror=" not in html.replace("onerror=alert(2)&gt;", "")
        )
        assert "content-security-policy" in html and "default-src 'none'" in html


def test_pair_page_links_matching_lines(report):
    out, rows = report
    page = (out / f"similarity_{HW1}" / rows[0]["page"]).read_text()
    links = re.findall(r"href='#(a\d+)'>.*?href='#(b\d+)'", page)
    assert len(links) >= 5, "each copied block is linked to its match"
    for a, b in links:
        assert f"id='{a}'" in page and f"id='{b}'" in page
    assert page.count("class='m'") > 50


def test_make_similarity_touches_no_gradebook(report, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    source, release = load(HW1)
    for s in ("ann", "ben"):
        (subs / f"{s}_{HW1}.ipynb").write_text(json.dumps(filled(source, release)))
    text = make("similarity", f"ASSIGNMENT={HW1}", f"SUBMISSIONS={subs}", f"SIMILARITY_ARGS=--out {tmp_path / 'o'}")
    assert re.search(r"1\s+ann\s+ben\s+\d+", text), text
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [f"similarity_{HW1}", f"similarity_{HW1}.csv"]
