"""ISLR TFLite speed (issue 15): the original's file against our faster ones, one thread, measured in one run.

The original's file is the seed's `TFLiteModel` as published (the `Preprocess` layer on the whole frame, the models,
`keras.layers.Average`), with only the Keras 3 weight-tracking fix it needs to convert, in float32. Ours are
`export_tflite`'s: the lean graph (`lean_features`: one gather of the x, y columns of the 118 kept points first) in
float32, with float16 weights and with dynamic-range int8 weights (`quantize="dynamic"`), and the int8 weights on the
original's graph (to tell the two levers apart). The model is the 1st-place one (`dim=192`, 1,836,569 parameters).

Timing: every file runs on ONE interpreter thread (`num_threads=1`), the files called in turn (A, B, C, ... A, B, C,
...: a machine that gets busier slows all alike) for `--rounds` rounds; the median per file, in CPU time of this
process (`time.process_time`, what one thread really spent) and in wall time. Ratios are original / ours.
Agreement: top-1 of each file against float32 Keras (the same models, `Preprocess`, run by TensorFlow) on a synthetic
validation set (`--n-val` recordings from `sign_notes.synth`'s generator, 6 to 380 frames) and on the real sequence.
Ensemble: `--n-models` models (the seed's submission: 4 `dim=192` models) at the longest length, float32, float16
and int8 weights, original's graph and ours.

    python benchmarks/islr_tflite_speed.py                 # about 5 minutes on 2 busy cores
    python benchmarks/islr_tflite_speed.py --model runs/islr/model.keras   # a trained model instead of random weights

The last line printed is a JSON summary, also written to benchmarks/results/islr_tflite_speed.json. TensorFlow only.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    "This machine's CPU model name (Linux), else the platform's processor string."
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def seed_wrapper(models):
    "The seed's TFLiteModel as published, plus the weight tracking Keras 3 needs (chapter 11): the original's file."
    import keras
    import tensorflow as tf
    from sign_notes.islr.features import Preprocess
    from sign_notes.islr.model import any_length

    class SeedTFLiteModel(tf.Module):
        def __init__(self, islr_models):
            super().__init__()
            self.prep_inputs = Preprocess()
            self.islr_models = [any_length(m) for m in islr_models]
            self._tracked_weights = [v.value for m in self.islr_models for v in m.weights]  # the Keras 3 fix

        @tf.function(input_signature=[tf.TensorSpec(shape=[None, 543, 3], dtype=tf.float32, name="inputs")])
        def __call__(self, inputs):
            x = self.prep_inputs(tf.cast(inputs, dtype=tf.float32))
            outputs = [model(x) for model in self.islr_models]
            outputs = keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0]
            return {"outputs": outputs[0]}

    return SeedTFLiteModel(models)


def synthetic_validation(n: int, seed: int = 0) -> list:
    "`n` synthetic recordings `[T, 543, 3]` (10 signs, 5 signers) from the course's generator (chapter 01c)."
    import numpy as np
    from sign_notes.synth import _make_signers, _sign_recipe, _synth_sequence

    rng = np.random.default_rng(seed)
    recipes = [_sign_recipe(np.random.default_rng([seed, k]), k) for k in range(10)]
    signers = list(_make_signers(rng, 5).values())
    return [_synth_sequence(recipes[i % 10], np.random.default_rng([seed, i]), signers[i % 5]) for i in range(n)]


def interleaved(fns: dict, x, rounds: int) -> dict:
    "Median CPU and wall milliseconds of each `fn(x)`, the functions called in turn for `rounds` rounds."
    for f in fns.values():
        f(x)  # warm-up: the first call allocates
    cpu = {k: [] for k in fns}
    wall = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            f(x)
            cpu[k].append((time.process_time() - c0) * 1000)
            wall[k].append((time.perf_counter() - w0) * 1000)
    return {k: {"cpu_ms": statistics.median(cpu[k]), "wall_ms": statistics.median(wall[k])} for k in fns}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="105,384")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--n-val", type=int, default=200, help="synthetic validation recordings")
    ap.add_argument("--n-models", type=int, default=4, help="ensemble size (0: no ensemble)")
    ap.add_argument("--model", default=None, help="a trained .keras model (else random weights, dim 192)")
    ap.add_argument("--out", default=None, help="folder for the .tflite files (default: a temporary one)")
    ap.add_argument("--json", default=str(RESULTS / "islr_tflite_speed.json"))
    a = ap.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import keras
    from sign_notes.core import shared_data
    from sign_notes.data import load_relevant_data_subset
    from sign_notes.device import seed_everything
    from sign_notes.islr.export import convert_tflite, TFLiteModel, keras_reference
    from sign_notes.islr.model import get_model

    seed_everything(0)
    lengths = [int(t) for t in a.lengths.split(",")]
    out = Path(a.out or tempfile.mkdtemp(prefix="islr_speed_"))
    out.mkdir(parents=True, exist_ok=True)
    pq = shared_data("islr", "16069_10042041.parquet")
    real = load_relevant_data_subset(pq) if pq is not None else synthetic_validation(1, 99)[0]
    seqs = {T: np.concatenate([real] * (T // len(real) + 1))[:T] for T in lengths}
    model = keras.models.load_model(a.model) if a.model else get_model(max_len=None, dim=192)

    def write(name, module, quantize=None):
        p = out / f"{name}.tflite"
        p.write_bytes(convert_tflite(module, quantize=quantize))
        return p

    single = {
        "original fp32": write("original_fp32", seed_wrapper([model])),
        "original graph, int8 weights": write("original_int8", seed_wrapper([model]), "dynamic"),
        "ours fp32 (lean)": write("ours_fp32", TFLiteModel(model)),
        "ours fp16 (lean)": write("ours_fp16", TFLiteModel(model), "float16"),
        "ours int8 (lean, dynamic)": write("ours_int8", TFLiteModel(model), "dynamic"),
    }

    def runner(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interp = tf.lite.Interpreter(model_path=str(path), num_threads=1)
        r = interp.get_signature_runner("serving_default")
        return lambda x: r(inputs=x)["outputs"]

    fns = {k: runner(p) for k, p in single.items()}
    times = {T: interleaved(fns, seqs[T], a.rounds) for T in lengths}
    base = "original fp32"
    ratios = {
        T: {k: {m: times[T][base][m] / v[m] for m in ("cpu_ms", "wall_ms")} for k, v in times[T].items()}
        for T in lengths
    }

    val = synthetic_validation(a.n_val)
    ref_val = np.array([keras_reference(model, x).argmax() for x in val])
    ref_real = int(keras_reference(model, real).argmax())
    agree = {
        k: {
            "synthetic": float(np.mean([int(np.argmax(f(x))) == r for x, r in zip(val, ref_val)])),
            "real": int(np.argmax(f(real))) == ref_real,
            "max_abs_real": float(np.abs(f(real) - keras_reference(model, real)).max()),
        }
        for k, f in fns.items()
    }
    sizes = {k: p.stat().st_size for k, p in single.items()}

    print(f"ISLR TFLite, one thread, {cpu_name()}, {os.cpu_count()} logical CPUs (shared); median of {a.rounds}")
    print(f"{'file':32s}{'MB':>7s}" + "".join(f"{f'T={T} cpu ms':>14s}{'x':>6s}" for T in lengths) + "  top-1 agree")
    for k in single:
        row = f"{k:32s}{sizes[k] / 1e6:7.2f}"
        for T in lengths:
            row += f"{times[T][k]['cpu_ms']:14.2f}{ratios[T][k]['cpu_ms']:6.2f}"
        print(row + f"  {agree[k]['synthetic']:.1%} synthetic, real {'same' if agree[k]['real'] else 'DIFFERENT'}")

    ens = {}
    if a.n_models > 0:
        T = max(lengths)
        members = [model] + [get_model(max_len=None, dim=192) for _ in range(a.n_models - 1)]
        files = {
            "original fp32": write("ens_original_fp32", seed_wrapper(members)),
            "original fp16": write("ens_original_fp16", seed_wrapper(members), "float16"),
            "ours fp32 (lean)": write("ens_ours_fp32", TFLiteModel(members)),
            "ours fp16 (lean)": write("ens_ours_fp16", TFLiteModel(members), "float16"),
            "ours int8 (lean, dynamic)": write("ens_ours_int8", TFLiteModel(members), "dynamic"),
        }
        efns = {k: runner(p) for k, p in files.items()}
        et = interleaved(efns, seqs[T], max(5, a.rounds // 2))
        eref = int(keras_reference(members, real).argmax())
        eval_ref = [int(keras_reference(members, x).argmax()) for x in val[:50]]
        ens = {
            k: {
                **et[k],
                "mb": files[k].stat().st_size / 1e6,
                "real_same_top1": int(np.argmax(f(real))) == eref,
                "synthetic_agree": float(np.mean([int(np.argmax(f(x))) == r for x, r in zip(val, eval_ref)])),
            }
            for k, f in efns.items()
        }
        print(f"\nEnsemble of {a.n_models} dim-192 models at T={T}, one thread (budget 100 ms, issue 15's aim < 60 ms)")
        for k, v in ens.items():
            print(
                f"{k:32s}{v['mb']:7.2f} MB  cpu {v['cpu_ms']:7.1f} ms  wall {v['wall_ms']:7.1f} ms  "
                f"{'< 60 ms' if v['cpu_ms'] < 60 else '>= 60 ms'}; top-1 agree {v['synthetic_agree']:.0%} (50 clips)"
            )

    summary = {
        "benchmark": "islr_tflite_speed",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": 1,
        "rounds": a.rounds,
        "model": a.model or "random weights, dim 192",
        "lengths": lengths,
        "ms": {str(T): times[T] for T in lengths},
        "ratio_vs_original": {str(T): ratios[T] for T in lengths},
        "bytes": sizes,
        "agreement": agree,
        "n_val": a.n_val,
        "real_sequence": pq is not None,
        "ensemble": {"n_models": a.n_models, "length": max(lengths), "files": ens},
    }
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
