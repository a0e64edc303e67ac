"""The manual's tables (messages, limits) and the code agree; every message the grader sends is registered, and
used; dispatchers use the registry's names; the rules name the sandboxes the code uses."""

from __future__ import annotations

import io
import pathlib
import re

import pytest

from autograde import messages, rules, sandbox, wire
from course_utils import grading

ROOT = pathlib.Path(__file__).resolve().parents[1]
# A wire message's name, as the code writes it: {"m": "run", ...}, dict(h, m="ask"), msg["m"] == "end".
SENT = re.compile(r"""(?:["']m["']\s*:\s*|\bm=)["'](\w+)["']""")

# A dispatcher's test of a message name against a string: msg["m"] == "end", msg.get("m") != "ready",
# kind in ("value", "error") where kind = r.get("m"). Dispatchers use the registry's constants instead.
READ = re.compile(r"""(?:\[["']m["']\]|\.get\(["']m["']\))\s*(?:[!=]=|(?:not )?in)\s*\(?["']""")
TAKEN = re.compile(r"""\b(\w+)\s*=\s*\w+(?:\[["']m["']\]|\.get\(["']m["']\))\s*$""")


def _literal_dispatch(text: str) -> list[str]:
    """Lines of ``text`` that compare a message's name with a string literal."""
    held = {m[1] for m in map(TAKEN.search, text.splitlines()) if m}  # m = msg["m"]
    by_name = re.compile(rf"""\b(?:{"|".join(held) or "(?!)"})\s*(?:[!=]=|(?:not )?in)\s*\(?["']""")
    return [line.strip() for line in text.splitlines() if READ.search(line) or by_name.search(line)]


def test_dispatchers_use_the_registrys_constants():
    bad = {}
    for path in sorted((ROOT / "autograde").glob("*.py")):
        for line in _literal_dispatch(path.read_text()):
            bad.setdefault(path.name, []).append(line)
    assert not bad, f"compare message names with messages.py's constants, not strings: {bad}"


def test_the_dispatch_check_can_fail():
    assert _literal_dispatch('if msg["m"] == "ran":\n    pass') == ['if msg["m"] == "ran":']
    assert _literal_dispatch('kind = r.get("m")\nif kind in ("value", "error"):') == ['if kind in ("value", "error"):']
    assert _literal_dispatch('kind = r.get("m")\nif kind == VALUE:') == []


def test_every_constant_names_its_message():
    consts = {k: v for k, v in vars(messages).items() if k.isupper() and isinstance(v, str)}
    assert all(v == k.lower() for k, v in consts.items()), consts
    assert set(consts.values()) == set(messages.MESSAGES) | set(messages.CONTROL)


def _sent_names() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "autograde").glob("*.py")):
        if path.name == "zygotes.py":  # the zygote's control lines (start, reap, ...) are not wire frames
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "ctl." in line:  # student_runner's side of the same control lines
                continue
            for name in SENT.findall(line):
                found.setdefault(name, f"{path.name}:{n}")
    return found


def test_doc_table_is_the_registry():
    doc = (ROOT / "docs" / "grading.md").read_text()
    assert _between(doc, "messages") == messages.table(), "run `python -m autograde.messages` and paste its table"


def test_every_message_sent_is_registered_and_every_registered_one_sent():
    sent = _sent_names()
    unknown = {n: where for n, where in sent.items() if n not in messages.MESSAGES}
    assert not unknown, f"messages sent but not registered: {unknown}"
    unused = set(messages.MESSAGES) - set(sent)
    assert not unused, f"registered messages nothing sends: {sorted(unused)}"


@pytest.mark.parametrize(
    "header, why", [({"m": "pure"}, "unknown message 'pure'"), ({"m": "run", "k": 0}, "lacks src")]
)
def test_send_and_recv_refuse_what_is_not_registered(header, why):
    with pytest.raises(wire.WireError, match=why):
        wire.send(io.BytesIO(), header)
    # recv reads what a sender that skipped the check would write
    frame = wire.json.dumps(dict(header, blobs=[])).encode()
    sock = io.BytesIO(wire.struct.pack(">I", len(frame)) + frame)
    with pytest.raises(wire.WireError, match=why):
        wire.recv(sock)


# ------------------------------------------------------------------------------------------- limits
def _between(doc: str, marker: str) -> str:
    block = re.search(rf"<!-- {marker}:start -->\n(.*?)\n<!-- {marker}:end -->", doc, re.S)
    assert block, f"docs/grading.md lacks the {marker} markers"
    return block.group(1)


def test_doc_limits_table_is_the_code():
    doc = (ROOT / "docs" / "grading.md").read_text()
    assert _between(doc, "limits") == rules.table(), "run `python -m autograde.rules` and paste its table"


def test_every_option_is_a_limit_and_every_limit_documented():
    assert rules.LIMITS == {k: v.value for k, v in rules.TABLE.items() if v.option}
    assert all(v.unit and v.meaning and (ROOT / "autograde" / f"{v.where}.py").is_file() for v in rules.TABLE.values())


def test_the_manuals_quote_the_defaults():
    """Prose that names an option with its default (`--tmp-mb`, 256; `--memory-mb`, 2 GB) quotes the table."""
    quoted = re.compile(r"`--([a-z-]+)`,? \(?(\d[\d,]*)( GB)?")
    wrong = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for flag, n, gb in quoted.findall(path.read_text()):
            name = flag.replace("-", "_")
            value = int(n.replace(",", "")) * (1024 if gb else 1)
            if name in rules.LIMITS and value != rules.LIMITS[name]:
                wrong.append(f"{path.name}: --{flag} {n}{gb} (the default is {rules.LIMITS[name]})")
    assert not wrong, wrong


def test_course_utils_checkpoint_cap_is_the_submission_cap():
    # course_utils runs in students' kernels, where autograde is not: it keeps its own copy of the number
    assert grading.CHECKPOINT_MB == rules.LIMIT["extra_files_mb"]


def test_the_rules_name_the_sandboxes_the_code_uses():
    """Rule 8, the sandbox's docstring and the manual list the same engines, in the same order; no Docker."""
    shown = {"bwrap": "bubblewrap", "podman": "Podman"}
    rule = next(line for line in rules.__doc__.splitlines() if line.strip().startswith("8."))
    named = re.findall(r"bubblewrap|Podman|Docker", rule)
    assert named == [shown[s] for s in rules.SANDBOXES] + ["Docker"] and "Docker cannot be used" in rule, rule
    backends = re.findall(r"^``(\w+)``", sandbox.__doc__, re.M)
    assert backends == [*rules.SANDBOXES, "unsafe"], backends
    doc = (ROOT / "docs" / "grading.md").read_text()
    assert f"Where neither {' nor '.join(shown[s] for s in rules.SANDBOXES)} " in doc
    assert "Docker cannot hand a container the per-student sockets" in doc and "Docker cannot" in sandbox.__doc__


def test_the_grading_image_holds_every_runner_file():
    doc = (ROOT / "docs" / "grading.md").read_text()
    copied = re.search(r"^COPY (autograde/student_runner\.py .*) /grader/", doc, re.M)
    assert copied, "docs/grading.md lacks the image's COPY line"
    assert copied.group(1).split() == [f"autograde/{f.name}" for f in sandbox.RUNNER_FILES]
