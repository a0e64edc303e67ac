"""A Content-Security-Policy for formgrader's pages in ``make lab``: only formgrader's own scripts run.

formgrader renders a student's autograded notebook into the same page as its grading scripts, with
the TA's session. ``inert.py`` already reduces what a student wrote to inert content; this is the
second layer, in the TA's browser: on every formgrader page a script runs only when it carries the
page's nonce, and only the ``<script>`` tags of formgrader's own template files carry it (the
notebook's cells are rendered by nbconvert's templates, never given one). Inline event handlers run
only when they are one of the handlers written in formgrader's templates (their hashes); no plugin,
frame, form target elsewhere or ``<base>``; images only from the server or ``data:``.

How: a Jupyter server extension (``make lab`` loads it through ``autograde/jupyter_server_config.py``).
When the server starts it wraps the loaders of formgrader's two template environments so that each
``<script`` of formgrader's own files gets ``nonce="<placeholder>"``; an output transform replaces the
placeholder with a fresh nonce in every HTML response under ``/formgrader`` and adds the policy. The
placeholder is a random secret of this server process, of the nonce's length (Content-Length holds).
Anything that goes wrong fails closed: a page whose scripts lack the nonce still gets the policy.

Example (what ``make lab`` runs):
    jupyter lab --config=autograde/jupyter_server_config.py
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path

from tornado.web import OutputTransform

PLACEHOLDER = secrets.token_urlsafe(16)  # never sent: every response replaces it
HANDLER = re.compile(r"""\son[a-z]+\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
SCRIPT = re.compile(r"<script\b", re.I)


def template_dir() -> Path:
    """formgrader's own templates (its pages and its notebook template ``formgrade/``)."""
    from nbgrader.server_extensions.formgrader import handlers

    return Path(handlers.template_path).resolve()


def handler_hashes(root: Path) -> list[str]:
    """CSP hashes of the inline event handlers written in formgrader's templates (static ones only).

    Example:
        >>> all(h.startswith("'sha256-") for h in handler_hashes(template_dir()))
        True
    """
    found = set()
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".tpl", ".j2", ".html"):
            for m in HANDLER.finditer(f.read_text()):
                code = m.group(1) if m.group(1) is not None else m.group(2)
                if "{{" not in code and "{%" not in code:
                    found.add(code)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(c.encode()).digest()).decode()}'" for c in sorted(found)]


def policy(nonce: str, handlers: list[str]) -> str:
    """The policy of one formgrader page."""
    scripts = " ".join([f"'nonce-{nonce}'", "'unsafe-hashes'", *handlers])
    return (
        f"default-src 'self'; script-src {scripts}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'"
    )


class NonceLoader:
    """A jinja loader that gives each ``<script`` of formgrader's own files the placeholder nonce."""

    def __init__(self, inner, root: Path):
        self.inner, self.root = inner, root

    def get_source(self, environment, template):
        source, filename, uptodate = self.inner.get_source(environment, template)
        if filename and Path(filename).resolve().is_relative_to(self.root):
            source = SCRIPT.sub(f'<script nonce="{PLACEHOLDER}"', source)
        return source, filename, uptodate

    def __getattr__(self, name):  # list_templates, load ... (jinja's BaseLoader.load calls get_source)
        return getattr(self.inner, name)

    def load(self, environment, name, globals=None):
        from jinja2 import BaseLoader

        return BaseLoader.load(self, environment, name, globals)


def transform(prefix: str, handlers: list[str]) -> type[OutputTransform]:
    """The output transform: the policy and a fresh nonce on every HTML page under ``prefix``."""
    token = PLACEHOLDER.encode()

    class Policy(OutputTransform):
        def __init__(self, request):
            self.on = request.path.startswith(prefix)
            self.nonce = b""

        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            if self.on and headers.get("Content-Type", "").startswith("text/html"):
                self.nonce = secrets.token_urlsafe(16).encode()
                headers.add("Content-Security-Policy", policy(self.nonce.decode(), handlers))
                headers["Cache-Control"] = "no-store"  # a cached page would carry a stale nonce
                headers.pop("Etag", None)
            return status_code, headers, self.transform_chunk(chunk, finishing)

        def transform_chunk(self, chunk, finishing):
            return chunk.replace(token, self.nonce) if self.nonce else chunk

    return Policy


def _load_jupyter_server_extension(serverapp) -> None:
    base = serverapp.web_app.settings.get("base_url", "/")
    prefix = base.rstrip("/") + "/formgrader"
    serverapp.web_app.add_transform(transform(prefix, handler_hashes(template_dir())))
    serverapp.log.info("formgrader pages: Content-Security-Policy with a nonce per page")


async def _start_jupyter_server_extension(serverapp) -> None:
    """After every extension has loaded (formgrader included): nonce formgrader's own scripts."""
    settings, root = serverapp.web_app.settings, template_dir()
    env = settings.get("nbgrader_jinja2_env")
    exporter = settings.get("nbgrader_exporter")
    if env is None or exporter is None:
        serverapp.log.warning("formgrader is not loaded: its pages keep the policy and run no script")
        return
    for e in (env, exporter.environment):
        e.loader = NonceLoader(e.loader, root)
        if e.cache is not None:
            e.cache.clear()  # nothing rendered before the nonce


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "autograde.labcsp"}]
