"""ST-GCN training step on CPU (issue 15): the seed's formulation against ours, next to what the machine can do.

Variants, all with the same weights (the seed's 3,090,880 parameters for the FSD-10 config), one training step each
(forward, cross-entropy, backward, the seed's Momentum update), called in turn (A, B, C, A, B, C, ...: a machine
that gets busier slows all alike) and timed in CPU time of this process (`time.process_time`) and wall time:

* `seed (einsum)`: the seed's graph contraction, a transpose of the largest activation and one matmul;
* `ours (graph_contract)`: the model's default, a batched matmul without the transpose and the graph convolution's
  bias added after the contraction, where it is K times smaller (chapter 05);
* `ours + to_static`: the same model traced by `paddle.jit.to_static` for training (a lever measured, not kept).

To see how far from the limit each one is, the script counts the step's floating-point work (forward: every
convolution and graph contraction, 2 FLOPs a multiply-add; backward: twice the forward; batch norm, ReLU and adds
are left out, so the rate is a little flattering) and prints GFLOP/s next to the machine's measured matmul peak in
Paddle (`paddle.matmul` of 2048 x 2048 float32) and in NumPy (its BLAS), on the same number of threads. Then it
profiles one step of ours with Paddle's profiler and groups the time by kind of operator.

    python benchmarks/stgcn_speed.py                              # batch 8, 64 frames, ONE thread (the default)
    python benchmarks/stgcn_speed.py --threads 2 --batch 16 --frames 350   # the seed's size

Single-thread runs (`--threads 1` sets OMP_NUM_THREADS before Paddle loads) suffer least from other jobs on a
shared machine. The last line printed is a JSON summary, also written to benchmarks/results/stgcn_speed.json.
Paddle only (never import TensorFlow in the same process).
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    "This machine's CPU model name (Linux), else the platform's processor string."
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def matmul_peaks(n: int = 2048) -> dict:
    "GFLOP/s of an n x n float32 matmul per CPU-second, in Paddle and in NumPy (best of 3)."
    import numpy as np
    import paddle

    a = paddle.randn([n, n])
    an = np.random.default_rng(0).random((n, n), dtype=np.float32)
    out = {}
    for name, f in {"paddle": lambda: paddle.matmul(a, a), "numpy": lambda: an @ an}.items():
        f()
        best = min(_cpu(f) for _ in range(3))
        out[name] = 2 * n**3 / best / 1e9
    return out


def _cpu(f) -> float:
    t = time.process_time()
    f()
    return time.process_time() - t


def make_step(model, x, y, static: bool = False):
    "One training step of `model` on (x, y): forward, cross-entropy, backward, Momentum (the seed's recipe)."
    import paddle
    import paddle.nn as nn

    opt = paddle.optimizer.Momentum(
        learning_rate=0.01, momentum=0.9, parameters=model.parameters(), weight_decay=paddle.regularizer.L2Decay(1e-4)
    )
    loss_fn = nn.CrossEntropyLoss()
    fwd = paddle.jit.to_static(model, full_graph=True) if static else model

    def step():
        loss = loss_fn(fwd(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        return float(loss)

    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--classes", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds (after one warm-up round)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (OMP_NUM_THREADS); 0: the library's default")
    ap.add_argument("--no-static", action="store_true", help="skip the to_static variant")
    ap.add_argument("--json", default=str(RESULTS / "stgcn_speed.json"))
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import paddle
    from sign_notes.stgcn.model import STGCN_framework, count_forward_flops, count_parameters, profile_step
    from sign_notes.stgcn.model import use_seed_einsum

    paddle.set_device("cpu")
    paddle.seed(0)
    np.random.seed(0)
    ours = STGCN_framework(num_classes=args.classes)
    seed = use_seed_einsum(STGCN_framework(num_classes=args.classes))
    models = {"seed (einsum)": seed, "ours (graph_contract)": ours}
    if not args.no_static:
        models["ours + to_static"] = STGCN_framework(num_classes=args.classes)
    for m in models.values():
        m.set_state_dict(ours.state_dict())
    x = paddle.randn([args.batch, 2, args.frames, 25, 1])
    y = paddle.randint(0, args.classes, [args.batch])
    params = {k: count_parameters(m) for k, m in models.items()}

    for m in models.values():
        m.eval()
    with paddle.no_grad():
        ref = models["seed (einsum)"](x)
        diff = {k: float((m(x) - ref).abs().max()) for k, m in models.items()}
    flops = 3 * count_forward_flops(ours, x)
    for m in models.values():
        m.train()

    steps = {k: make_step(m, x, y, static=k.endswith("to_static")) for k, m in models.items()}
    losses = {k: [f()] for k, f in steps.items()}  # warm-up (and the trace, for to_static)
    cpu, wall = {k: [] for k in steps}, {k: [] for k in steps}
    for _ in range(args.repeats):
        for k, f in steps.items():
            c0, w0 = time.process_time(), time.perf_counter()
            losses[k].append(f())
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    med = {k: {"cpu_s": statistics.median(cpu[k]), "wall_s": statistics.median(wall[k])} for k in steps}
    base = med["seed (einsum)"]
    peaks = matmul_peaks()
    profile = profile_step(steps["ours (graph_contract)"])

    threads = args.threads or "default"
    print(
        f"ST-GCN training step, batch [{args.batch}, 2, {args.frames}, 25, 1], {args.classes} classes, {threads} "
        f"thread(s), {cpu_name()} ({os.cpu_count()} logical CPUs, shared); median of {args.repeats} rounds"
    )
    print(
        f"  {flops / 1e9:.1f} GFLOP a step; matmul peak: Paddle {peaks['paddle']:.1f}, "
        f"NumPy {peaks['numpy']:.1f} GFLOP/s"
    )
    for k, v in med.items():
        rate = flops / v["cpu_s"] / 1e9
        print(
            f"  {k:>22}: cpu {v['cpu_s']:.3f} s (x{base['cpu_s'] / v['cpu_s']:.2f}), wall {v['wall_s']:.3f} s "
            f"(x{base['wall_s'] / v['wall_s']:.2f}), {rate:.1f} GFLOP/s = {rate / peaks['paddle']:.0%} of Paddle's "
            f"matmul; params {params[k]:,}; max |logits - seed| {diff[k]:.1e}"
        )
    print("  where one step of ours goes (Paddle's profiler):")
    for k, v in profile.items():
        print(f"    {k:>30}: {v:6.1%}")
    ratio = base["cpu_s"] / med["ours (graph_contract)"]["cpu_s"]
    summary = {
        "benchmark": "stgcn_speed",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": args.threads,
        "batch": [args.batch, 2, args.frames, 25, 1],
        "repeats": args.repeats,
        "step_gflop": flops / 1e9,
        "matmul_peak_gflops": peaks,
        "median": med,
        "ratio_cpu_vs_seed": {k: base["cpu_s"] / v["cpu_s"] for k, v in med.items()},
        "ratio_wall_vs_seed": {k: base["wall_s"] / v["wall_s"] for k, v in med.items()},
        "gflops": {k: flops / v["cpu_s"] / 1e9 for k, v in med.items()},
        "params": params,
        "max_abs_logit_diff": diff,
        "losses": losses,
        "profile_ours": profile,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    if max(diff.values()) > 1e-4:
        raise SystemExit(f"outputs differ: {diff}")
    return ratio


if __name__ == "__main__":
    main()
