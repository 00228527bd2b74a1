"""ST-GCN training step on CPU (issue 15): the original as shipped against ours, next to what the machine can do.

Two levers, measured apart and together, all with the same weights (the seed's 3,090,880 parameters for the FSD-10
config), one training step each (forward, cross-entropy, backward, the seed's Momentum update):

* the **formulation** (chapter 05): `seed` is the seed's (`use_seed_formulation`: the graph convolution's bias
  before the `einsum`, its transpose of the largest activation, Paddle's own `Conv2D` bias add); `ours` is the
  model's default (`graph_contract` without the transpose, the bias added after the contraction as a table,
  `FastConv2D`'s bias add);
* the **MKL path** (chapter 05a): `as shipped` is Paddle's wheel as PaddleVideo's users run it (its 2019 MKL takes
  a slow generic path on AMD processors); `MKL AVX2` is what importing `sign_notes.stgcn` sets on an AMD processor
  (`MKL_DEBUG_CPU_TYPE=5`). On an Intel processor the two are the same.

MKL reads its setting once per process, so the script runs two worker processes (one per MKL path), each holding
both formulations, and drives them from this one: the four steps are taken in turn (A, B, C, D, A, B, C, D, ...:
a machine that gets busier slows all alike), one process working while the other waits, and each step is timed in
CPU time of its process (`time.process_time`) and in wall time. The original is `seed, as shipped`; ratios are
against it.

To see how far from the limit each one is, the script counts the step's floating-point work (forward: every
convolution and graph contraction, 2 FLOPs a multiply-add; backward: twice the forward; batch norm, ReLU and adds
are left out, so the rate slightly understates the work done) and prints GFLOP/s next to each process's measured
matmul peak in Paddle (`paddle.matmul` of 2048 x 2048 float32) and NumPy's (its BLAS), on the same number of
threads. Then it profiles one step of `ours, MKL AVX2` with Paddle's profiler and groups the time by kind of
operator.

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
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PATHS = {"as shipped": "shipped", "MKL AVX2": "avx2"}  # label -> worker mode
FORMULATIONS = ("seed", "ours")
BASE = "seed, as shipped"
BEST = "ours, MKL AVX2"
TAG = "@@"  # the workers' reply lines start with it (Paddle may print other lines)


def cpu_name() -> str:
    "This machine's CPU model name (Linux), else the platform's processor string."
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu(f) -> float:
    t = time.process_time()
    f()
    return time.process_time() - t


def matmul_peaks(n: int = 2048) -> dict:
    "GFLOP/s of an n x n float32 matmul per CPU-second, in Paddle and in NumPy (best of 3)."
    import numpy as np
    import paddle

    a = paddle.randn([n, n])
    an = np.random.default_rng(0).random((n, n), dtype=np.float32)
    out = {}
    for name, f in {"paddle": lambda: paddle.matmul(a, a), "numpy": lambda: an @ an}.items():
        f()
        out[name] = 2 * n**3 / min(_cpu(f) for _ in range(3)) / 1e9
    return out


def make_step(model, x, y):
    "One training step of `model` on (x, y): forward, cross-entropy, backward, Momentum (the seed's recipe)."
    import paddle
    import paddle.nn as nn

    opt = paddle.optimizer.Momentum(
        learning_rate=0.01, momentum=0.9, parameters=model.parameters(), weight_decay=paddle.regularizer.L2Decay(1e-4)
    )
    loss_fn = nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        return float(loss)

    return step


def worker(mode: str, args) -> None:
    "One MKL path in its own process: build both formulations, then answer the driver's commands on stdin."
    os.environ.pop("MKL_DEBUG_CPU_TYPE", None)  # a value of the caller's would blur the two paths
    if mode == "shipped":  # Paddle's MKL exactly as the wheel ships it
        os.environ["SIGN_NOTES_KEEP_MKL"] = "1"
    else:  # what sign_notes.stgcn chooses for a reader on this processor
        os.environ.pop("SIGN_NOTES_KEEP_MKL", None)
    import numpy as np
    import paddle
    import sign_notes.stgcn as pkg
    from sign_notes.stgcn.model import STGCN_framework, count_forward_flops, count_parameters, profile_step
    from sign_notes.stgcn.model import use_seed_formulation

    def reply(obj):
        print(TAG + json.dumps(obj), flush=True)

    paddle.set_device("cpu")
    paddle.seed(0)
    ours = STGCN_framework(num_classes=args.classes)
    seed = use_seed_formulation(STGCN_framework(num_classes=args.classes))
    seed.set_state_dict(ours.state_dict())
    models = {"seed": seed, "ours": ours}
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.normal(size=(args.batch, 2, args.frames, 25, 1)).astype("float32"))
    y = paddle.to_tensor(rng.integers(0, args.classes, args.batch))
    for m in models.values():
        m.eval()
    with paddle.no_grad():
        logits = {k: m(x).numpy().tolist() for k, m in models.items()}
    flops = 3 * count_forward_flops(ours, x)
    for m in models.values():
        m.train()
    steps = {k: make_step(m, x, y) for k, m in models.items()}
    warm = {k: f() for k, f in steps.items()}
    reply(
        {
            "mkl_debug_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),
            "set_by_sign_notes": pkg.MKL_SET_BY_US,
            "params": {k: count_parameters(m) for k, m in models.items()},
            "logits": logits,
            "step_flops": flops,
            "warm_loss": warm,
        }
    )
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "step":
            c0, w0 = time.process_time(), time.perf_counter()
            loss = steps[arg]()
            reply({"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0, "loss": loss})
        elif cmd == "peaks":
            reply(matmul_peaks())
        elif cmd == "profile":
            reply(profile_step(steps[arg]))
        else:
            return


class Worker:
    "The driver's handle on one worker process: `ask(command)` sends a line and returns its JSON reply."

    def __init__(self, mode: str, argv: list):
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", mode, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env,
        )
        self.hello = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])
        raise RuntimeError(f"a benchmark worker ended early (exit code {self.proc.wait()}): see its error above")

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--classes", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (after one warm-up step each)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (OMP_NUM_THREADS); 0: the library's default")
    ap.add_argument("--json", default=str(RESULTS / "stgcn_speed.json"))
    ap.add_argument("--worker", choices=sorted(PATHS.values()), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    if args.worker:
        return worker(args.worker, args)

    import numpy as np

    wargs = ["--batch", str(args.batch), "--frames", str(args.frames), "--classes", str(args.classes)]
    wargs += ["--threads", str(args.threads)]
    workers = {}
    try:
        for label, mode in PATHS.items():
            workers[label] = Worker(mode, wargs)
        runs = {f"{f}, {label}": (workers[label], f) for label in PATHS for f in FORMULATIONS}
        base_logits = np.array(workers["as shipped"].hello["logits"]["seed"])
        diff = {k: float(np.abs(np.array(w.hello["logits"][f]) - base_logits).max()) for k, (w, f) in runs.items()}
        params = {k: w.hello["params"][f] for k, (w, f) in runs.items()}
        flops = workers["as shipped"].hello["step_flops"]
        cpu, wall, losses = ({k: [] for k in runs} for _ in range(3))
        for _ in range(args.repeats):
            for k, (w, f) in runs.items():
                r = w.ask(f"step {f}")
                cpu[k].append(r["cpu_s"])
                wall[k].append(r["wall_s"])
                losses[k].append(r["loss"])
        peaks = {label: w.ask("peaks") for label, w in workers.items()}
        profile = workers["MKL AVX2"].ask("profile ours")
    finally:
        for w in workers.values():
            w.close()

    med = {k: {"cpu_s": statistics.median(cpu[k]), "wall_s": statistics.median(wall[k])} for k in runs}
    base = med[BASE]
    gflops = {k: flops / v["cpu_s"] / 1e9 for k, v in med.items()}
    threads = args.threads or "default"
    print(
        f"ST-GCN training step, batch [{args.batch}, 2, {args.frames}, 25, 1], {args.classes} classes, {threads} "
        f"thread(s), {cpu_name()} ({os.cpu_count()} logical CPUs, shared); median of {args.repeats} rounds"
    )
    for label, w in workers.items():
        p = peaks[label]
        print(
            f"  {label:>10}: MKL_DEBUG_CPU_TYPE={w.hello['mkl_debug_cpu_type']}; matmul peak: Paddle "
            f"{p['paddle']:.1f}, NumPy {p['numpy']:.1f} GFLOP/s"
        )
    avx2_set = workers["MKL AVX2"].hello["set_by_sign_notes"]
    if not avx2_set:
        print("  (not an AMD processor with AVX2: sign_notes.stgcn left MKL alone, both paths are MKL as shipped)")
    elif peaks["MKL AVX2"]["paddle"] < 1.3 * peaks["as shipped"]["paddle"]:
        print("  WARNING: MKL_DEBUG_CPU_TYPE=5 made Paddle's matmul no faster: this MKL ignores it (2020.1 or newer?)")
    print(f"  {flops / 1e9:.1f} GFLOP a step")
    for k, v in med.items():
        peak = peaks[k.split(", ", 1)[1]]["paddle"]
        print(
            f"  {k:>16}: cpu {v['cpu_s']:.3f} s (x{base['cpu_s'] / v['cpu_s']:.2f}), wall {v['wall_s']:.3f} s "
            f"(x{base['wall_s'] / v['wall_s']:.2f}), {gflops[k]:.1f} GFLOP/s = {gflops[k] / peak:.0%} of its "
            f"Paddle matmul peak; params {params[k]:,}; max |logits - original| {diff[k]:.1e}"
        )
    print(f"  where one step of {BEST} goes (Paddle's profiler):")
    for k, v in profile.items():
        print(f"    {k:>30}: {v:6.1%}")
    loss_gap = max(abs(a - b) for k in runs for a, b in zip(losses[k], losses[BASE]))
    summary = {
        "benchmark": "stgcn_speed",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": args.threads,
        "batch": [args.batch, 2, args.frames, 25, 1],
        "repeats": args.repeats,
        "original": BASE,
        "best": BEST,
        "mkl_debug_cpu_type": {label: w.hello["mkl_debug_cpu_type"] for label, w in workers.items()},
        "mkl_set_by_sign_notes": avx2_set,
        "step_gflop": flops / 1e9,
        "matmul_peak_gflops": peaks,
        "median": med,
        "cpu_s_all": cpu,
        "ratio_cpu_vs_original": {k: base["cpu_s"] / v["cpu_s"] for k, v in med.items()},
        "ratio_wall_vs_original": {k: base["wall_s"] / v["wall_s"] for k, v in med.items()},
        "gflops": gflops,
        "params": params,
        "max_abs_logit_diff": diff,
        "losses": losses,
        "max_abs_loss_diff": loss_gap,
        "profile_best": profile,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    if max(diff.values()) > 1e-4:
        raise SystemExit(f"outputs differ: {diff}")
    return base["cpu_s"] / med[BEST]["cpu_s"]


if __name__ == "__main__":
    main()
