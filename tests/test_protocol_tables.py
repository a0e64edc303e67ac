"""The manual's message table and the code agree; every message the grader sends is registered, and used."""

from __future__ import annotations

import io
import pathlib
import re

import pytest

from autograde import messages, wire

ROOT = pathlib.Path(__file__).resolve().parents[1]
# A wire message's name, as the code writes it: {"m": "run", ...}, dict(h, m="ask"), msg["m"] == "end".
SENT = re.compile(r"""(?:["']m["']\s*:\s*|\bm=)["'](\w+)["']""")

# A dispatcher's test of one: msg["m"] == "end", msg.get("m") != "ready", kind in ("value", "error").
READ = re.compile(r"""(?:\[["']m["']\]|\.get\(["']m["']\))\s*(?:[!=]=|(?:not )?in)\s*\(?((?:["']\w+["'],?\s*)+)""")
# The zygote's control lines (sandbox.py <-> student_runner.py), JSON lines outside the wire protocol.
CONTROL = {"ready", "start", "started", "dirty", "interrupt", "reap", "reaped"}


def test_every_message_dispatched_on_is_registered():
    bad = {}
    for path in sorted((ROOT / "autograde").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for group in READ.findall(line):
                for name in re.findall(r"\w+", group):
                    if name not in messages.MESSAGES and name not in CONTROL:
                        bad[name] = f"{path.name}:{n}"
    assert not bad, f"dispatch on unregistered messages: {bad}"


def _sent_names() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "autograde").glob("*.py")):
        if path.name == "sandbox.py":  # the zygote's control lines (start, reap, ...) are not wire frames
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "ctl." in line:  # student_runner's side of the same control lines
                continue
            for name in SENT.findall(line):
                found.setdefault(name, f"{path.name}:{n}")
    return found


def test_doc_table_is_the_registry():
    doc = (ROOT / "docs" / "grading.md").read_text()
    block = re.search(r"<!-- messages:start -->\n(.*?)\n<!-- messages:end -->", doc, re.S)
    assert block, "docs/grading.md lacks the messages markers"
    assert block.group(1) == messages.table(), "run `python -m autograde.messages` and paste its table"


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
