"""What a student wrote, made inert before any page shows it (formgrader, feedback, reports).

Every notebook the grader writes for a browser goes through :func:`notebook`:

- markdown (and raw) cells are rendered with nbconvert's own Markdown renderer, then cleaned by an
  allowlist sanitizer (bleach: known tags only, no ``style``, ``id``, event or ``data-`` attributes,
  links only ``http(s)://``, ``mailto:`` or ``#``, images only PNG/JPEG data checked byte by byte);
  the cell then holds that HTML as one block, which Markdown renderers pass through unchanged
  (checked: if nbconvert's renderer would change it, the cell shows the plain text instead);
- outputs keep ``text/plain``, ``image/png`` and ``image/jpeg`` (checked and re-encoded), streams and
  errors as plain strings; anything else is left out with a note saying which type;
- attachments, widget state, and all metadata but nbgrader's (checked field by field) are dropped.

Example:
    >>> clean_html('<img src=x onerror="alert(1)"><b>bold</b>')
    '<img><b>bold</b>'
"""

from __future__ import annotations

import base64
import binascii
import html
import re

import bleach

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "u", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "a",
    "img", "sup", "sub", "span", "div", "kbd",
}  # fmt: skip
MIME_OK = ("text/plain", "image/png", "image/jpeg")
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_CLASS = re.compile(r"^(inert|highlight|[a-z]{1,3}[0-9]?|math)( (inline|display))?$")
_NUMBER = re.compile(r"^[0-9]{1,4}$")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WRAP = '<div class="inert">'


def image_bytes(mime: str, data: object) -> bytes | None:
    """The decoded image if ``data`` is base64 of a real PNG/JPEG of that type, else None.

    >>> image_bytes("image/png", "PHN2Zz4=") is None   # '<svg>' called a PNG
    True
    """
    if mime not in _MAGIC:
        return None
    if isinstance(data, list) and all(isinstance(s, str) for s in data):
        data = "".join(data)
    if not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(_MAGIC[mime]) else None


def _url(value: str) -> str:
    return "".join(ch for ch in value if ord(ch) > 0x20).lower()


def _attr(tag: str, name: str, value: str) -> bool:
    if tag == "a":
        return name == "title" or (name == "href" and re.match(r"^(https?://|mailto:|#)", _url(value)) is not None)
    if tag == "img":
        if name in ("alt", "title"):
            return True
        if name in ("width", "height"):
            return _NUMBER.match(value) is not None
        m = re.match(r"^data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/]*={0,2})$", value) if name == "src" else None
        return m is not None and image_bytes(m[1], m[2]) is not None
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan") and _NUMBER.match(value) is not None
    if tag == "ol":
        return name == "start" and _NUMBER.match(value) is not None
    if tag in ("span", "div"):
        return name == "class" and _CLASS.match(value) is not None
    return False


_CLEANER = bleach.Cleaner(
    tags=TAGS, attributes=_attr, protocols=["http", "https", "mailto", "data"], strip=False, strip_comments=True
)


def clean_html(text: str) -> str:
    """HTML with every tag and attribute outside the allowlist escaped or dropped (see the module)."""
    return _CLEANER.clean(text)


def _render(src: str, attachments: dict) -> str:
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments)).render(src)


def _plain(src: str) -> str:
    """A fenced code block: shown as typed, interpreted by no Markdown renderer."""
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", src)), default=0))
    return f"{fence}text\n{src}\n{fence}"


def markdown(src: str, attachments: object = None) -> str:
    """Markdown source that renders the student's ``src`` as sanitized HTML (one HTML block).

    >>> markdown("[x](javascript:alert(1)) **ok**")
    '<div class="inert"><p><a>x</a> <strong>ok</strong></p></div>'
    """
    images = {}
    for name, bundle in (attachments or {}).items() if isinstance(attachments, dict) else ():
        for mime, data in bundle.items() if isinstance(bundle, dict) else ():
            raw = image_bytes(mime, data)
            if raw is not None and isinstance(name, str):
                images[name] = {mime: base64.b64encode(raw).decode()}
    try:
        rendered = _render(src, images)
    except Exception:  # a missing attachment or odd input: show the text as typed
        return _plain(src)
    body = clean_html(rendered).strip().replace("\r", "").replace("\n", "&#10;")
    out = f"{_WRAP}{body}</div>"
    try:
        if _render(out, {}).strip() != out:  # the renderer must pass the block through as it is
            return _plain(src)
    except Exception:
        return _plain(src)
    return out


def _text(v: object) -> str:
    if isinstance(v, list):
        return "".join(x for x in v if isinstance(x, str))
    return v if isinstance(v, str) else ""


def _note(what: str) -> dict:
    return {
        "output_type": "stream",
        "name": "stderr",
        "text": f"[{what} left out: the graded notebook shows text and PNG/JPEG images only]\n",
    }


def output(o: object) -> list[dict]:
    """One output made inert: zero, one or two outputs (the kept part, a note of what was left out).

    >>> output({"output_type": "display_data", "data": {"text/html": "<script>x</script>"}, "metadata": {}})[0]["text"]
    '[text/html output left out: the graded notebook shows text and PNG/JPEG images only]\\n'
    """
    if not isinstance(o, dict):
        return [_note("an unreadable output")]
    kind = o.get("output_type")
    if kind == "stream":
        name = o.get("name") if o.get("name") in ("stdout", "stderr") else "stdout"
        return [{"output_type": "stream", "name": name, "text": _text(o.get("text"))}]
    if kind == "error":
        tb = o.get("traceback") if isinstance(o.get("traceback"), list) else []
        return [
            {
                "output_type": "error",
                "ename": _text(o.get("ename")),
                "evalue": _text(o.get("evalue")),
                "traceback": [t for t in tb if isinstance(t, str)],
            }
        ]
    if kind not in ("display_data", "execute_result"):
        return [_note(f"an output of type {str(kind)[:40]!r}")]
    data = o.get("data") if isinstance(o.get("data"), dict) else {}
    kept, dropped = {}, []
    for mime, value in data.items():
        if mime == "text/plain":
            kept[mime] = _text(value)
        elif (raw := image_bytes(mime, value)) is not None:
            kept[mime] = base64.b64encode(raw).decode()
        else:
            dropped.append(f"{mime} (not a real {mime[6:].upper()})" if mime in _MAGIC else str(mime)[:60])
    out = []
    if kept:
        one = {"output_type": kind, "data": kept, "metadata": {}}
        if kind == "execute_result":
            one["execution_count"] = None
        out.append(one)
    if dropped:
        out.append(_note(", ".join(dropped) + " output"))
    return out


_NB_BOOL = ("grade", "solution", "locked", "task")


def nbgrader_meta(meta: object) -> dict:
    """nbgrader's cell metadata, each field of the right type (the rest dropped)."""
    if not isinstance(meta, dict):
        return {}
    out = {k: meta[k] for k in _NB_BOOL if isinstance(meta.get(k), bool)}
    if isinstance(meta.get("grade_id"), str) and _GRADE_ID.match(meta["grade_id"]):
        out["grade_id"] = meta["grade_id"]
    for k in ("points", "score"):
        if isinstance(meta.get(k), (int, float)) and not isinstance(meta.get(k), bool):
            out[k] = meta[k]
    for k in ("checksum", "cell_type", "comment"):  # comment: the TA's, from the gradebook
        if isinstance(meta.get(k), str):
            out[k] = meta[k]
    if isinstance(meta.get("schema_version"), int):
        out["schema_version"] = meta["schema_version"]
    return out


def _meta(cell: dict) -> dict:
    m = cell.get("metadata")
    nb = nbgrader_meta(m.get("nbgrader")) if isinstance(m, dict) else {}
    return {"nbgrader": nb} if nb else {}


def cell(c: object, k: int) -> dict:
    """One cell made inert (markdown and raw cells become sanitized markdown)."""
    c = c if isinstance(c, dict) else {}
    cid = c.get("id") if isinstance(c.get("id"), str) and _CELL_ID.match(c["id"]) else f"cell-{k}"
    src = _text(c.get("source"))
    if c.get("cell_type") == "code":
        outs = [x for o in (c.get("outputs") if isinstance(c.get("outputs"), list) else []) for x in output(o)]
        n = c.get("execution_count")
        return {
            "cell_type": "code",
            "id": cid,
            "metadata": _meta(c),
            "source": src,
            "outputs": outs,
            "execution_count": n if isinstance(n, int) and not isinstance(n, bool) else None,
        }
    md = markdown(src, c.get("attachments")) if c.get("cell_type") == "markdown" else _plain(src)
    return {"cell_type": "markdown", "id": cid, "metadata": _meta(c), "source": md}


def _safe_name(v: object) -> str | None:
    return v if isinstance(v, str) and re.match(r"^[A-Za-z0-9_.+ ()-]{1,80}$", v) else None


def notebook(nb: dict) -> dict:
    """The whole notebook made inert: cells as :func:`cell`, metadata only the kernel's names.

    >>> notebook({"cells": [{"cell_type": "raw", "source": "<b>x</b>"}], "metadata": {"widgets": {}}})["metadata"]
    {}
    """
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    out_meta = {}
    ks = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    ks = {k: _safe_name(ks.get(k)) for k in ("name", "display_name", "language") if _safe_name(ks.get(k))}
    if ks:
        out_meta["kernelspec"] = ks
    li = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    if _safe_name(li.get("name")):
        out_meta["language_info"] = {"name": li["name"]}
    cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
    return {
        "cells": [cell(c, k) for k, c in enumerate(cells)],
        "metadata": out_meta,
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def text(s: object) -> str:
    """Plain text for an HTML page: every character that means something in HTML escaped."""
    return html.escape(str(s), quote=True)


def markdown_text(s: object) -> str:
    """Plain text for a Markdown file, one line: no HTML, links, images or emphasis (all escaped).

    >>> print(markdown_text("![x](javascript:1) <b>"))
    \\!\\[x\\]\\(javascript:1\\) &lt;b&gt;
    """
    s = html.escape(" ".join(str(s).split()), quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>])", r"\\\1", s)


def _preprocessor():
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool

    class InertNotebook(Preprocessor):
        """nbgrader/nbconvert preprocessor: the notebook as :func:`notebook` makes it (for ``nbgrader
        autograde`` and ``generate_feedback``, so formgrader and the feedback show it inert)."""

        enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled; this one always runs

        def preprocess(self, nb, resources):
            import nbformat

            return nbformat.from_dict(notebook(nbformat.from_dict(nb))), resources

    return InertNotebook


InertNotebook = _preprocessor()
