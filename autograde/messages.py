"""The registry of the grader's wire messages: name -> who sends it, to whom, required fields, meaning.

:func:`autograde.wire.send` and :func:`autograde.wire.recv` refuse a header whose ``"m"`` is not
here or lacks a required field; ``python -m autograde.messages`` prints the table that
docs/grading.md carries between its ``messages`` markers (a test checks they agree). Code that
dispatches on a message's name compares it with the constants below (``RAN``), never with a string.
"""

from __future__ import annotations

from typing import NamedTuple


class Message(NamedTuple):
    sender: str
    receiver: str
    fields: tuple[str, ...]
    meaning: str


# The names, for the code that sends and dispatches on them: a misspelt import fails at import, a misspelt
# name at lint (``if msg["m"] == RAN``, never ``== "ran"``; tests/test_protocol_tables.py checks).
READY = "ready"
BEGIN = "begin"
FILES = "files"
RUN = "run"
RAN = "ran"
TEST = "test"
ASK = "ask"
GET = "get"
OP = "op"
FORMULA = "formula"
CALL = "call"
VALUE = "value"
ERROR = "error"
GONE = "gone"
ANSWER = "answer"
VERDICT = "verdict"
END = "end"
ENDED = "ended"
BYE = "bye"

MESSAGES: dict[str, Message] = {
    READY: Message("trusted", "host", (), "the trusted child is up"),
    BEGIN: Message("host", "trusted", ("cells", "work"), "the student's cell sources, the folder of its files"),
    FILES: Message("host", "student", ("files",), "the student's files, as blobs"),
    RUN: Message("host", "student", ("k", "src"), "execute one of the student's cells"),
    RAN: Message("student", "host", ("k", "outputs", "error"), "a cell's nbformat outputs and its error (or null)"),
    TEST: Message("host", "trusted", ("k", "grade_id", "src"), "run the instructor's test cell"),
    ASK: Message("trusted", "host", (), "what a test wants from the student: get/op/formula fields"),
    GET: Message("host", "student", ("name",), "look a name up in the notebook's namespace"),
    OP: Message("host", "student", ("op",), "call|getattr|getitem|len|iter|repr|call_many|call_here on a handle"),
    FORMULA: Message("host", "formula", ("name", "src"), "define a formula function in the torch-free process"),
    CALL: Message("host", "formula", (), "call a formula function"),
    VALUE: Message("student", "host", (), "v: the result, a plain value or a handle (id: a formula function)"),
    ERROR: Message("student", "host", ("ename", "evalue"), "the student's code raised"),
    GONE: Message("host", "trusted", ("why",), "the student's process cannot answer any more"),
    ANSWER: Message("host", "trusted", ("r",), "the student's value/error/gone frame, forwarded"),
    VERDICT: Message("trusted", "host", ("k",), "grade_id, passed, message, hidden (failed in hidden tests)"),
    END: Message("host", "trusted", (), "the trusted child exits"),
    ENDED: Message("trusted", "host", ("status",), "the trusted child's exit status"),
    BYE: Message("host", "student", (), "the student's process exits"),
}

# The zygote's control lines (zygotes.py <-> student_runner.py): JSON lines on the control socket, outside the
# wire protocol (``ready`` as above).
START, STARTED, DIRTY, INTERRUPT, REAP, REAPED = "start", "started", "dirty", "interrupt", "reap", "reaped"
CONTROL: dict[str, str] = {
    READY: "the zygote is up (student_runner -> sandbox)",
    START: "{limits}: fork a child for the socket passed with it (SCM_RIGHTS) (sandbox -> student_runner)",
    STARTED: "{pid}: the child's (student_runner -> sandbox)",
    DIRTY: "instead of started: a writable folder or its settings changed; it ends (student_runner -> sandbox)",
    INTERRUPT: "SIGINT the child: a cell over its time (sandbox -> student_runner)",
    REAP: "SIGKILL the child, wait, empty /tmp and /dev/shm (sandbox -> student_runner)",
    REAPED: "{status, left}: anything left and the zygote ends (student_runner -> sandbox)",
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
