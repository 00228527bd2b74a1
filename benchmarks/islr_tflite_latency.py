"""Latency of the ISLR submission (issue 7): milliseconds per sequence, as Kaggle scored it, side by side:

1. one model (dim 192, the 1,836,569-parameter 1st-place model) as a float32 TFLite file,
2. a 4-model ensemble as a float16 TFLite file (the seed's kind of final submission),
3. the same single model run by Keras/TensorFlow (the `TFLiteModel` module as a `tf.function`),

for sequences of 20 (typical), 105 (the real sample's length) and 384 (the longest kept) frames, against the
competition's budget of 100 ms per sequence (and its 40 MB file limit). The TFLite files are called exactly as
Kaggle did: `tf.lite.Interpreter(...).get_signature_runner("serving_default")(inputs=frames)["outputs"]`.

    python benchmarks/islr_tflite_latency.py                  # random weights (latency does not depend on them)
    python benchmarks/islr_tflite_latency.py --ensemble-dim 384   # the ensemble of "4x" models (dim 384)
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


def median_ms(fn, x, repeat):
    "Median milliseconds of `fn(x)` over `repeat` calls, after one warm-up call."
    import numpy as np
    fn(x)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(x); times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="20,105,384", help="sequence lengths in frames (comma-separated)")
    ap.add_argument("--n-models", type=int, default=4, help="models in the fp16 ensemble")
    ap.add_argument("--ensemble-dim", type=int, default=192, help="dim of the ensemble's models (384: the 4x model)")
    ap.add_argument("--model", default=None, help="a trained .keras model (from train_islr_main) for the single model")
    ap.add_argument("--repeat", type=int, default=20, help="timed calls per measurement")
    ap.add_argument("--threads", type=int, default=None, help="TFLite interpreter threads (default: TFLite's)")
    ap.add_argument("--budget-ms", type=float, default=100.0)
    ap.add_argument("--out", default=None, help="folder for the .tflite files (default: a temporary one)")
    a = ap.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import keras
    from sign_notes.core import shared_data
    from sign_notes.data import load_relevant_data_subset
    from sign_notes.device import seed_everything
    from sign_notes.islr.model import get_model
    from sign_notes.islr.export import export_tflite, TFLiteModel

    seed_everything(0)
    lengths = [int(t) for t in a.lengths.split(",")]
    out = Path(a.out or tempfile.mkdtemp(prefix="islr_latency_")); out.mkdir(parents=True, exist_ok=True)
    pq = shared_data("islr", "16069_10042041.parquet")
    base = load_relevant_data_subset(pq) if pq is not None else np.random.default_rng(0).uniform(0.2, 0.8, (105, 543, 3)).astype("float32")
    seqs = {T: np.concatenate([base] * (T // len(base) + 1))[:T] for T in lengths}

    single = keras.models.load_model(a.model) if a.model else get_model(max_len=None, dim=192)
    ensemble = [get_model(max_len=None, dim=a.ensemble_dim) for _ in range(a.n_models)]
    t0 = time.perf_counter(); single_path = export_tflite(single, out / "single_fp32.tflite"); t_single = time.perf_counter() - t0
    t0 = time.perf_counter(); ens_path = export_tflite(ensemble, out / f"ensemble{a.n_models}_dim{a.ensemble_dim}_fp16.tflite", fp16=True)
    t_ens = time.perf_counter() - t0

    def runner(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interp = tf.lite.Interpreter(model_path=str(path), num_threads=a.threads)
        r = interp.get_signature_runner("serving_default")
        return lambda x: r(inputs=x)["outputs"]

    module = TFLiteModel(single)
    fns = {"tflite_single_fp32": runner(single_path), f"tflite_ensemble{a.n_models}_fp16": runner(ens_path),
           "keras_single": lambda x: module(tf.constant(x))["outputs"].numpy()}
    rows = {name: {T: median_ms(fn, seqs[T], a.repeat if name.startswith("tflite") else max(3, a.repeat // 4)) for T in lengths}
            for name, fn in fns.items()}

    sizes = {"tflite_single_fp32": single_path.stat().st_size / 2**20, f"tflite_ensemble{a.n_models}_fp16": ens_path.stat().st_size / 2**20}
    print(f"{'ms per sequence':28s}" + "".join(f"{f'T={T}':>10s}" for T in lengths) + f"{'MiB':>8s}  within {a.budget_ms:g} ms and 40 MB?")
    for name, r in rows.items():
        mib = sizes.get(name)
        ok = all(v <= a.budget_ms for v in r.values()) and (mib is None or mib < 40)
        print(f"{name:28s}" + "".join(f"{r[T]:10.1f}" for T in lengths) + (f"{mib:8.2f}" if mib else f"{'-':>8s}")
              + ("  yes" if ok else "  NO") + ("" if mib else " (not a submission)"))
    print(f"conversion: single {t_single:.0f} s, ensemble {t_ens:.0f} s; sequence: {'real sample' if pq else 'random'}; "
          f"threads: {a.threads or 'default'}; cpus: {os.cpu_count()}")
    summary = {"ms": rows, "mib": sizes, "budget_ms": a.budget_ms, "lengths": lengths, "n_models": a.n_models,
               "ensemble_dim": a.ensemble_dim, "threads": a.threads, "real_sequence": pq is not None,
               "files": {"single": str(single_path), "ensemble": str(ens_path)}}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
