"""The registry of the grader's wire messages: name -> who sends it, to whom, required fields, meaning.

:func:`autograde.wire.send` and :func:`autograde.wire.recv` refuse a header whose ``"m"`` is not
here or lacks a required field; ``python -m autograde.messages`` prints the table that
docs/grading.md carries between its ``messages`` markers (a test checks they agree).
"""

from __future__ import annotations

from typing import NamedTuple


class Message(NamedTuple):
    sender: str
    receiver: str
    fields: tuple[str, ...]
    meaning: str


MESSAGES: dict[str, Message] = {
    "ready": Message("trusted", "host", (), "the trusted child is up"),
    "begin": Message("host", "trusted", ("cells", "work"), "the student's cell sources, the folder of its files"),
    "files": Message("host", "student", ("files",), "the student's files, as blobs"),
    "run": Message("host", "student", ("k", "src"), "execute one of the student's cells"),
    "ran": Message("student", "host", ("k", "outputs", "error"), "a cell's nbformat outputs and its error (or null)"),
    "test": Message("host", "trusted", ("k", "grade_id", "src"), "run the instructor's test cell"),
    "ask": Message("trusted", "host", (), "what a test wants from the student: get/op/formula fields"),
    "get": Message("host", "student", ("name",), "look a name up in the notebook's namespace"),
    "op": Message("host", "student", ("op",), "call|getattr|getitem|len|iter|repr|call_many|call_here on a handle"),
    "formula": Message("host", "formula", ("name", "src"), "define a formula function in the torch-free process"),
    "call": Message("host", "formula", (), "call a formula function"),
    "value": Message("student", "host", (), "v: the result, a plain value or a handle (id: a formula function)"),
    "error": Message("student", "host", ("ename", "evalue"), "the student's code raised"),
    "gone": Message("host", "trusted", ("why",), "the student's process cannot answer any more"),
    "answer": Message("host", "trusted", ("r",), "the student's value/error/gone frame, forwarded"),
    "verdict": Message("trusted", "host", ("k",), "grade_id, passed, message, hidden (failed in hidden tests)"),
    "end": Message("host", "trusted", (), "the trusted child exits"),
    "ended": Message("trusted", "host", ("status",), "the trusted child's exit status"),
    "bye": Message("host", "student", (), "the student's process exits"),
}


def check(header: dict) -> None:
    """Raise ValueError naming what is wrong unless ``header`` is a registered, complete message.

    >>> check({"m": "bye"})
    """
    name = header.get("m")
    spec = MESSAGES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown message {name!r}")
    missing = [f for f in spec.fields if f not in header]
    if missing:
        raise ValueError(f"message {name!r} lacks {', '.join(missing)}")


def table() -> str:
    """The registry as a Markdown table (what docs/grading.md shows)."""
    rows = ["| message | from -> to | required fields | meaning |", "| --- | --- | --- | --- |"]
    for name, s in MESSAGES.items():
        rows.append(f"| `{name}` | {s.sender} -> {s.receiver} | {', '.join(s.fields) or '-'} | {s.meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
