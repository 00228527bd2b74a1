"""Latency of the ISLR submission (issue 7): milliseconds per sequence, as Kaggle scored it, side by side:

1. one model (dim 192, the 1,836,569-parameter 1st-place model) as a float32 TFLite file,
2. the seed's final submission: an ensemble of 4 dim-192 models (hoyso48 trained the dim-192 model with 4 seeds;
   a single "4x" dim-384 model scored slightly worse), float32 by default (28 MiB), float16 with --fp16,
3. the same single model run by Keras/TensorFlow (the `TFLiteModel` module as a `tf.function`),

for sequences of 20 (typical), 105 (the real sample's length) and 384 (the longest kept) frames, against the
competition's budget of 100 ms per sequence and its 40 MB (40e6 bytes) file limit, each checked and printed. The
TFLite files are called exactly as Kaggle did:
`tf.lite.Interpreter(...).get_signature_runner("serving_default")(inputs=frames)["outputs"]`.

    python benchmarks/islr_tflite_latency.py                  # random weights (latency does not depend on them)
    python benchmarks/islr_tflite_latency.py --fp16           # the ensemble with float16 weights (14 MiB)
    python benchmarks/islr_tflite_latency.py --n-models 1 --ensemble-dim 384 --fp16   # one "4x" model (24 MiB)
                                             # (4 of them would be 97 MiB even in float16: over the limit)
    python benchmarks/islr_tflite_latency.py --model runs/islr/model.keras   # a trained model instead
    python benchmarks/islr_tflite_latency.py --threads 1      # Kaggle's scoring CPU was small: try 1 thread

The real sample sequence (../shared/data/islr/16069_10042041.parquet) is used when present, tiled or cut to each
length; otherwise a random sequence. Timings are the median of `--repeat` calls after a warm-up. The last line
printed is a JSON summary.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lengths", default="20,105,384", help="sequence lengths in frames (comma-separated)")
    ap.add_argument("--n-models", type=int, default=4, help="models in the ensemble (the seed's submission: 4)")
    ap.add_argument(
        "--ensemble-dim",
        type=int,
        default=192,
        help="dim of the ensemble's models (the seed's: 192; 384: the 4x model)",
    )
    ap.add_argument("--fp16", action="store_true", help="store the ensemble's weights as float16 (default: float32)")
    ap.add_argument("--model", default=None, help="a trained .keras model (from train_islr_main) for the single model")
    ap.add_argument("--repeat", type=int, default=20, help="timed calls per measurement")
    ap.add_argument("--threads", type=int, default=None, help="TFLite interpreter threads (default: TFLite's)")
    ap.add_argument("--budget-ms", type=float, default=100.0)
    ap.add_argument("--limit-mb", type=float, default=40.0, help="the file size limit in MB (1 MB = 1e6 bytes)")
    ap.add_argument("--out", default=None, help="folder for the .tflite files (default: a temporary one)")
    a = ap.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import keras
    from sign_notes.core import shared_data
    from sign_notes.data import load_relevant_data_subset
    from sign_notes.device import seed_everything
    from sign_notes.islr.model import get_model
    from sign_notes.islr.export import export_tflite, TFLiteModel, time_runner

    seed_everything(0)
    lengths = [int(t) for t in a.lengths.split(",")]
    out = Path(a.out or tempfile.mkdtemp(prefix="islr_latency_"))
    out.mkdir(parents=True, exist_ok=True)
    pq = shared_data("islr", "16069_10042041.parquet")
    base = (
        load_relevant_data_subset(pq)
        if pq is not None
        else np.random.default_rng(0).uniform(0.2, 0.8, (105, 543, 3)).astype("float32")
    )
    seqs = {T: np.concatenate([base] * (T // len(base) + 1))[:T] for T in lengths}

    single = keras.models.load_model(a.model) if a.model else get_model(max_len=None, dim=192)
    ensemble = [get_model(max_len=None, dim=a.ensemble_dim) for _ in range(a.n_models)]
    t0 = time.perf_counter()
    single_path = export_tflite(single, out / "single_fp32.tflite")
    t_single = time.perf_counter() - t0
    ens_file = f"ensemble{a.n_models}_dim{a.ensemble_dim}_{'fp16' if a.fp16 else 'fp32'}"
    ens_name = "tflite_" + ens_file
    t0 = time.perf_counter()
    ens_path = export_tflite(ensemble, out / f"{ens_file}.tflite", fp16=a.fp16)
    t_ens = time.perf_counter() - t0

    def runner(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interp = tf.lite.Interpreter(model_path=str(path), num_threads=a.threads)
        r = interp.get_signature_runner("serving_default")
        return lambda x: r(inputs=x)["outputs"]

    module = TFLiteModel(single)
    fns = {
        "tflite_single_fp32": runner(single_path),
        ens_name: runner(ens_path),
        "keras_single": lambda x: module(tf.constant(x))["outputs"].numpy(),
    }
    rows = {
        name: {
            T: time_runner(fn, seqs[T], a.repeat if name.startswith("tflite") else max(3, a.repeat // 4))
            for T in lengths
        }
        for name, fn in fns.items()
    }

    size_bytes = {"tflite_single_fp32": single_path.stat().st_size, ens_name: ens_path.stat().st_size}
    sizes = {k: v / 2**20 for k, v in size_bytes.items()}
    checks = {}
    w = max(len(n) for n in rows) + 2
    print(
        f"{'ms per sequence':{w}s}"
        + "".join(f"{f'T={T}':>10s}" for T in lengths)
        + f"{'MB':>8s}{'MiB':>8s}  <= {a.budget_ms:g} ms?  < {a.limit_mb:g} MB?"
    )
    for name, r in rows.items():
        fast = all(v <= a.budget_ms for v in r.values())
        small = size_bytes[name] < a.limit_mb * 1e6 if name in size_bytes else None
        checks[name] = {"within_budget_ms": fast, "within_limit_mb": small}
        size = f"{size_bytes[name] / 1e6:8.2f}{sizes[name]:8.2f}" if name in size_bytes else f"{'-':>8s}{'-':>8s}"
        print(
            f"{name:{w}s}"
            + "".join(f"{r[T]:10.1f}" for T in lengths)
            + size
            + f"  {'yes' if fast else 'NO':>{len(f'<= {a.budget_ms:g} ms?')}s}"
            + (
                f"  {'yes' if small else 'NO':>{len(f'< {a.limit_mb:g} MB?')}s}"
                if small is not None
                else "  (not a submission file)"
            )
        )
    ratios = {T: rows["keras_single"][T] / rows["tflite_single_fp32"][T] for T in lengths}
    print(
        "Keras / TFLite time, one model (same run, same input): "
        + ", ".join(f"T={T}: {v:.1f}x" for T, v in ratios.items())
    )
    print(
        f"conversion: single {t_single:.0f} s, ensemble {t_ens:.0f} s; sequence: {'real sample' if pq else 'random'}; "
        f"threads: {a.threads or 'default'}; cpus: {os.cpu_count()}"
    )
    summary = {
        "ms": rows,
        "keras_over_tflite": ratios,
        "mib": sizes,
        "bytes": size_bytes,
        "checks": checks,
        "budget_ms": a.budget_ms,
        "limit_mb": a.limit_mb,
        "lengths": lengths,
        "n_models": a.n_models,
        "ensemble_dim": a.ensemble_dim,
        "fp16": a.fp16,
        "threads": a.threads,
        "real_sequence": pq is not None,
        "files": {"single": str(single_path), "ensemble": str(ens_path)},
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
