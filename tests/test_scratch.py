# ruff: noqa: E501
"""The "from scratch" rule (course_utils.scratch): each way to ask PyTorch is caught, honest code passes.

The notebook is HW0's released notebook with the instructor's solutions; a cheat is code put in place
of (or after) a solution. Each assertion names the cheat; every one of them must be refused.
"""

from __future__ import annotations

import pytest

from autograde.job import transform
from autograde.mock_submissions import filled, load
from course_utils import scratch
from course_utils.nbcells import grade_id

A = "01_hw0_warmup"
RELU_BAN = ["torch.relu", "torch.relu_", "torch.Tensor.relu", "torch.nn.functional", "torch.nn.ReLU", "torch.clamp",
            "torch.clamp_min", "torch.Tensor.clamp", "torch.Tensor.clamp_min", "torch.clip", "torch.ops"]  # fmt: skip
HONEST_RELU = "def relu(x):\n    return torch.where(x > 0, x, torch.zeros_like(x))\n"


def cells(replace: dict[str, str] | None = None, extra: list[str] = ()) -> list[str]:
    """The code cells of HW0 as a student would hand it in (test cells left out, as the grader does)."""
    source, release = load(A)
    nb = filled(source, release, replace=replace)
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and not (grade_id(c) or "").endswith("_tests")]
    return [transform("".join(c["source"])) for c in code] + [transform(e) for e in extra]


def verdict(relu_cell: str, extra: list[str] = (), banned=RELU_BAN) -> list[str]:
    return scratch.violations(cells({"relu_impl": relu_cell}, extra), "relu", banned)


def test_the_instructors_solutions_pass():
    cs = cells()
    assert scratch.violations(cs, "relu", RELU_BAN) == []
    assert scratch.violations(cs, "softmax", ["torch.softmax", "torch.Tensor.softmax", "torch.nn.functional"]) == []
    assert scratch.violations(cs, "cross_entropy", ["torch.nn.functional", "torch.softmax", "torch.logsumexp"]) == []


def test_honest_variants_pass():
    for code in (
        HONEST_RELU,
        "def relu(x):\n    return x * (x > 0)\n",
        "def relu(x, zero=0.0):\n    '''max(0, x): not torch.relu.'''\n    return torch.maximum(x, torch.tensor(zero))\n",
        "def _pos(x):\n    return x > 0\n\ndef relu(x):\n    return torch.where(_pos(x), x, 0 * x)\n",
    ):
        assert verdict(code) == [], code
    # using torch.relu elsewhere, to compare, is fine: relu does not reach it
    assert verdict(HONEST_RELU, ["x = torch.randn(5)\nprint(relu(x), torch.relu(x))"]) == []
    assert verdict(HONEST_RELU, ["%matplotlib inline", "!ls", "%%time\nrelu(torch.zeros(2))"]) == []


CHEATS = {
    # the eight evasions of the text patterns
    "module alias": "_t = torch\ndef relu(x):\n    return _t.relu(x)\n",
    "exec elsewhere": ("def relu(x):\n    return _h(x)\n", ["exec('_h = torch.relu')"]),
    "global in a function": (
        "def relu(x):\n    return _h(x)\n",
        ["def _setup():\n    global _h\n    _h = torch.relu\n_setup()"],
    ),
    "globals() after a stub": ("def relu(x):\n    return x\n", ["globals()['relu'] = torch.relu"]),
    "a long chain": "_a0 = torch.relu\n"
    + "".join(f"_a{i + 1} = _a{i}\n" for i in range(500))
    + "def relu(x):\n    return _a500(x)\n",
    "tensor method": "def relu(x):\n    return x.relu()\n",
    "private torch": "def relu(x):\n    return torch._C._VariableFunctions.relu(x)\n",
    "assigned F": "import torch.nn.functional as F\n_r = F.relu\ndef relu(x):\n    return _r(x)\n",
    # more
    "tuple unpacking": "_a, _b = torch.abs, torch.relu\ndef relu(x):\n    return _b(x)\n",
    "starred": "*_a, _b = [torch.abs, torch.relu]\ndef relu(x):\n    return _b(x)\n",
    "star import": "from torch import *\ndef relu(x):\n    return clamp(x, min=0)\n",
    "lambda": "relu = lambda x: torch.clamp(x, min=0)\n",
    "default argument": "def relu(x, f=torch.relu):\n    return f(x)\n",
    "decorator": "def _use(f):\n    return lambda x: torch.relu(x)\n@_use\ndef relu(x):\n    return x\n",
    "class attribute": "class _K:\n    f = torch.relu\ndef relu(x):\n    return _K.f(x)\n",
    "functools.partial": "import functools\n_f = functools.partial(torch.clamp, min=0)\ndef relu(x):\n    return _f(x)\n",
    "methodcaller": "import operator\ndef relu(x):\n    return operator.methodcaller('relu')(x)\n",
    "attrgetter string": "from operator import attrgetter\ndef relu(x):\n    return attrgetter('relu')(torch)(x)\n",
    "aten": "def relu(x):\n    return torch.ops.aten.relu(x)\n",
    "module __dict__": "def relu(x):\n    return torch.nn.functional.__dict__['re' + 'lu'](x)\n",
    "clamp_min method": "def relu(x):\n    return torch.Tensor.clamp_min(x, 0)\n",
    "unicode name": "def relu(x):\n    return torch.ｒelu(x)\n",
    "match": "match torch.relu:\n    case _f:\n        pass\ndef relu(x):\n    return _f(x)\n",
    "getattr constant": "def relu(x):\n    return getattr(torch, 'relu')(x)\n",
    "getattr computed": "def relu(x):\n    return getattr(torch, 're' + 'lu')(x)\n",
    "list append": ("_fs = []\ndef relu(x):\n    return _fs[0](x)\n", ["_fs.append(torch.relu)"]),
    "helper fills a list": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["def _fill(l):\n    l.append(torch.clamp)\n_fill(_fs)"],
    ),
    "dict value": "_d = {'r': torch.relu}\ndef relu(x):\n    return _d['r'](x)\n",
    "attribute store on a module": ("def relu(x):\n    return torch.my_fn(x)\n", ["torch.my_fn = torch.relu"]),
    "setattr constant": ("def relu(x):\n    return torch.my_fn(x)\n", ["setattr(torch, 'my_fn', torch.clamp)"]),
    "walrus": "(_f := torch.relu)\ndef relu(x):\n    return _f(x)\n",
    "for target": "for _f in [torch.relu]:\n    pass\ndef relu(x):\n    return _f(x)\n",
    "with target": "import contextlib\nwith contextlib.nullcontext(torch.relu) as _f:\n    pass\ndef relu(x):\n    return _f(x)\n",
    "except name": "try:\n    raise ValueError(torch.relu)\nexcept ValueError as _e:\n    _f = _e.args[0]\ndef relu(x):\n    return _f(x)\n",
    "module of the submission": "import helper\ndef relu(x):\n    return helper.f(x)\n",
    "importlib": "import importlib\ndef relu(x):\n    return importlib.import_module('torch').relu(x)\n",
    "inspect": "import inspect as _i\n_g = _i.getmembers(torch)\ndef relu(x):\n    return x\n",
    "gc": "import gc\n_o = gc.get_objects()\ndef relu(x):\n    return x\n",
    "sys.modules": "import sys\ndef relu(x):\n    return sys.modules['torch'].relu(x)\n",
    "torch.load": "_f = torch.load('f.pt', weights_only=False)\ndef relu(x):\n    return _f(x)\n",
    "builtins": "def relu(x):\n    return __builtins__.max(x, 0)\n",
    "frames": "import sys\ndef relu(x):\n    return sys._getframe().f_back.f_globals['torch'].relu(x)\n",
    "get_ipython": "def relu(x):\n    return get_ipython().ev('torch.relu')(x)\n",
    "F imported from nn": "from torch.nn import functional\ndef relu(x):\n    return functional.threshold(x, 0, 0)\n",
    "subclass of ReLU": "class relu(torch.nn.ReLU):\n    pass\n",
    "call of nn.ReLU": "relu = torch.nn.ReLU()\n",
    "returned by a helper": "def _pick():\n    return torch.relu\nrelu = _pick()\n",
    "passed through a helper": "def _id(f):\n    return f\nrelu = _id(torch.clamp)\n",
    "argument of the graded function": (
        "def relu(x, _f=[]):\n    if callable(x):\n        _f.append(x)\n        return x\n    return _f[0](x)\n",
        ["relu(torch.relu)"],
    ),
    # aliases: a store through one name is seen through the others
    "alias of a list": ("_fs = []\ndef relu(x):\n    return _fs[0](x)\n", ["_g = _fs\n_g.append(torch.relu)"]),
    "list inside a list": (
        "_fs = [[]]\ndef relu(x):\n    return _fs[0][0](x)\n",
        ["_inner = _fs[0]\n_inner.append(torch.relu)"],
    ),
    "dict of lists": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["_d = {'k': _fs}\n_d['k'].append(torch.relu)"],
    ),
    "bound method in a name": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["_put = _fs.append\n_put(torch.relu)"],
    ),
    "unbound method": ("_fs = []\ndef relu(x):\n    return _fs[0](x)\n", ["_put = list.append\n_put(_fs, torch.relu)"]),
    "operator.setitem in a name": (
        "_d = {}\ndef relu(x):\n    return _d['r'](x)\n",
        ["import operator\n_s = operator.setitem\n_s(_d, 'r', torch.relu)"],
    ),
    "helper stores into its argument": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["def _put(a, b):\n    c = a\n    c.append(b)\n_put(_fs, torch.relu)"],
    ),
    "helper returns its argument": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["def _same(a):\n    return a\n_same(_fs).append(torch.relu)"],
    ),
    "constructor keeps it": "class _Box:\n    def __init__(self, f):\n        self.f = f\n_b = _Box(torch.relu)\ndef relu(x):\n    return _b.f(x)\n",
    "constructor stores into an argument": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["class _K:\n    def __init__(self, l, f):\n        l.append(f)\n_K(_fs, torch.relu)"],
    ),
    "staticmethod stores": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["class _K:\n    @staticmethod\n    def put(l, f):\n        l.append(f)\n_K.put(_fs, torch.relu)"],
    ),
    "explicit __init__ of a list subclass": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["class _K(list):\n    def __init__(self, f):\n        self.append(f)\n_K.__init__(_fs, torch.relu)"],
    ),
    "method stores on its object": (
        "class _B:\n    def keep(self, f):\n        self.items = [f]\n_b = _B()\ndef relu(x):\n    return _b.items[0](x)\n",
        ["_b.keep(torch.relu)"],
    ),
    "__call__ stores on its object": (
        "class _B(list):\n    def __call__(self, f):\n        self.append(f)\n_b = _B()\ndef relu(x):\n    return _b[0](x)\n",
        ["_b(torch.relu)"],
    ),
    "list subclass built with it": "class _L(list):\n    pass\n_l = _L([torch.relu])\ndef relu(x):\n    return _l[0](x)\n",
    "super().__init__ keeps it": (
        "class _L(list):\n    def __init__(self, f):\n        super().__init__([f])\n_l = _L(torch.relu)\n"
        "def relu(x):\n    return _l[0](x)\n"
    ),
    "partial of append": (
        "_fs = []\ndef relu(x):\n    return _fs[0](x)\n",
        ["import functools\n_p = functools.partial(list.append, _fs)\n_p(torch.relu)"],
    ),
    # what a graded function's own parameters held at notebook time, when it still holds it at test time
    "closure made at notebook time": "def _make(f):\n    def relu(x):\n        return f(x)\n    return relu\nrelu = _make(torch.relu)\n",
    "generator made at notebook time": (
        "def _gen(f):\n    while True:\n        yield f\n_g = _gen(torch.relu)\ndef relu(x):\n    return next(_g)(x)\n"
    ),
    "default captured by a nested function": (
        "def _make(f):\n    def inner(x, g=f):\n        return g(x)\n    return inner\nrelu = _make(torch.relu)\n"
    ),
    "lambdas of a comprehension": "def _make(f):\n    return [lambda x: f(x) for _ in range(1)][0]\nrelu = _make(torch.relu)\n",
    "lambda from a generator": "def _make(f):\n    return next(lambda x: g(x) for g in [f])\nrelu = _make(torch.relu)\n",
    "alias of a library's F": (
        "def relu(x):\n    return _g(x, 0.0, 0.0)\n",
        ["from torch.nn.modules.activation import F as _G\n_g = _G.threshold"],
    ),
    "type of an instance": "_k = type(torch.nn.ReLU())\ndef relu(x):\n    return _k()(x)\n",
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_every_cheat_is_refused(name):
    code = CHEATS[name]
    code, extra = (code, []) if isinstance(code, str) else code
    got = verdict(code, extra)
    assert got, f"{name}: not refused"


def test_messages_say_what_to_remove():
    (msg,) = verdict(CHEATS["tensor method"])[:1]
    assert "torch.relu" in msg and "x.relu" in msg and "cell" in msg
    assert "exec()" in verdict(*CHEATS["exec elsewhere"])[0]
    assert "dynamic lookups" in verdict(CHEATS["getattr computed"])[0]


def test_undecidable_fails():
    """A chain written backwards needs one round per link: past MAX_ROUNDS the analysis gives up, and fails."""
    n = scratch.MAX_ROUNDS + 5
    chain = "".join(f"_a{i} = _a{i + 1}\n" for i in range(n)) + f"_a{n} = torch.abs\ndef f():\n    return _a0\n"
    got = scratch.violations(["import torch", chain], "f", ["torch.relu"])
    assert got and "cannot follow" in got[0]
    short = "".join(f"_a{i} = _a{i + 1}\n" for i in range(5)) + "_a5 = torch.abs\ndef f():\n    return _a0\n"
    assert scratch.violations(["import torch", short], "f", ["torch.relu"]) == []
    cycle = ["import torch\nx = torch\nfor _ in range(3):\n    x = x.a\ndef f():\n    return x.b\n"]
    assert scratch.violations(cycle, "f", ["torch" + ".a" * 14])  # a path cut short may be it


def test_a_malformed_ban_list_is_refused():
    for bad in ("torch.relu", [], [""], [1]):
        with pytest.raises(TypeError):
            scratch.Ban(bad)


def test_in_a_kernel_the_verdict_comes_from_the_input_history():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        for src in (
            "import torch",
            "_t = torch",
            "def relu(x):\n    return _t.relu(x)",
            HONEST_RELU.replace("relu", "good"),
        ):
            assert shell.run_cell(src, store_history=True).success
        shell.run_cell("from course_utils.checks import from_scratch", store_history=True)
        bad = shell.run_cell("from_scratch(relu, banned=['torch.relu'])", store_history=True)
        assert isinstance(bad.error_in_exec, AssertionError) and "_t.relu" in str(bad.error_in_exec)
        assert shell.run_cell("from_scratch(good, banned=['torch.relu'])", store_history=True).success
    finally:
        InteractiveShell.clear_instance()


# Each graded notebook's "from scratch" rules: {grade_id of the test cell: graded names}. A test cell
# that bans something must do it through from_scratch (no text pattern on getsource left).
RULES = {
    "01_hw0_warmup": {"relu_tests": {"relu"}, "sigmoid_tests": {"sigmoid"}, "softmax_tests": {"softmax"},
                      "cross_entropy_tests": {"cross_entropy"}},
    "04_hw1_layer_sizes": {
        "conv_size_tests": {"conv2d_output_size"}, "pool_size_tests": {"pool2d_output_size"},
        "convT_size_tests": {"conv_transpose2d_output_size"}, "conv_params_tests": {"conv2d_params"},
        "convT_params_tests": {"conv_transpose2d_params"}, "linear_params_tests": {"linear_params"},
        "bn_tests": {"batchnorm2d_params"}, "conv_macs_tests": {"conv2d_macs"}, "linear_macs_tests": {"linear_macs"},
        "layer_row_tests": {"layer_row"}, "table_tests": {"layer_row", "layer_table_by_hand"},
        "classic_tables_tests": {"layer_row", "layer_table_by_hand"},
    },
    "06a_hw2_residual_blocks": {"res_basic_tests": {"BasicBlock"}, "res_bottleneck_tests": {"Bottleneck"},
                                "res_cost_tests": {"block_cost"}},
    "06b_hw2_receptive_field": {},
    "06c_hw2_upsampling": {
        "up_nearest_tests": {"upsample_nearest"}, "up_bilinear_tests": {"upsample_bilinear"},
        "up_unpool_tests": {"max_unpool"}, "up_tconv1d_tests": {"conv_transpose1d_by_hand"},
        "up_matrix_tests": {"conv1d_matrix"}, "up_tconv2d_tests": {"conv_transpose2d_by_hand"},
        "up_shuffle_tests": {"pixel_shuffle"},
    },
    "08_hw3_cifar10": {"checkpoint_loads": {"build_model"}},
}  # fmt: skip
TEXT_BANS = ("_banned", "getsource", "not_using", "__code__", "co_names")  # what a text pattern on the code reads


def ban_list(call) -> list[str]:
    """The ``banned=`` list of a ``_from_scratch`` call in a test cell: a literal, or a list of hw1checks."""
    import ast

    from course_utils import hw1checks

    value = call.keywords[0].value
    return getattr(hw1checks, value.attr) if isinstance(value, ast.Attribute) else ast.literal_eval(value)


@pytest.mark.parametrize("assignment", sorted(RULES))
def test_each_graded_notebook_lists_its_rules(assignment):
    import ast

    source, _ = load(assignment)
    got = {}
    for c in source["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] != "code" or not grade_id(c):
            continue
        assert not any(t in src for t in TEXT_BANS), f"{grade_id(c)} still bans by text"
        calls = [
            n
            for n in ast.walk(ast.parse(transform(src)))
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_from_scratch"
        ]
        if calls:
            got[grade_id(c)] = {n.args[0].id for n in calls}
            for n in calls:
                scratch.Ban(ban_list(n))  # a well-formed list
    assert got == RULES[assignment]


def test_what_other_cells_pass_to_the_graded_code_does_not_count():
    """A test calls the graded function with its own arguments: what other cells passed it does not count."""
    helper = "def _double(x):\n    return x + x\n"
    graded = helper + "def relu(x):\n    return torch.where(_double(x) > 0, x, torch.zeros_like(x))\n"
    assert verdict(graded, ["_double(torch.relu)", "relu(torch.relu)", "_double(x=torch.clamp)"]) == []
    klass = "class relu:\n    def __init__(self, act=None):\n        self.act = act\n    def __call__(self, x):\n        return x * (x > 0)\n"
    assert verdict(klass, ["relu(torch.relu)"]) == []
    # what they stored stays seen
    keeps = "class relu:\n    def __init__(self, act=None):\n        self.act = act\n    def __call__(self, x):\n        return self.act(x)\n"
    assert verdict(keeps, ["relu(torch.relu)"]), "an attribute set at notebook time"


def test_locals_of_one_function_do_not_reach_another():
    """Per-function scopes: another function's local ``x`` does not share its values; globals still flow."""
    other = "def other(x):\n    x = torch.relu\n    return x\n"
    assert verdict(HONEST_RELU, [other]) == []
    # but a global declared in a function, a nonlocal and a default are still followed
    assert verdict("def relu(x):\n    return _h(x)\n", ["def setup():\n    global _h\n    _h = torch.relu\nsetup()"])
    assert verdict("def relu(x, f=torch.relu):\n    return f(x)\n")
    nested = "def relu(x):\n    g = None\n    def inner():\n        nonlocal g\n        g = torch.relu\n    inner()\n    return g(x)\n"
    assert verdict(nested)
    assert verdict("def relu(x):\n    return [f(x) for f in [torch.relu]][0]\n")
    assert verdict("def relu(x):\n    [(g := torch.relu) for _ in [0]]\n    return g(x)\n")
