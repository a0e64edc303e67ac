"""Nothing a student leaves in the sandbox reaches the next one: one worker grades, in turn, an honest
student, a cheat, an honest student, another cheat ... (HW0, bubblewrap, ``workers=1``).

The cheats plant read-only folders of modules that shadow ``wave``/``shelve``/``statistics`` (stdlib modules the zygote has not imported), ``torch``, ``course_utils``
(with fifos, sockets, hard links, paths longer than PATH_MAX, ``.pth`` and ``sitecustomize`` files)
in every writable place; fill every place they can write; signal, re-limit and reschedule the zygote,
pid 1 and every process they see, in every way the kernel offers; leave threads writing files behind.
Each honest student prints what it found (its /tmp, /dev/shm, folder, sys.path, environment, open
files, signal handlers, the zygote it was forked from) and must get full marks; what the honest
students saw is compared with what the first one saw, before any cheat ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autograde import grade as G
from autograde import sandbox
from autograde.mock_submissions import filled, load

A = "01_hw0_warmup"
LIMITS = {"cell": 8, "notebook": 60, "memory_mb": 1536, "output_kb": 256, "tmp_mb": 64, "shm_mb": 8}
pytestmark = pytest.mark.skipif(not sandbox.have_bwrap(), reason="bubblewrap cannot run here")

# what an honest student prints first: everything the last student could have left
REPORT = r"""
import os, sys, json, signal
import wave, statistics  # not imported by the zygote: the planter's modules shadow them if they survived
def _ls(d):
    try:
        return sorted(os.listdir(d))
    except OSError as e:
        return [type(e).__name__]
def _proc(name):
    try:
        return open(f'/proc/{os.getppid()}/{name}').read()
    except OSError as e:
        return type(e).__name__
def _fd(f):
    try:
        return ''.join(c for c in os.readlink('/proc/self/fd/' + f) if not c.isdigit())
    except OSError:
        return None  # the listing's own descriptor
_fds = sorted(x for x in map(_fd, os.listdir('/proc/self/fd')) if x)
print('SEEN ' + json.dumps({
    'tmp': _ls('/tmp'), 'shm': _ls('/dev/shm'), 'cwd': os.getcwd(), 'here': _ls('.'), 'home': _ls(os.path.expanduser('~')),
    'path': sys.path, 'env': dict(os.environ), 'fds': _fds,
    'signals': {str(s): str(signal.getsignal(s)) for s in sorted(signal.valid_signals()) if s not in (9, 19)},
    'nice': os.getpriority(os.PRIO_PROCESS, 0), 'cpus': sorted(os.sched_getaffinity(0)),
    'zygote': _proc('stat').split()[21:22], 'zygote_limits': _proc('limits'),
    'oom': open('/proc/self/oom_score_adj').read(), 'autogroup': open('/proc/self/autogroup').read(),
    'files': [wave.__file__, statistics.__file__],
    'from_tmp': [p for p in sys.path if p.startswith(('/tmp', '/dev')) and p != os.getcwd()
                 and (os.access(p, os.W_OK) or not os.path.exists(p))],  # the course's mounts are read-only
}))
"""

PLANT = r"""
import os, socket
done = []
def _try(what, f):
    try:
        f()
        done.append(what)
    except OSError:
        pass
EVIL = 'import os\nos._exit(3)\n'
def plant(d):
    _try('dir', lambda: os.makedirs(d, exist_ok=True))
    for m in ('wave', 'shelve', 'sqlite3', 'statistics', 'torch', 'numpy', 'course_utils', 'sitecustomize', 'usercustomize'):
        _try('module', lambda: open(os.path.join(d, m + '.py'), 'w').write(EVIL))
    _try('pth', lambda: open(os.path.join(d, 'evil.pth'), 'w').write('import os; os._exit(3)\n'))
    _try('pycache', lambda: os.makedirs(os.path.join(d, '__pycache__', 'x'), exist_ok=True))
    _try('fifo', lambda: os.mkfifo(os.path.join(d, 'fifo')))
    _try('socket', lambda: socket.socket(socket.AF_UNIX).bind(os.path.join(d, 'sock')))
    _try('hardlink', lambda: os.link(os.path.join(d, 'wave.py'), os.path.join(d, 'hardlink')))
    _try('symlink', lambda: os.symlink('/tmp', os.path.join(d, 'loop')))
    _try('chmod', lambda: open(os.path.join(d, 'locked.py'), 'w').write(EVIL))
    _try('chmod', lambda: os.chmod(os.path.join(d, 'locked.py'), 0))
    _try('chmod', lambda: os.chmod(os.path.join(d, '__pycache__'), 0))
def deep(d, n=300):
    here = os.getcwd()
    os.chdir(d)
    for i in range(n):  # 300 levels of 200-character names: 60,000 characters, far over PATH_MAX
        os.mkdir('d' * 200)
        os.chdir('d' * 200)
    open('wave.py', 'w').write(EVIL)
    for i in range(n):
        os.chdir('..')
        os.chmod('d' * 200, 0o500)
    os.chdir(here)
    done.append('deep')
work = os.getcwd()
for d in (work + '/pkg', work + '/.mpl', work + '/.local/lib/python3.11/site-packages', '/tmp/.local/lib/python3.11/site-packages',
          '/tmp/student', '/tmp/sub', '/dev/shm/sub', '/dev/shm'):
    plant(d)
_try('mplrc', lambda: open(work + '/.mpl/matplotlibrc', 'w').write('backend: nonexistent\n'))
_try('deep', lambda: deep('/tmp'))
_try('deep', lambda: deep('/dev/shm', 30))
plant(work)
for d in ('/tmp/sub', '/dev/shm/sub', work):
    _try('readonly', lambda: os.chmod(d, 0o500))
_try('readonly', lambda: os.chmod('/dev/shm', 0o500))
_try('readonly', lambda: os.chmod('/tmp', 0o500))
print('PLANTED ' + ' '.join(sorted(set(done))))
"""

FILL = r"""
import os, json
wrote, stopped = {}, {}
mounts = {line.split()[4] for line in open('/proc/self/mountinfo')}
chunk = b'x' * (4 << 20)
for d in sorted(mounts | {'/', '/root', '/work', '/usr/lib', '/etc'}):
    n, i = 0, 0
    try:
        while n < (400 << 20):  # beyond any limit of the sandbox
            with open(os.path.join(d, f'fill{i}'), 'wb') as f:
                for _ in range(8):
                    f.write(chunk)
                    f.flush()
                    n += len(chunk)
            i += 1
        stopped[d] = 'no limit'
    except OSError as e:
        stopped[d] = os.strerror(e.errno)
    wrote[d] = n >> 20
writable = []
for top in sorted(mounts | {'/'}):
    for d, dirs, _ in os.walk(top):
        if d.startswith('/proc') or d.count('/') > 4:
            dirs[:] = []
            continue
        try:
            os.close(os.open(os.path.join(d, '.w'), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
            writable.append(d)
            os.unlink(os.path.join(d, '.w'))
        except OSError:
            pass
print('FILLED ' + json.dumps({'wrote': wrote, 'stopped': stopped, 'writable': sorted(set(writable))}))
"""

SIGNALS = r"""
import ctypes, os, platform, signal, socket, fcntl, json, struct
libc = ctypes.CDLL(None, use_errno=True)
X86 = platform.machine() == 'x86_64'
NR = dict(zip(('kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_open', 'pidfd_send_signal',
               'prlimit64', 'setpriority', 'sched_setaffinity', 'sched_setscheduler', 'ptrace', 'process_vm_writev', 'ioprio_set'),
              (62, 200, 234, 129, 297, 434, 424, 302, 141, 203, 144, 101, 311, 251) if X86 else
              (129, 130, 131, 138, 240, 434, 424, 261, 140, 122, 119, 117, 271, 30)))
info = ctypes.create_string_buffer(128)
struct.pack_into('iii', info, 0, 9, 0, -1)  # SIGKILL, SI_QUEUE
zero = ctypes.create_string_buffer(64)
mask = ctypes.create_string_buffer(b'\x01' + b'\x00' * 127)
def call(name, *args):
    r = libc.syscall(NR[name], *[ctypes.c_long(a) for a in args])
    return 'DONE' if r >= 0 else os.strerror(ctypes.get_errno())
targets = {os.getppid(), 1} | {int(p) for p in os.listdir('/proc') if p.isdigit()}
targets.discard(os.getpid())
got = {}
for pid in sorted(targets) + [0, -1]:
    got[f'kill {pid}'] = call('kill', pid, 9)
for pid in sorted(targets):
    got[f'tkill {pid}'] = call('tkill', pid, 9)
    got[f'tgkill {pid}'] = call('tgkill', pid, pid, 9)
    got[f'rt_sigqueueinfo {pid}'] = call('rt_sigqueueinfo', pid, 9, ctypes.addressof(info))
    got[f'rt_tgsigqueueinfo {pid}'] = call('rt_tgsigqueueinfo', pid, pid, 9, ctypes.addressof(info))
    got[f'pidfd_open {pid}'] = call('pidfd_open', pid, 0)
    got[f'prlimit64 {pid}'] = call('prlimit64', pid, 7, ctypes.addressof(zero), 0)  # RLIMIT_NOFILE 0
    got[f'setpriority {pid}'] = call('setpriority', 0, pid, 19)
    got[f'sched_setaffinity {pid}'] = call('sched_setaffinity', pid, 128, ctypes.addressof(mask))
    got[f'sched_setscheduler {pid}'] = call('sched_setscheduler', pid, 5, ctypes.addressof(zero))  # SCHED_IDLE
    got[f'ioprio_set {pid}'] = call('ioprio_set', 1, pid, 7 | (3 << 13))
    got[f'ptrace {pid}'] = call('ptrace', 16, pid, 0, 0)  # PTRACE_ATTACH
got['setpriority pgrp'] = call('setpriority', 1, 0, 19)
got['setpriority user'] = call('setpriority', 2, 0, 19)
got['pidfd_send_signal'] = call('pidfd_send_signal', 3, 9, 0, 0)
a, b = socket.socketpair()
for what, f in (('F_SETOWN', lambda: fcntl.fcntl(a, fcntl.F_SETOWN, os.getppid())),
                ('F_SETSIG', lambda: fcntl.fcntl(a, 10, signal.SIGKILL)),
                ('FIOSETOWN', lambda: fcntl.ioctl(a, 0x8901, struct.pack('i', os.getppid()))),
                ('SIOCSPGRP', lambda: fcntl.ioctl(a, 0x8902, struct.pack('i', os.getppid())))):
    try:
        f()
        got[what] = 'DONE'
    except OSError as e:
        got[what] = os.strerror(e.errno)
fcntl.fcntl(a, fcntl.F_SETFL, fcntl.fcntl(a, fcntl.F_GETFL) | os.O_ASYNC)
b.send(b'x')  # SIGIO (or SIGKILL) to the owner, had it been set
written = []  # the zygote's /proc files that its owner may write: made the first to be killed, the slowest
for name, value in (('oom_score_adj', '1000'), ('oom_adj', '15'), ('autogroup', '19'), ('timerslack_ns', '999999999')):
    try:
        with open(f'/proc/{os.getppid()}/{name}', 'w') as f:
            f.write(value)
        written.append(name)
    except OSError:
        pass
print('SIGNALLED ' + json.dumps(got))
print('WRITTEN ' + ' '.join(written))
"""

THREADS = r"""
import ctypes, os, platform, threading, time
def litter(i):
    n = 0
    while True:
        for d in ('/tmp', '/dev/shm'):
            try:
                open(f'{d}/t{i}_{n}', 'w').write('x')
            except OSError:
                pass
        try:
            os.fork()
        except OSError:
            pass
        n += 1
        time.sleep(0.005)
for i in range(4):
    threading.Thread(target=litter, args=(i,), daemon=True).start()
time.sleep(0.2)
print('LITTERING 4 threads')
"""
# the next cell: the main thread ends alone (SYS_exit, not exit_group), the littering threads go on
MAIN_EXITS = "import ctypes, platform\nctypes.CDLL(None).syscall(60 if platform.machine() == 'x86_64' else 93, 0)\n"

CHEATS = {"a1plant": PLANT, "a3fill": FILL, "a5signals": SIGNALS, "a7threads": THREADS}
# the course's own folders the sandbox mounts read-only; where they lie under /tmp (a checkout there),
# the folders leading to them are in the sandbox's /tmp too, and legitimately on sys.path
MOUNTED = [Path(__file__).resolve().parent.parent, Path(sys.prefix).resolve(), Path(sys.prefix).absolute()]
TMP_EXPECTED = sorted({"student"} | {p.parts[2] for p in MOUNTED if p.is_relative_to("/tmp") and len(p.parts) > 2})


def _ours(path: str) -> bool:
    return not path.startswith("/tmp") or any(Path(path).is_relative_to(m) for m in MOUNTED)


HONEST = ("a0honest", "a2honest", "a4honest", "a6honest", "a8honest")


def _printed(res, marker: str) -> str:
    texts = [
        o.get("text", "") for outs in res.outcome.outputs.values() for o in outs if o.get("output_type") == "stream"
    ]
    lines = [line for t in texts for line in t.splitlines() if line.startswith(marker + " ")]
    assert lines, f"{res.student} printed no {marker} line: {texts} {res.notes} {res.problem}"
    return lines[-1][len(marker) + 1 :]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    subs = root / "subs"
    subs.mkdir()
    source, release = load(A)
    stub = next(
        "".join(c["source"])
        for c in release["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu_impl"
    )
    for name in HONEST:
        nb = filled(source, release)
        nb["cells"].insert(
            0, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": REPORT}
        )
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    for name, code in CHEATS.items():
        replace = {"relu_impl": stub + "\n" + code} | ({"sigmoid_impl": MAIN_EXITS} if code is THREADS else {})
        nb = filled(source, release, fill=set(), replace=replace)
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    results = G.grade(A, subs, out=root / "out", workers=1, sandbox="bwrap", quiet=True, limits=LIMITS)
    return {r.student: r for r in results}


def test_every_student_has_a_row_and_the_deserved_score(graded):
    expected = {**{s: 8 for s in HONEST}, **{s: 0 for s in CHEATS}}
    got = {s: r.total for s, r in graded.items()}
    assert got == expected, {s: (r.messages, r.notes, r.problem) for s, r in graded.items() if got[s] != expected[s]}


def test_the_planter_planted_and_the_next_students_found_nothing(graded):
    planted = set(_printed(graded["a1plant"], "PLANTED").split())
    assert {"module", "pth", "fifo", "socket", "hardlink", "deep", "readonly", "chmod"} <= planted, planted
    first = json.loads(_printed(graded["a0honest"], "SEEN"))
    assert first["tmp"] == TMP_EXPECTED and first["shm"] == [] and first["here"] == [], first
    assert all(_ours(p) or p == first["cwd"] for p in first["path"]), first["path"]
    assert all(not f.startswith(("/tmp", "/dev")) for f in first["files"]) and not first["from_tmp"], first
    for s in HONEST[1:]:
        seen = json.loads(_printed(graded[s], "SEEN"))
        for key in ("tmp", "shm", "cwd", "here", "home", "path", "env", "fds", "signals", "files", "from_tmp"):
            assert seen[key] == first[key], (s, key, seen[key], first[key])


def test_writes_stop_at_the_limits_everywhere(graded):
    filled_ = json.loads(_printed(graded["a3fill"], "FILLED"))
    wrote, stopped = filled_["wrote"], filled_["stopped"]
    assert 0 < wrote["/tmp"] <= LIMITS["tmp_mb"] and stopped["/tmp"] == "No space left on device", filled_
    assert 0 < wrote["/dev/shm"] <= LIMITS["shm_mb"] and stopped["/dev/shm"] == "No space left on device", filled_
    others = {d: (wrote[d], stopped[d]) for d in wrote if d not in ("/tmp", "/dev/shm")}
    assert "/" in others and "/dev" in others and all(n == 0 for n, _ in others.values()), others
    assert stopped["/"] == stopped["/dev"] == "Read-only file system", others
    assert all(d.startswith(("/tmp", "/dev/shm")) for d in filled_["writable"]), filled_["writable"]


def test_signals_to_other_processes_are_refused_and_the_next_student_meets_the_same_zygote_settings(graded):
    got = json.loads(_printed(graded["a5signals"], "SIGNALLED"))
    assert len(got) > 20 and any(k.startswith("rt_sigqueueinfo") for k in got)
    assert not [k for k, v in got.items() if v == "DONE"], got
    seen = [json.loads(_printed(graded[s], "SEEN")) for s in HONEST]
    # the same zygote, or a new sandbox when the last student left it changed (grading manual: never a dirty one):
    # either way every honest student meets the first one's settings
    for x in seen:  # a new sandbox is a new session: its autogroup has another number, the same nice
        x["autogroup"] = x["autogroup"].split("nice")[-1].strip()
    for key in ("zygote_limits", "nice", "cpus", "oom", "autogroup"):
        assert all(x[key] == seen[0][key] for x in seen), (key, [x[key] for x in seen])
    zygotes = [x["zygote"] for x in seen]
    assert len({tuple(z) for z in zygotes}) <= 2 and zygotes[:3] == [zygotes[0]] * 3, zygotes
    assert seen[0]["zygote"] and "Max open files" in seen[0]["zygote_limits"]


def test_threads_left_behind_are_stopped_with_their_process(graded):
    res = graded["a7threads"]
    assert _printed(res, "LITTERING") == "4 threads"
    assert any("did not stop" in n or "interrupted" in n for n in res.notes), res.notes
    after = json.loads(_printed(graded["a8honest"], "SEEN"))
    assert after["tmp"] == TMP_EXPECTED and after["shm"] == [], after


def test_a_later_batch_takes_the_warm_sandbox_and_finds_it_as_the_first_student_did(graded, tmp_path):
    """A batch leaves its grader warm (``worker.give_back``): the next batch in this process takes that
    very grader (its trusted runner still running; its sandbox the one the cheats above left, or a new
    one where the last of them left it dirty), and its honest student sees what the first one saw."""
    from autograde import worker

    warm = [w for pool in worker._warm.values() for w in pool if w.lim.get("tmp_mb") == LIMITS["tmp_mb"]]
    assert len(warm) == 1 and warm[0].trusted.alive(), warm
    pid = warm[0].trusted.proc.pid
    subs = tmp_path / "subs"
    subs.mkdir()
    source, release = load(A)
    nb = filled(source, release)
    nb["cells"].insert(
        0, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": REPORT}
    )
    (subs / "later.ipynb").write_text(json.dumps(nb))
    (later,) = G.grade(A, subs, out=tmp_path / "out", workers=1, sandbox="bwrap", quiet=True, limits=LIMITS)
    assert later.total == 8, (later.messages, later.notes, later.problem)
    after = [w for pool in worker._warm.values() for w in pool if w.lim.get("tmp_mb") == LIMITS["tmp_mb"]]
    assert after == warm and warm[0].trusted.alive() and warm[0].trusted.proc.pid == pid  # taken, given back
    first, seen = json.loads(_printed(graded["a0honest"], "SEEN")), json.loads(_printed(later, "SEEN"))
    for key in ("tmp", "shm", "cwd", "here", "home", "path", "env", "fds", "signals", "files", "from_tmp"):
        assert seen[key] == first[key], (key, seen[key], first[key])
