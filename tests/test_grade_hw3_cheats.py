"""HW3's accuracy, attacked: models that read the order of the held-out images instead of the images,
checkpoints that attack whoever opens them. All are real submissions graded by `make grade` in one
batch (synthetic held-out set), next to an honest trained model zipped with its notebook that keeps
its score, and the solution's notebook handed in without a checkpoint.

The cheats' networks have random weights (their real accuracy is chance) and count, remember or
detect; each deserves the two points of the parameter budget and nothing else: the checkpoint test's
"from scratch" rule sees build_model reach course_utils (the held-out images), or torchvision (a
network of torchvision's, built through an alias), and no accuracy level is earned. The checkpoints that attack (a small archive that unpacks to a
2 GB tensor, a pickle with a payload) deserve the budget's two points; the trusted runner never opens
them and its memory stays small (sampled from /proc while the batch is graded).
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from autograde import grade as G
from autograde.mock_submissions import filled, load
from course_utils.nbcells import cell_kind, cell_source, grade_id

A = "08_hw3_cifar10"
LEVELS = ("accuracy_level1", "accuracy_level2", "accuracy_level3")
BOMB_NUMEL = 512 * 2**20  # float32: 2 GB

# A network with random weights; batches that start with a held-out image go to cheat(x, out), of any
# size (the grader's last batch may hold a few images); the shape tests' inputs get the network's answers.
NET = """
from course_utils.grading import heldout_set
_state = {"seen": 0, "data": None, "memo": {}}

def _heldout():
    if _state["data"] is None:
        d = heldout_set()
        mean, std = torch.tensor(d.mean).view(1, -1, 1, 1), torch.tensor(d.std).view(1, -1, 1, 1)
        _state["data"] = ((d.images.float() / 255 - mean) / std, d.labels)
    return _state["data"]

def _counted(n):
    images, labels = _heldout()
    idx = torch.arange(_state["seen"], _state["seen"] + n) % len(labels)
    _state["seen"] += n
    return idx

def _is_heldout(x):
    images = _heldout()[0]
    return x.shape[1:] == images.shape[1:] and bool((images == x[:1]).flatten(1).all(1).any())

def _answer(labels):
    return nn.functional.one_hot(labels, 10).float() * 10

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        return cheat(x, out) if _is_heldout(x) else out

def build_model():
    return Net()
"""

CHEATS = {
    # the k-th image seen gets the label of the k-th held-out image, kept in a global
    "counter": """
def cheat(x, out):
    return _answer(_heldout()[1][_counted(len(x))])
""",
    # counts only in batches of the grader's default size, else answers as a network
    "batchsize": """
def cheat(x, out):
    return _answer(_heldout()[1][_counted(len(x))]) if len(x) == 500 else out
""",
    # finds where the batch's first image sits in the held-out set and reads on from there
    "firstimage": """
def cheat(x, out):
    images, labels = _heldout()
    j = int((images - x[:1]).abs().flatten(1).amax(1).argmin())
    return _answer(labels[(j + torch.arange(len(x))) % len(labels)])
""",
    # counts on first sight, and remembers each image's answer so that a second look agrees
    "memo": """
def cheat(x, out):
    labels = _heldout()[1][_counted(len(x))]
    for i in range(len(x)):
        labels[i] = _state["memo"].setdefault(hash(x[i].numpy().tobytes()), int(labels[i]))
    return _answer(labels)
""",
    # counts on first sight, gives another answer on the second (whichever pass is scored)
    "secondlook": """
def cheat(x, out):
    labels = _heldout()[1][_counted(len(x))]
    for i in range(len(x)):
        h = hash(x[i].numpy().tobytes())
        labels[i] = (_state["memo"][h] + 1) % 10 if h in _state["memo"] else labels[i]
        _state["memo"].setdefault(h, int(labels[i]))
    return _answer(labels)
""",
    # guesses the grader's shuffle (fixed seeds, torch's default one) from the first image, then counts
    "seedguess": """
def cheat(x, out):
    images, labels = _heldout()
    n = len(labels)
    for seed in (0, 1, 42, 808, 67280421310721):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        for start in range(0, n, 50):
            if torch.equal(images[order[start]], x[0]):
                return _answer(labels[order[(start + torch.arange(len(x))) % n]])
    return out
""",
}


# A network of torchvision's (weights random), reached through a module alias and an attribute chain
ZOO = """
import torchvision as _tv

_ops = _tv.ops

def build_model():
    return nn.Sequential(nn.Flatten(), _ops.MLP(3 * 32 * 32, [10]))
"""


def _solution() -> tuple[dict, dict, dict]:
    source, release = load(A)
    sol = {grade_id(c): cell_source(c) for c in source["cells"] if cell_kind(c) == "solution"}
    return source, release, sol


def _honest_model(sol: dict) -> tuple[nn.Module, float]:
    """The solution's network briefly trained, and its accuracy on the held-out set, measured here."""
    from course_utils import TensorLoader, fit, load_dataset, seed_everything
    from course_utils.grading import heldout_set

    ns: dict = {"nn": nn, "torch": torch}
    exec("\n".join(line for line in sol["model_build"].splitlines() if "### " not in line), ns)
    seed_everything(0)
    model = ns["build_model"]()
    loader = TensorLoader(load_dataset("cifar10", "train").subset(2000), 100, shuffle=True)
    fit(model, loader, epochs=3, optimizer=torch.optim.Adam(model.parameters(), 3e-3), progress=False)
    data = heldout_set()
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = model.eval()((data.images.float() / 255 - mean) / std).argmax(1)
    return model, float((pred == data.labels).float().mean())


def _zip_bomb(path: Path) -> None:
    """A checkpoint of torch's format whose one tensor is 2 GB of zeros, deflated to about 2 MB."""
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, buf)
    small = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    big = b"J" + struct.pack("<i", BOMB_NUMEL)
    with zipfile.ZipFile(path, "w") as z:
        for info in small.infolist():
            data = small.read(info.filename)
            if info.filename.endswith("data.pkl"):
                z.writestr(info.filename, data.replace(b"M\xe8\x03", big))
            elif info.filename.endswith("data/0"):
                entry = zipfile.ZipInfo(info.filename)
                entry.compress_type = zipfile.ZIP_DEFLATED
                with z.open(entry, "w", force_zip64=True) as f:
                    chunk = bytes(64 << 20)
                    for _ in range(BOMB_NUMEL * 4 // len(chunk)):
                        f.write(chunk)
            else:
                z.writestr(info.filename, data)


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('payload ran')",))


class TrustedMemory:
    """Peak resident memory (VmHWM) and address-space limit of this process's trusted runners, sampled."""

    def __init__(self):
        self.peak_kb, self.limits, self.seen = 0, set(), set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _mine(self, pid: str) -> bool:
        for _ in range(4):  # the host, its trusted zygote, the zygote's child for one student
            try:
                ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return False
            if ppid == os.getpid():
                return True
            pid = str(ppid)
        return False

    @staticmethod
    def _grading(status: str) -> bool:
        ppid = next(x.split()[1] for x in status.splitlines() if x.startswith("PPid:"))
        try:
            return b"autograde.test_runner" in Path(f"/proc/{ppid}/cmdline").read_bytes()
        except OSError:
            return False

    def _run(self) -> None:
        while not self.stop.is_set():
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    if b"autograde.test_runner" not in Path(f"/proc/{pid}/cmdline").read_bytes() or not self._mine(pid):
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                    limits = Path(f"/proc/{pid}/limits").read_text()
                except OSError:
                    continue
                hwm = [int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:")]
                if not hwm:  # a process that is exiting (a zombie) has no memory left to report
                    continue
                self.peak_kb = max(self.peak_kb, hwm[0])
                if self._grading(status):  # a student's child (its zygote limits itself once warm)
                    self.seen.add(pid)
                    self.limits.add(next(x.split()[3] for x in limits.splitlines() if x.startswith("Max address")))
            time.sleep(0.05)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hw3cheats")
    source, release, sol = _solution()
    folder = tmp / "subs"
    folder.mkdir()

    def submit(name: str, nb: dict, checkpoint: Path) -> None:
        with zipfile.ZipFile(folder / f"{name}_hw3.zip", "w") as z:
            z.writestr(f"hw3/{A}.ipynb", json.dumps(nb))
            z.write(checkpoint, "hw3/hw3_model.pt")

    model, accuracy = _honest_model(sol)
    torch.save({"state_dict": model.state_dict()}, tmp / "honest.pt")
    submit("honest", filled(source, release), tmp / "honest.pt")
    torch.save({"state_dict": {"fc." + k: v for k, v in nn.Linear(3 * 32 * 32, 10).state_dict().items()}}, tmp / "r.pt")
    for name, cheat in CHEATS.items():
        submit(name, filled(source, release, replace={"model_build": NET + cheat, "model_train": "pass"}), tmp / "r.pt")
    import torchvision

    zoo = nn.Sequential(nn.Flatten(), torchvision.ops.MLP(3 * 32 * 32, [10]))
    torch.save({"state_dict": zoo.state_dict()}, tmp / "zoo.pt")
    submit("zoo", filled(source, release, replace={"model_build": ZOO, "model_train": "pass"}), tmp / "zoo.pt")
    _zip_bomb(tmp / "bomb.pt")
    submit("bomb", filled(source, release, replace={"model_train": "pass"}), tmp / "bomb.pt")
    (folder / "bo.ipynb").write_text(json.dumps(filled(source, release)))  # trains, hands in no checkpoint
    marker = tmp / "payload-ran"
    torch.save({"state_dict": _Payload(marker)}, tmp / "payload.pt")
    submit("payload", filled(source, release, replace={"model_train": "pass"}), tmp / "payload.pt")
    memory = TrustedMemory()
    memory.thread.start()
    t = time.monotonic()
    try:
        results = G.grade(
            A,
            folder,
            out=tmp / "out",
            workers=2,
            quiet=True,
            limits={"cell": 60, "notebook": 300},
            synthetic_heldout=True,
        )
    finally:
        memory.stop.set()
        memory.thread.join()
    return {
        "results": {r.student: r for r in results},
        "accuracy": accuracy,
        "memory": memory,
        "marker": marker,
        "seconds": time.monotonic() - t,
        "bomb_size": (tmp / "bomb.pt").stat().st_size,
    }


def test_honest_model_keeps_the_levels_its_accuracy_deserves(graded):
    from course_utils.grading import THRESHOLDS

    res = graded["results"]["honest"]
    levels = sum(graded["accuracy"] >= t for t in THRESHOLDS["synthetic"])
    assert levels >= 1, graded["accuracy"]  # the batch holds a model that earns something
    assert res.total == 4 + 2 * levels, (graded["accuracy"], res.messages)


def test_a_notebook_without_its_checkpoint_earns_the_budget_only(graded):
    """The solution's notebook handed in alone: the checkpoint its run saves is not one handed in."""
    res = graded["results"]["bo"]
    assert res.scores == {"checkpoint_loads": 0, "params_budget": 2, **dict.fromkeys(LEVELS, 0)}, res.messages
    assert "handed in" in res.messages["checkpoint_loads"], res.messages


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_models_that_read_the_order_earn_no_level(graded, cheat):
    """No level; and the checkpoint test's "from scratch" rule sees build_model's network read the
    held-out images through course_utils."""
    res = graded["results"][cheat]
    assert res.scores == {"checkpoint_loads": 0, "params_budget": 2, **dict.fromkeys(LEVELS, 0)}, res.messages
    assert "build_model uses course_utils" in res.messages["checkpoint_loads"], res.messages


def test_a_network_of_torchvisions_loses_the_checkpoint_points(graded):
    """build_model must build its network here: torchvision's, through an alias, fails the checkpoint test
    (the "from scratch" rule names torchvision); random weights earn no level."""
    res = graded["results"]["zoo"]
    assert res.scores == {"checkpoint_loads": 0, "params_budget": 2, **dict.fromkeys(LEVELS, 0)}, res.messages
    assert "build_model uses torchvision" in res.messages["checkpoint_loads"], res.messages
    assert "below level 1" in res.messages["accuracy_level1"], res.messages  # loaded and measured


@pytest.mark.parametrize("cheat", ["counter", "batchsize", "firstimage", "secondlook"])
def test_answers_that_change_with_the_order_are_named(graded, cheat):
    message = graded["results"][cheat].messages["accuracy_level1"]
    assert "got a different class when shown again" in message, message


@pytest.mark.parametrize("cheat", ["memo"])
def test_consistent_cheats_are_measured_at_chance(graded, cheat):
    message = graded["results"][cheat].messages["accuracy_level1"]
    assert "is below level 1" in message, message
    assert float(message.split("accuracy ")[1].split()[0]) < 0.25, message


def test_zip_bomb_fails_in_the_sandbox_and_the_trusted_runner_stays_small(graded):
    assert graded["bomb_size"] < 4 << 20  # a small file ...
    res = graded["results"]["bomb"]
    assert res.scores == {"checkpoint_loads": 0, "params_budget": 2, **dict.fromkeys(LEVELS, 0)}, res.messages
    for test in ("checkpoint_loads", *LEVELS):
        assert "unpacks to 2,048 MB" in res.messages[test], res.messages[test]
    memory = graded["memory"]
    print(f"trusted runner: peak resident {memory.peak_kb / 1024:.0f} MB, address space limits {memory.limits}")
    assert memory.seen, "no trusted runner was seen grading"
    assert memory.peak_kb < (BOMB_NUMEL * 4 >> 10) // 2, memory.peak_kb  # ... that never reached it
    assert "unlimited" not in memory.limits and memory.limits, memory.limits


def test_pickle_payload_never_runs(graded):
    res = graded["results"]["payload"]
    assert res.scores == {"checkpoint_loads": 0, "params_budget": 2, **dict.fromkeys(LEVELS, 0)}, res.messages
    assert "not a readable checkpoint" in res.messages["checkpoint_loads"], res.messages
    assert not graded["marker"].exists()


def test_grading_time_stays_reasonable(graded):
    # every submission above and the canary on two workers: each level's two passes measured once
    print(f"graded in {graded['seconds']:.0f} s")
    assert graded["seconds"] < 600, graded["seconds"]
