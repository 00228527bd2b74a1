"""ISLR training throughput (issue 15): clips per second of the training step, and of the `tf.data` input pipeline
that feeds it, so that the pipeline is never the bottleneck (the aim: input at least 5 times what the model eats).

The training step is the seed's, as `train_fold` builds it (`_fold_model`: `get_model`, AWP, the seed's optimizer,
label-smoothed cross-entropy), fed batches already in memory (`train_on_batch`: the model alone). The input pipeline
is `train_fold`'s too (`_fold_datasets`: TFRecords, augmentation, shuffle, repeat, batch), timed alone. Both on a
synthetic dataset written as TFRecords; both timed in wall time (tf.data runs on several threads) and the step in
CPU time too. The preset (`--preset`, default "small": `dim=96`, 64 frames, batch 32) sets the sizes.

    python benchmarks/islr_train_throughput.py                # a few minutes on 2 busy cores
    python benchmarks/islr_train_throughput.py --preset full --steps 3 --batches 8 \
        --json benchmarks/results/islr_train_throughput_full.json   # the seed's sizes (slow on a CPU): README row 2

The last line printed is a JSON summary, also written to benchmarks/results/islr_train_throughput.json.
TensorFlow only.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=["quick", "small", "full"])
    ap.add_argument("--steps", type=int, default=10, help="timed training steps (after 2 warm-up steps)")
    ap.add_argument("--batches", type=int, default=30, help="timed input batches (after 3 warm-up batches)")
    ap.add_argument("--json", default=str(RESULTS / "islr_train_throughput.json"))
    a = ap.parse_args(argv)

    from sign_notes.synth import make_synthetic_islr
    from sign_notes.islr.tfrecord import write_tfrecords

    tmp = Path(tempfile.mkdtemp(prefix="islr_throughput_"))
    try:
        root = make_synthetic_islr(tmp / "data", n_signs=10, n_per_sign=20, n_participants=5, seed=0, progress=False)
        files = write_tfrecords(root, tmp / "tfrecords", n_folds=5, progress=False)

        import numpy as np
        from islr_tflite_speed import cpu_name
        from sign_notes.islr.config import CFG
        from sign_notes.islr.train import _fold_datasets, _fold_model

        cfg = CFG.preset(a.preset, replicas=1)
        ds = iter(_fold_datasets(cfg, files, None)[0])
        for _ in range(3):
            next(ds)
        t0 = time.perf_counter()
        batches = [next(ds) for _ in range(a.batches)]
        t_input = time.perf_counter() - t0
        input_rate = a.batches * cfg.batch_size / t_input

        model = _fold_model(cfg, steps_per_epoch=100, dropout_step=0, awp_step=0)  # AWP on from the first step
        for x, y in batches[:2]:
            model.train_on_batch(x, y)
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(a.steps):
            x, y = batches[i % len(batches)]
            model.train_on_batch(x, y)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        step_rate = a.steps * cfg.batch_size / wall
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ratio = input_rate / step_rate
    print(
        f"ISLR training throughput, preset {a.preset!r} (dim {cfg.dim}, {cfg.max_len} frames, batch {cfg.batch_size}, "
        f"AWP on), {cpu_name()}, {os.cpu_count()} logical CPUs (shared)"
    )
    print(
        f"  training step (train_on_batch): {step_rate:8.1f} clips/s wall, "
        f"{a.steps * cfg.batch_size / cpu:8.1f} clips per CPU-second"
    )
    print(f"  input pipeline (tf.data, augmented): {input_rate:8.1f} clips/s wall")
    verdict = "the pipeline keeps ahead" if ratio >= 5 else "short of the 5x margin"
    print(f"  input / training = {ratio:.1f}x ({'>=' if ratio >= 5 else '<'} 5x: {verdict})")
    summary = {
        "benchmark": "islr_train_throughput",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "preset": a.preset,
        "dim": cfg.dim,
        "max_len": cfg.max_len,
        "batch_size": cfg.batch_size,
        "train_clips_per_s": step_rate,
        "train_clips_per_cpu_s": a.steps * cfg.batch_size / cpu,
        "input_clips_per_s": input_rate,
        "input_over_train": ratio,
        "loss_finite": bool(np.isfinite(model.evaluate(x, y, verbose=0)[0])),
    }
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
