"""The sanitizer every page of student content goes through (autograde/inert.py), attacked directly.

Each payload is what a student who read the grader would write; the checks read the HTML that
nbconvert (formgrader's and generate_feedback's renderer) makes of the inert notebook, and first
show that the same payload un-sanitized does reach that HTML live (so each check can fail).
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from autograde import inert

SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
MARKDOWN = [
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    '<svg onload="alert(1)">',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;&#97;vascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "[x](javascript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "![x](http://127.0.0.1:9/track.png)",
    '<style>body{background:url("http://127.0.0.1:9/css")}</style>',
    '<p style="background:url(http://127.0.0.1:9/s)">x</p>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="http://127.0.0.1:9/f"><button>go</button></form>',
    '<base href="http://127.0.0.1:9/">',
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<embed src="data:image/svg+xml;base64,' + base64.b64encode(SVG.encode()).decode() + '">',
    "<script>alert(1)</script>",
    "<details open ontoggle=alert(1)>",
    '<div data-toggle="tooltip" title="<img src=x onerror=alert(1)>">x</div>',
    "<a id=base_url name=x>clobber</a>",
]
FORBIDDEN = {"script", "iframe", "object", "embed", "meta", "form", "base", "style", "svg", "details", "link"}


class _Live(HTMLParser):
    """What in an HTML fragment a browser would act on: elements and attributes that run or fetch."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN:
            self.found.append(f"<{tag}>")
        for k, v in attrs:
            if k == "id" and (v or "").startswith("cell-id="):  # nbconvert's own anchor of each cell
                continue
            v = "".join(ch for ch in (v or "") if ord(ch) > 0x20).lower()
            if k.startswith("on") or k in ("style", "srcdoc", "formaction", "id", "name") or k.startswith("data-"):
                self.found.append(f"{tag} {k}=")
            elif k in ("href", "src", "action", "data") and not re.match(
                r"^(https?://(?!127)|mailto:|#|data:image/(png|jpeg);base64,)", v
            ):
                self.found.append(f"{tag} {k}={v[:40]}")
            elif k == "src" and not v.startswith("data:image/"):
                self.found.append(f"{tag} src={v[:40]}")


def live(page: str) -> list[str]:
    """The live parts of the notebook's cells in a page nbconvert made."""
    p = _Live()
    p.feed(page[page.index('id="notebook-container">') + 24 :])
    return p.found


def _html(nb: dict) -> str:
    import json

    import nbformat
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="classic").from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4))[0]


def _nb(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("src", MARKDOWN)
def test_markdown_payload_is_inert(src):
    cells = [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": src}]
    assert live(_html(_nb(cells))), "the payload is not live even un-sanitized"
    page = _html(inert.notebook(_nb(cells)))
    assert not live(page), live(page)


def test_markdown_keeps_its_formatting():
    src = "**bold** and *it*, `code`, $x^2$, [a link](https://example.org)\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |"  # noqa: E501
    out = inert.markdown(src)
    for part in ("<strong>bold</strong>", "<em>it</em>", "<code>code</code>", "$x^2$", "<li>two</li>", "<td>2</td>"):
        assert part in out
    assert 'href="https://example.org"' in out


def test_raw_cells_and_attachments():
    svg64 = base64.b64encode(SVG.encode()).decode()
    cells = [
        {"cell_type": "raw", "id": "r", "metadata": {"raw_mimetype": "text/html"}, "source": "<img src=x onerror=a()>"},
        {
            "cell_type": "markdown",
            "id": "m",
            "metadata": {},
            "source": "![s](attachment:s.svg) ![p](attachment:p.png) ![h](attachment:h.png)",
            "attachments": {
                "s.svg": {"image/svg+xml": svg64},
                "p.png": {"image/png": base64.b64encode(PNG).decode()},
                "h.png": {"image/png": svg64},  # an SVG called a PNG
            },
        },
    ]
    nb = inert.notebook(_nb(cells))
    assert all("attachments" not in c for c in nb["cells"])
    page = _html(nb)
    assert not live(page), live(page)
    body = page[page.index('id="notebook-container"') :]
    assert "data:image/svg" not in body and "<img" not in body  # an attachment that is no image: the text as typed
    ok = {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "![p](attachment:p.png)"}
    ok["attachments"] = {"p.png": {"image/png": base64.b64encode(PNG).decode()}}
    page = _html(inert.notebook(_nb([ok])))
    assert not live(page) and page[page.index('id="notebook-container"') :].count("data:image/png;base64,") == 1


def test_outputs_reduced():
    outs = [
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": "<script>a()</script>", "text/plain": "t"},
        },
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": SVG}},
        {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": "a()"}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": base64.b64encode(SVG.encode()).decode()}},
        {
            "output_type": "display_data",
            "metadata": {"image/png": {"width": '1" onerror="a()'}},
            "data": {
                "image/png": base64.b64encode(PNG).decode(),
                "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
            },
        },
        {"output_type": "stream", "name": 'stdout"><img src=x onerror=a()>', "text": "<img src=x onerror=a()>"},
        {
            "output_type": "error",
            "ename": "<b>E</b>",
            "evalue": "<img src=x onerror=a()>",
            "traceback": ["<svg onload=a()>"],
        },
        {"output_type": "execute_result", "execution_count": "<img src=x onerror=a()>", "metadata": {}, "data": {}},
    ]
    code = {"cell_type": "code", "id": "c", "metadata": {"tags": ["x"]}, "source": "", "outputs": outs}
    valid = dict(code, outputs=outs[:-1], execution_count=1)
    assert len(live(_html(_nb([valid])))) >= 3  # live without the defence
    nb = inert.notebook(_nb([dict(code, execution_count="<img src=x onerror=a()>")]))
    kinds = [m for o in nb["cells"][0]["outputs"] for m in o.get("data", {})]
    assert set(kinds) <= set(inert.MIME_OK) and kinds.count("image/png") == 1
    notes = "".join(o.get("text", "") for o in nb["cells"][0]["outputs"] if o.get("name") == "stderr")
    for mime in ("text/html", "image/svg+xml", "application/javascript", "not a real PNG", "widget-view"):
        assert mime in notes
    page = _html(nb)
    assert not live(page), live(page)


def test_metadata_dropped():
    nb = _nb(
        [
            {
                "cell_type": "code",
                "id": 'x"><b',
                "metadata": {"nbgrader": {"grade_id": 'a" onmouseover="x', "points": "1<"}},
            }
        ]
    )
    nb["metadata"] = {"widgets": {"application/vnd.jupyter.widget-state+json": {}}, "title": "<script>a()</script>"}
    out = inert.notebook(nb)
    assert out["metadata"] == {} and out["cells"][0]["metadata"] == {} and out["cells"][0]["id"] == "cell-0"
    good = {"grade_id": "q1", "points": 2, "grade": True, "solution": False, "extra": "<x>"}
    assert inert.nbgrader_meta(good) == {"grade_id": "q1", "points": 2, "grade": True, "solution": False}


def test_markdown_text_for_reports():
    s = inert.markdown_text("bad.zip: <img src=x onerror=a()> [x](javascript:a()) ![i](http://e/x.png)")
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    out = markdown2html_mistune(s)
    assert "<img" not in out and "javascript" not in re.findall(r"<a [^>]*>", out) and "onerror" in out


def test_plain_nbgrader_autograde_is_inert(tmp_path):
    """The grading manual's plain route (`nbgrader autograde`, then formgrader): the course config makes the
    autograded copy inert too, and scores are untouched (the solution still earns every point)."""
    import json

    from autograde.mock_submissions import filled, load
    from harness import Course

    a = "01_hw0_warmup"
    course = Course(tmp_path / "course", [a])
    course.release(a)
    source, release = load(a)
    nb = filled(source, release)
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "md", "metadata": {}, "source": MARKDOWN[0]})
    html = 'from IPython.display import HTML, display\ndisplay(HTML("<img src=x onerror=a()>"))'
    nb["cells"].insert(2, {"cell_type": "code", "id": "cd", "metadata": {}, "execution_count": None, "outputs": [],
                           "source": html})  # fmt: skip
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    course.submit("eve", a, {f"{a}.ipynb": tmp_path / "nb.ipynb"})
    course.autograde(a)
    out = json.loads((tmp_path / "course" / "autograde" / "autograded" / "eve" / a / f"{a}.ipynb").read_text())
    page = _html(out)
    assert not live(page), live(page)
    assert "text/html output left out" in json.dumps(out)
    assert all(s == m for s, m in course.cell_scores(a, "eve").values())
