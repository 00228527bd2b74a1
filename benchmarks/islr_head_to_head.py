"""Head to head (issue 17): the 1st-place model against Mark Wijkhuizen's transformer (chapter 13), measured in one run.

Both models train on the same synthetic dataset (`TOUR_DATA["small"]`: 10 signs, 30 clips a sign, 5 signers) and are
validated on the same held-out signer: fold 0 of the 1st-place pipeline's signer folds, which the transformer also
holds out. Each trains with its "small" preset (CPU-sized; `--preset quick` for the CI-sized ones). One table:
parameters, validation top-1 and top-5, TFLite MB (1 MB = 1e6 bytes) and milliseconds per sequence (one TFLite
thread, `time_runner`: the median of `--repeat` calls after a warm-up, on a held-out clip).

    python benchmarks/islr_head_to_head.py                 # a few minutes on 2 CPU cores
    python benchmarks/islr_head_to_head.py --preset quick  # the CI-sized presets

The last line printed is a JSON summary. TensorFlow only.
"""

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _runner(path, threads: int = 1):
    "The competition's runner of a TFLite file, on `threads` threads: frames -> outputs."
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interp = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
    r = interp.get_signature_runner("serving_default")
    return lambda x: r(inputs=x)["outputs"]


def first_place(data: Path, out: Path, preset: str) -> tuple[dict, list]:
    "The 1st-place pipeline (fold 0 held out): its row, and the held-out signers."
    import keras
    import pandas as pd
    from sign_notes.islr.pipeline import train_islr_main

    res = train_islr_main(quick=preset == "quick", data_dir=data, out_dir=out, verbose=0)
    folds = pd.read_csv(out / "tfrecords" / "folds.csv")
    held_out = sorted(folds.loc[folds.fold == 0, "participant_id"].unique().tolist())
    params = keras.models.load_model(out / "model.keras", compile=False).count_params()
    return dict(model="1st-place", params=params, top1=res["val_accuracy"], top5=res["top5"],
                tflite=res["tflite_path"], seconds=res["seconds"]), held_out


def transformer(data: Path, out: Path, preset: str, held_out: list) -> dict:
    "The transformer, trained with `train_transformer` on the other signers, validated on `held_out`."
    import numpy as np
    from sign_notes.islr.transformer import (TransformerConfig, export_transformer_tflite, preprocess_dataset,
                                             train_transformer)

    t0 = time.time()
    ds = preprocess_dataset(data)
    val = np.isin(ds["participant_id"], held_out)
    cfg = TransformerConfig.preset(preset, num_classes=len(ds["sign_map"]))
    model, _ = train_transformer(cfg, ds, ~val, val)
    p = model.predict({"frames": ds["X"][val], "non_empty_frame_idxs": ds["non_empty_frame_idxs"][val]}, verbose=0)
    ranked, y = np.argsort(-p, 1), ds["y"][val]
    path = export_transformer_tflite(model, out / "model.tflite")
    return dict(model="transformer", params=model.count_params(), top1=float((ranked[:, 0] == y).mean()),
                top5=float((ranked[:, :5] == y[:, None]).any(1).mean()), tflite=str(path),
                seconds=round(time.time() - t0, 1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=("small", "quick"), help="both models' preset")
    ap.add_argument("--repeat", type=int, default=50, help="timed calls per latency measurement")
    ap.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    a = ap.parse_args(argv)

    import pandas as pd
    from sign_notes.data import load_relevant_data_subset, read_train_csv
    from sign_notes.device import seed_everything
    from sign_notes.islr.export import time_runner
    from sign_notes.synth import TOUR_DATA, make_synthetic_islr

    seed_everything(42)
    work = Path(a.out or tempfile.mkdtemp(prefix="islr_h2h_"))
    data = make_synthetic_islr(work / "data", **TOUR_DATA["small"], progress=False)
    row1, held_out = first_place(Path(data), work / "first_place", a.preset)
    row2 = transformer(Path(data), work / "transformer", a.preset, held_out)
    df = read_train_csv(data)
    clip = load_relevant_data_subset(Path(data) / df.loc[df.participant_id == held_out[0], "path"].iloc[0])
    rows = []
    for r in (row1, row2):
        ms = time_runner(_runner(r["tflite"]), clip, a.repeat)
        rows.append({"model": r["model"], "parameters": r["params"], "val top-1": round(r["top1"], 3),
                     "val top-5": round(r["top5"], 3), "TFLite MB": round(Path(r["tflite"]).stat().st_size / 1e6, 2),
                     "ms / sequence": round(ms, 2), "train s": r["seconds"]})
    print(f"synthetic {TOUR_DATA['small']}; held-out signer(s) {held_out};\n{len(clip)}-frame clip timed; "
          f"preset {a.preset!r}; 1 TFLite thread; cpus: {os.cpu_count()}")
    print(pd.DataFrame(rows).to_string(index=False))
    print(json.dumps({"preset": a.preset, "held_out": [int(h) for h in held_out], "rows": rows}))


if __name__ == "__main__":
    main()
