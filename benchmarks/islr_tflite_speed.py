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
validation set (`--n-val` recordings from `sign_notes.synth`'s generator, 6 to 380 frames: the 10 signs and 5 signers
of `make_synthetic_islr(seed=0)`, new recordings, sign `i % 10` for recording `i`) and on the real sequence; with the
Keras model's top-1 margins (logit 1 - logit 2), since int8 rounding can only flip a clip whose margin is small, and
each file's accuracy on those signs (meaningful only for a model trained on them).
Ensemble: `--n-models` models (the seed's submission: 4 `dim=192` models) at the longest length, float32, float16
and int8 weights, original's graph and ours.

Which model: `--model` (one .keras file, or several separated by commas: the first is the single model, all of them
the ensemble, random `dim=192` models filling it up to `--n-models`). Random weights have 250 logits close together,
so their agreement says little about a real model's: measure a trained one. The JSON says which model it used, its
parameters and, from the `result.json` beside a model (written by `sign-notes train-islr`), its validation accuracy.

    python benchmarks/islr_tflite_speed.py --train runs/islr_speed --n-val 500   # the stored result (see below)
    python benchmarks/islr_tflite_speed.py --model runs/islr/model.keras   # your trained model
    python benchmarks/islr_tflite_speed.py                 # random weights: speed only; about 5 minutes on 2 busy cores

The stored result (benchmarks/results/islr_tflite_speed.json) is of four `dim=192` models (1,836,569 parameters each)
trained on CPU on synthetic signs by `--train` (`train_models`: 7 to 11 minutes each on 2 busy cores, kept in the
folder and reused); `trained_model` in it says how each was trained and its validation accuracy.
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


def synthetic_labels(n: int) -> list:
    "The sign of each of `synthetic_validation(n)`'s recordings: recording `i` is sign `i % 10`."
    return [i % 10 for i in range(n)]


def model_info(path) -> dict:
    "Which model: its path, parameters and, from the `result.json` beside it (`train-islr`'s), how it was trained."
    import keras

    model = keras.models.load_model(path)
    info = {"path": str(path), "params": int(model.count_params())}
    res = Path(path).parent / "result.json"
    if res.exists():
        r = json.loads(res.read_text())
        keep = ("val_accuracy", "n_valid", "top5", "epochs", "dim", "max_len", "preset", "seed", "data", "folds", "how")
        info.update({k: r[k] for k in keep if k in r})
    return model, info


def train_models(out, n: int, epochs: int = 40) -> list:
    """`n` dim-192 models (250 outputs, 1,836,569 parameters), trained on CPU on synthetic signs, seeds 42, 43, ...:
    `CFG`'s "small" preset (crops of 64 frames) on `make_synthetic_islr(n_signs=10, n_per_sign=50, n_participants=5,
    seed=0)`, fold 0 (one signer held out). Each `out/seed{s}/model.keras` with its `result.json`; kept ones reused."""
    from sign_notes.synth import make_synthetic_islr
    from sign_notes.islr.config import CFG
    from sign_notes.islr.evaluate import oof_predictions, oof_report
    from sign_notes.islr.model import any_length
    from sign_notes.islr.train import prepare_tfrecords, train_folds

    out = Path(out)
    synth = dict(n_signs=10, n_per_sign=50, n_participants=5, seed=0)
    paths = []
    for seed in range(42, 42 + n):
        run = out / f"seed{seed}"
        paths.append(run / "model.keras")
        if paths[-1].exists() and (run / "result.json").exists():
            continue
        t0 = time.time()
        if not (out / "data" / "train.csv").exists():
            make_synthetic_islr(out / "data", **synth, progress=False)
        files = prepare_tfrecords(out / "data", out / "tfrecords", n_folds=5)
        cfg = CFG.preset("small", dim=192, num_classes=250, epoch=epochs, output_dir=str(run), verbose=2, seed=seed)
        res = train_folds(cfg, [0], files)
        report = oof_report(oof_predictions(res, files))
        model = any_length(res[0][0])
        model.save(paths[-1])
        minutes = (time.time() - t0) / 60
        how = (
            f"CFG 'small' preset with dim 192 and 250 outputs, {epochs} epochs on CPU ({minutes:.0f} min), crops of "
            f"max_len 64, on make_synthetic_islr({', '.join(f'{k}={v}' for k, v in synth.items())}), fold 0 (one of "
            f"the 5 signers held out), training seed {seed}"
        )
        result = {"val_accuracy": report["accuracy"], "n_valid": report["n"], "top5": report["top5"], "epochs": epochs}
        result.update(dim=192, max_len=cfg.max_len, preset="small", seed=seed, how=how)
        (run / "result.json").write_text(json.dumps(result, indent=1))
    return paths


def margins(logits):
    "Top-1 logit minus top-2 logit of each row: how far an answer is from changing."
    import numpy as np

    top2 = np.sort(np.asarray(logits), axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


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
    ap.add_argument("--model", default=None, help="trained .keras model(s), comma-separated (else random, dim 192)")
    ap.add_argument("--train", default=None, help="train --n-models models here (or reuse them)")
    ap.add_argument("--epochs", type=int, default=40, help="with --train")
    ap.add_argument("--out", default=None, help="folder for the .tflite files (default: a temporary one)")
    ap.add_argument("--json", default=str(RESULTS / "islr_tflite_speed.json"))
    a = ap.parse_args(argv)

    import numpy as np
    import tensorflow as tf
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
    if a.train:
        if a.model:
            raise SystemExit("--train trains the models it measures: leave out --model")
        a.model = ",".join(str(p) for p in train_models(a.train, max(1, a.n_models), a.epochs))
    loaded = [model_info(p) for p in a.model.split(",")] if a.model else []
    model = loaded[0][0] if loaded else get_model(max_len=None, dim=192)
    which = [info for _, info in loaded] or [{"path": None, "params": int(model.count_params()), "weights": "random"}]

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

    val, labels = synthetic_validation(a.n_val), np.array(synthetic_labels(a.n_val))
    keras_val = np.stack([keras_reference(model, x) for x in val])
    ref_val, margin = keras_val.argmax(1), margins(keras_val)
    keras_real = keras_reference(model, real)
    ref_real = int(keras_real.argmax())
    agree = {}
    for k, f in fns.items():
        outs = np.stack([f(x) for x in val])
        top1 = outs.argmax(1)
        agree[k] = {
            "synthetic": float(np.mean(top1 == ref_val)),
            "max_abs_synthetic": float(np.abs(outs - keras_val).max()),  # how far a logit moved, against the margins
            "n_changed": int(np.sum(top1 != ref_val)),
            "keras_margin_of_changed": [round(float(m), 4) for m in margin[top1 != ref_val]],
            "synthetic_label_accuracy": float(np.mean(top1 == labels)),
            "real": int(np.argmax(f(real))) == ref_real,
            "max_abs_real": float(np.abs(f(real) - keras_real).max()),
        }
    keras_stats = {
        "synthetic_label_accuracy": float(np.mean(ref_val == labels)),
        "margin_quantiles": {q: round(float(np.quantile(margin, q / 100)), 4) for q in (0, 1, 5, 50)},
        "real_top1": ref_real,
        "real_margin": round(float(margins(keras_real)), 4),
    }
    sizes = {k: p.stat().st_size for k, p in single.items()}

    print(f"model: {which[0]}")
    print(
        f"float32 Keras on {a.n_val} synthetic clips: accuracy {keras_stats['synthetic_label_accuracy']:.1%} "
        f"(meaningful for a model trained on these signs), top-1 margin quantiles {keras_stats['margin_quantiles']}"
    )
    print(f"ISLR TFLite, one thread, {cpu_name()}, {os.cpu_count()} logical CPUs (shared); median of {a.rounds}")
    print(f"{'file':32s}{'MB':>7s}" + "".join(f"{f'T={T} cpu ms':>14s}{'x':>6s}" for T in lengths) + "  top-1 agree")
    for k in single:
        row = f"{k:32s}{sizes[k] / 1e6:7.2f}"
        for T in lengths:
            row += f"{times[T][k]['cpu_ms']:14.2f}{ratios[T][k]['cpu_ms']:6.2f}"
        print(
            row + f"  {agree[k]['synthetic']:.1%} of {a.n_val} synthetic ({agree[k]['n_changed']} changed, Keras "
            f"margins {agree[k]['keras_margin_of_changed']}), real {'same' if agree[k]['real'] else 'DIFFERENT'}"
        )

    ens, n_random = {}, 0
    if a.n_models > 0:
        T = max(lengths)
        members = ([m for m, _ in loaded] or [model])[: a.n_models]
        n_random = a.n_models - len(members)
        members += [get_model(max_len=None, dim=192) for _ in range(n_random)]
        n_ens_val = min(len(val), 100)
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
        eval_ref = [int(keras_reference(members, x).argmax()) for x in val[:n_ens_val]]
        ens = {
            k: {
                **et[k],
                "mb": files[k].stat().st_size / 1e6,
                "real_same_top1": int(np.argmax(f(real))) == eref,
                "synthetic_agree": float(np.mean([int(np.argmax(f(x))) == r for x, r in zip(val, eval_ref)])),
                "n_val": n_ens_val,
            }
            for k, f in efns.items()
        }
        print(
            f"\nEnsemble of {a.n_models} dim-192 models ({a.n_models - n_random} given, {n_random} random) at T={T}, "
            "one thread (budget 100 ms, issue 15's aim < 60 ms)"
        )
        for k, v in ens.items():
            print(
                f"{k:32s}{v['mb']:7.2f} MB  cpu {v['cpu_ms']:7.1f} ms  wall {v['wall_ms']:7.1f} ms  "
                f"{'< 60 ms' if v['cpu_ms'] < 60 else '>= 60 ms'}; "
                f"top-1 agree {v['synthetic_agree']:.0%} ({n_ens_val} clips)"
            )

    summary = {
        "benchmark": "islr_tflite_speed",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": 1,
        "rounds": a.rounds,
        "model": a.model or "random weights, dim 192",
        "trained_model": which,
        "keras": keras_stats,
        "lengths": lengths,
        "ms": {str(T): times[T] for T in lengths},
        "ratio_vs_original": {str(T): ratios[T] for T in lengths},
        "bytes": sizes,
        "agreement": agree,
        "n_val": a.n_val,
        "real_sequence": pq is not None,
        "ensemble": {"n_models": a.n_models, "n_random": n_random, "length": max(lengths), "files": ens},
    }
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
