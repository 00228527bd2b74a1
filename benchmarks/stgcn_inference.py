"""ST-GCN inference on CPU (issue 15): the exported program through Paddle Inference against the eager model.

One clip at the seed's window (`[1, 2, 350, 25, 1]`, FSD-10's 25 joints), the same weights: the eager
`STGCN_framework` (`paddle.no_grad`, eval mode), and `inference_predictor` on the `export_stgcn` files with Paddle's
default CPU kernels and with oneDNN (`onednn=True`). The three are called in turn for `--rounds` rounds, one math
thread each; the median CPU time of this process (`time.process_time`) and wall time are kept, with the largest
difference of each one's logits from the eager model's.

    python benchmarks/stgcn_inference.py              # about a minute on 2 busy cores
    python benchmarks/stgcn_inference.py --window 64  # a shorter window
    python benchmarks/stgcn_inference.py --mkl-as-shipped   # Paddle's MKL as the wheel ships it (chapter 05a)

On an AMD processor, importing `sign_notes.stgcn` switches Paddle's MKL to its AVX2 path (chapter 05a), which makes
the eager model about 2.1 times faster; Paddle Inference's kernels do not depend on it. `--mkl-as-shipped` keeps
MKL as shipped (what PaddleVideo's users get), and stores its result apart
(benchmarks/results/stgcn_inference_shipped.json): the two runs together show where each speed-up comes from.

The last line printed is a JSON summary, also written to benchmarks/results/stgcn_inference.json. Paddle only.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=int, default=350)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mkl-as-shipped", action="store_true", help="keep Paddle's MKL as shipped (no AVX2 path)")
    ap.add_argument("--json", default=None, help="default: benchmarks/results/stgcn_inference[_shipped].json")
    a = ap.parse_args(argv)
    a.json = a.json or str(RESULTS / f"stgcn_inference{'_shipped' if a.mkl_as_shipped else ''}.json")
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(a.threads)
    if a.mkl_as_shipped:  # before paddle's first matrix product: MKL reads it once
        os.environ.pop("MKL_DEBUG_CPU_TYPE", None)
        os.environ["SIGN_NOTES_KEEP_MKL"] = "1"
    import numpy as np
    import paddle
    from sign_notes.stgcn.export import export_stgcn, inference_predictor, predict
    from sign_notes.stgcn.model import STGCN_framework

    from stgcn_speed import cpu_name

    paddle.set_device("cpu")
    paddle.seed(0)
    model = STGCN_framework(num_classes=30)
    model.eval()
    prefix = Path(tempfile.mkdtemp(prefix="stgcn_inf_")) / "stgcn"
    export_stgcn(model, prefix, window_size=a.window)
    x = np.random.default_rng(0).normal(size=(a.batch, 2, a.window, 25, 1)).astype("float32")
    xt = paddle.to_tensor(x)

    def eager(_x):
        with paddle.no_grad():
            return model(xt).numpy()

    plain = inference_predictor(prefix, threads=a.threads)
    dnn = inference_predictor(prefix, onednn=True, threads=a.threads)
    fns = {
        "eager model": eager,
        "Paddle Inference": lambda _x: predict(plain, _x),
        "Paddle Inference + oneDNN": lambda _x: predict(dnn, _x),
    }
    ref = eager(x)
    diff = {k: float(np.abs(f(x) - ref).max()) for k, f in fns.items()}  # also the warm-up call
    cpu, wall = {k: [] for k in fns}, {k: [] for k in fns}
    for _ in range(a.rounds):
        for k, f in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            f(x)
            cpu[k].append((time.process_time() - c0) * 1000 / a.batch)
            wall[k].append((time.perf_counter() - w0) * 1000 / a.batch)
    med = {k: {"cpu_ms": statistics.median(cpu[k]), "wall_ms": statistics.median(wall[k])} for k in fns}
    base = med["eager model"]["cpu_ms"]
    mkl = os.environ.get("MKL_DEBUG_CPU_TYPE")
    print(
        f"ST-GCN inference, clip [{a.batch}, 2, {a.window}, 25, 1], {a.threads} thread(s), {cpu_name()}, "
        f"MKL_DEBUG_CPU_TYPE={mkl}; median of {a.rounds}, ms per clip"
    )
    for k, v in med.items():
        print(
            f"  {k:>26}: cpu {v['cpu_ms']:8.1f} ms (x{base / v['cpu_ms']:.2f})  wall {v['wall_ms']:8.1f} ms  "
            f"max |logits - eager| {diff[k]:.1e}"
        )
    summary = {
        "benchmark": "stgcn_inference",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": a.threads,
        "mkl_debug_cpu_type": mkl,
        "clip": [a.batch, 2, a.window, 25, 1],
        "rounds": a.rounds,
        "ms_per_clip": med,
        "ratio_cpu_vs_eager": {k: base / v["cpu_ms"] for k, v in med.items()},
        "max_abs_diff": diff,
    }
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
