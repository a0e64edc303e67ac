"""CIFAR-10 speed benchmark: the course's fast recipe against the Exercise 2-4 network, same wall-time budget.

Both runs get the same budget (``--minutes``) on the same machine in the same process, and
both are charged the time it took to load the data. The recipe is
:func:`course_utils.recipe.train_recipe` (its schedule fits itself to the budget); the
baseline is the Exercise 2-4 network (:func:`course_utils.models.tutorial_net`)
trained as in the PyTorch tutorial: SGD, lr 0.001, momentum 0.9, batch 4, no augmentation
(inputs normalised with the CIFAR-10 mean and std instead of the tutorial's 0.5).

Usage (from the repository root)::

    python benchmarks/cifar10_speed.py --data-root PATH/cifar10-jpg --minutes 10
    python benchmarks/cifar10_speed.py --data-root PATH --device cuda --minutes 0.5

``--data-root`` is a folder holding ``train/CLASS/*.jpg`` and ``test/CLASS/*.jpg`` (an image
folder copy) or torchvision's ``cifar-10-batches-py``. The first read of an image folder
decodes the JPEGs (14 s on the 2-core CPU) and caches them as one tensor file; that time counts.

Writes JSON (default ``benchmarks/results/cifar10_speed-DATE.json``, not committed) with, per
run: accuracy against wall time, final accuracy, images per second, peak memory; and the
torch version, the hardware and the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_utils.data import TensorLoader, load_dataset, synthetic_dataset  # noqa: E402
from course_utils.models import tutorial_net  # noqa: E402
from course_utils.recipe import RecipeConfig, train_recipe  # noqa: E402
from course_utils.shapes import count_params  # noqa: E402


def hardware(device: torch.device) -> dict:
    """CPU model, cores, torch threads, memory, and the GPU when one is used."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = dict(
        cpu=cpu,
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        platform=platform.platform(),
        python=platform.python_version(),
    )
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def peak_memory(device: torch.device) -> dict:
    """Peak resident memory of this process so far (MB) and, on CUDA, the peak allocated since the last reset."""
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = dict(peak_rss_mb_process=round(rss_kb / (1024 if sys.platform != "darwin" else 1024**2), 1))
    if device.type == "cuda":
        out["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def run_baseline(
    train, test, device: torch.device, budget_s: float, start: float, batch_size: int = 4, lr: float = 1e-3
) -> dict:
    """Exercise 2-4: the tutorial net, plain SGD with momentum, until the budget is used up."""
    torch.manual_seed(0)
    net = tutorial_net(len(train.classes)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    loader = TensorLoader(train, batch_size, shuffle=True, device=device, seed=0)
    test_loader = TensorLoader(test, 1000, device=device)

    def accuracy() -> float:
        net.eval()
        with torch.no_grad():
            correct = sum((net(x).argmax(1) == y).sum().item() for x, y in test_loader)
        net.train()
        return correct / len(test)

    t = time.perf_counter()
    accuracy()  # how long one evaluation takes: keep that in reserve
    reserve = 1.5 * (time.perf_counter() - t)
    curve, seen, epoch, done = [], 0, 0, False
    train_start = time.perf_counter()
    while not done:
        epoch += 1
        loss_sum, n = 0.0, 0
        for x, y in loader:
            if time.perf_counter() - start >= budget_s - reserve:
                done = True
                break
            loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            n += len(y)
            seen += len(y)
        if n:
            curve.append(
                dict(
                    seconds=round(time.perf_counter() - start, 2),
                    epoch=epoch,
                    images=seen,
                    test_acc=accuracy(),
                    train_loss=loss_sum / n,
                )
            )
            print(
                "baseline",
                " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in curve[-1].items()),
                flush=True,
            )
    train_s = time.perf_counter() - train_start
    final = curve[-1]["test_acc"] if curve else accuracy()
    return dict(
        model="tutorial_net (Exercise 2-4)",
        params=count_params(net),
        optimizer=dict(name="SGD", lr=lr, momentum=0.9, batch_size=batch_size),
        final_accuracy=final,
        wall_seconds=round(time.perf_counter() - start, 2),
        train_images_seen=seen,
        images_per_second=round(seen / max(train_s, 1e-9), 1),
        curve=curve,
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data-root",
        default=None,
        help="folder with train/CLASS/*.jpg and test/CLASS/*.jpg, or torchvision's CIFAR-10 files",
    )
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-time budget of each run (data loading included)")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: CUDA when available)")
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/cifar10_speed-DATE.json)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the Exercise 2-4 baseline")
    ap.add_argument("--baseline-batch-size", type=int, default=4)
    ap.add_argument("--widths", default=None, help="recipe widths, e.g. 32,128,128 (default: by device)")
    ap.add_argument(
        "--epochs",
        type=float,
        default=None,
        help="recipe epochs; the run ends at this many epochs or at the budget, whichever comes first "
        "(default: by device)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other RecipeConfig field, e.g. --set optimizer=muon --set batch_size=1000",
    )
    ap.add_argument(
        "--bf16",
        choices=["auto", "on", "off"],
        default="auto",
        help="bf16 autocast for the recipe (auto: on CUDA and on CPUs with native bf16)",
    )
    ap.add_argument(
        "--synthetic",
        action="store_true",
        help="use the synthetic stand-in instead of CIFAR-10 (smoke tests; accuracies are meaningless)",
    )
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only this many train (and a fifth as many test) images: smoke tests",
    )
    args = ap.parse_args(argv)

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    budget = args.minutes * 60
    result: dict = dict(
        benchmark="cifar10_speed",
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=" ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        budget_minutes=args.minutes,
        device=str(device),
        torch=torch.__version__,
        hardware=hardware(device),
        load_average_before=load_average(),
    )
    import torchvision

    result["torchvision"] = torchvision.__version__

    # ---- data (timed: both runs are charged for it)
    t0 = time.perf_counter()
    if args.synthetic:
        n = args.limit or 10_000
        train, test = synthetic_dataset("cifar10", "train", n=n), synthetic_dataset("cifar10", "test", n=max(1, n // 5))
    else:
        train = load_dataset("cifar10", "train", root=args.data_root)
        test = load_dataset("cifar10", "test", root=args.data_root)
    if args.limit:
        train, test = train.subset(args.limit), test.subset(max(1, args.limit // 5))
    load_s = time.perf_counter() - t0
    result["data"] = dict(
        source=train.source, train_images=len(train), test_images=len(test), load_seconds=round(load_s, 2)
    )
    print(f"data: {train!r} and {test!r} loaded in {load_s:.1f} s", flush=True)
    if train.is_synthetic:
        print("WARNING: synthetic stand-in data, the accuracies say nothing about CIFAR-10", flush=True)

    # ---- the recipe
    changes = {}
    if args.widths:
        changes["widths"] = tuple(int(w) for w in args.widths.split(","))
    if args.epochs:
        changes["epochs"] = args.epochs
    for item in args.set:
        name, _, value = item.partition("=")
        kind = type(getattr(RecipeConfig, name))
        changes[name] = (
            value if kind is str else (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
        )
    if args.bf16 != "auto":
        changes["bf16"] = args.bf16 == "on"
    cfg = RecipeConfig.for_device(device, **changes)
    reset_peak(device)
    r = train_recipe(train, test, cfg, device=device, budget_s=budget, start_time=t0)
    train_s = r.seconds - load_s
    result["recipe"] = dict(
        model="course_utils.recipe.recipe_net",
        params=count_params(r.model),
        config=r.config,
        final_accuracy=r.accuracy,
        final_tta_level=cfg.tta_level,
        wall_seconds=round(r.seconds, 2),
        train_images_seen=r.images_seen,
        images_per_second=round(r.images_seen / max(train_s, 1e-9), 1),
        curve=r.curve,
        **peak_memory(device),
    )
    del r

    # ---- the baseline, same budget, charged the same loading time
    if not args.no_baseline:
        reset_peak(device)
        start = time.perf_counter() - load_s
        b = run_baseline(train, test, device, budget, start, batch_size=args.baseline_batch_size)
        result["baseline"] = dict(b, **peak_memory(device))
    result["load_average_after"] = load_average()

    out = (
        Path(args.out)
        if args.out
        else (REPO / "benchmarks" / "results" / f"cifar10_speed-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    line = f"recipe {result['recipe']['final_accuracy']:.4f} in {result['recipe']['wall_seconds']:.0f} s"
    if "baseline" in result:
        line += f"; baseline {result['baseline']['final_accuracy']:.4f} in {result['baseline']['wall_seconds']:.0f} s"
    print(f"{line} ({args.minutes:g} min budget, {device}); wrote {out}")
    return result


if __name__ == "__main__":
    main()
