"""Throughput of the ISLR input pipeline (issue 6), in sequences per second:

1. reading the Kaggle parquet files (`load_relevant_data_subset`, one process),
2. writing GZIP TFRecords (`write_tfrecords`, a pool of worker processes),
3. reading the TFRecords back (`decode_tfrec` in `tf.data`),
4. the seed's `tf.data` pipeline (`get_tfrec_dataset`), without and with augmentation, lean (the default: only the
   landmark rows the features read) and, augmented, also over all 543 rows (`lean=False`, the seed's map),

and the ratios of the TFRecord reads to the parquet read, all in one run on the same sequences.

    python benchmarks/islr_input_pipeline.py                      # small synthetic dataset (100 sequences)
    python benchmarks/islr_input_pipeline.py --n-signs 50 --n-per-sign 20 --participants 10
    python benchmarks/islr_input_pipeline.py --data /kaggle/input/asl-signs --limit 5000   # the real dataset

The real dataset is used when `--data` is given (or found by `sign_notes.data.find_dataset`: $SIGN_NOTES_ISLR or
Kaggle's folder) unless `--synthetic`. On the real dataset only `--limit` sequences are used (default 200; `--limit 0`
for all 94k, which takes hours and tens of GB of disk for the TFRecords). The parquet read only counts the frames it
loads, so memory stays at one sequence. Everything written goes to a temporary folder, deleted at the end (also on
an error or Ctrl-C). TensorFlow is imported inside `main`, after the conversion, so the spawned conversion workers
(which re-import this file as `__mp_main__`) never load it.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REAL_DEFAULT_LIMIT = 200  # sequences of the real dataset used when --limit is not given


def resolve_limit(limit, real: bool):
    "Sequences to use: `limit` (0 or less: all), else REAL_DEFAULT_LIMIT on the real dataset, all of a synthetic one."
    if limit is None:
        return REAL_DEFAULT_LIMIT if real else None
    return None if limit <= 0 else limit


def timed(fn, repeats=1):
    "(result, seconds) of calling `fn()`: the fastest of `repeats` calls (the machine may be shared)."
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", help="a Kaggle-format ISLR dataset folder (default: find_dataset(), else synthetic)")
    ap.add_argument("--synthetic", action="store_true", help="use a synthetic dataset even when the real one is found")
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help=f"at most this many sequences (default: {REAL_DEFAULT_LIMIT} of the real dataset, all of a synthetic one; "
        "0: all)",
    )
    ap.add_argument("--n-signs", type=int, default=10)
    ap.add_argument("--n-per-sign", type=int, default=10)
    ap.add_argument("--participants", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=None, help="conversion workers (default: all cores)")
    ap.add_argument("--compare-workers", action="store_true", help="also time the conversion in one process")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=3, help="reads are timed this many times; the fastest counts")
    args = ap.parse_args(argv)

    from sign_notes.data import find_dataset, load_relevant_data_subset, read_train_csv
    from sign_notes.synth import make_synthetic_islr
    from sign_notes.islr.tfrecord import count_data_items, write_tfrecords

    tmp = Path(tempfile.mkdtemp(prefix="islr_bench_"))
    try:
        root = None if args.synthetic else find_dataset(args.data)
        real = root is not None
        if root is None:
            root = make_synthetic_islr(
                tmp / "synthetic",
                n_signs=args.n_signs,
                n_per_sign=args.n_per_sign,
                n_participants=args.participants,
                seed=0,
                progress=False,
            )
            what = f"synthetic ({args.n_signs} signs x {args.n_per_sign}, {args.participants} participants)"
        else:
            what = f"real dataset at {root}"
        limit = resolve_limit(args.limit, real=real)
        train = read_train_csv(root)
        if limit is not None and limit < len(train):
            train = train.sample(limit, random_state=42)
        n = len(train)
        load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
        print(f"data: {what}; {n} sequences; {os.cpu_count()} CPU core(s){load}; python {sys.version.split()[0]}")

        rows = {}
        # count the frames while loading, keeping none of them (the whole real dataset would be ~23 GB in memory)
        n_frames, t = timed(lambda: sum(len(load_relevant_data_subset(root / p)) for p in train.path), args.repeats)
        rows["parquet read (load_relevant_data_subset, 1 process)"] = n / t

        def convert(out, workers):
            return write_tfrecords(
                root,
                out,
                n_folds=args.folds,
                shard_size=args.shard_size,
                n_workers=workers,
                limit=limit,
                progress=False,
            )

        files, t = timed(lambda: convert(tmp / "tfrecords", args.workers))
        workers = json.loads((tmp / "tfrecords" / "conversion.json").read_text())["workers"]
        assert count_data_items(files) <= n
        rows[f"TFRecord write (write_tfrecords, {workers} worker(s), GZIP)"] = n / t
        if args.compare_workers:
            _, t1 = timed(lambda: convert(tmp / "tfrecords1", 1))
            rows["TFRecord write (write_tfrecords, 1 process, GZIP)"] = n / t1
        mb = sum(f.stat().st_size for f in files) / 2**20
        parquet_mb = sum((root / p).stat().st_size for p in train.path) / 2**20

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        from sign_notes.islr.tfrecord import decode_tfrec, get_tfrec_dataset

        n_rec = count_data_items(files)
        raw = tf.data.TFRecordDataset(
            [str(f) for f in files], num_parallel_reads=tf.data.AUTOTUNE, compression_type="GZIP"
        )
        raw = raw.map(decode_tfrec, tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        _, t = timed(lambda: sum(1 for _ in raw), args.repeats)
        rows["TFRecord read (decode_tfrec in tf.data)"] = n_rec / t

        def epoch(augment, lean=True):
            ds = get_tfrec_dataset(
                files, batch_size=args.batch_size, max_len=args.max_len, augment=augment, shuffle=False, lean=lean
            )
            _, t_first = timed(lambda: sum(int(x.shape[0]) for x, _ in ds))  # includes tracing the map functions
            count, t_warm = timed(lambda: sum(int(x.shape[0]) for x, _ in ds), args.repeats)
            return count / t_first, count / t_warm

        for augment, lean in ((False, True), (True, True), (True, False)):
            first, warm = epoch(augment, lean)
            name = f"get_tfrec_dataset(augment={augment}, batch {args.batch_size}, max_len {args.max_len})"
            rows[name + ("" if lean else " lean=False")] = warm
            rows[f"  the same, first epoch (includes tracing){' ' * (augment + (not lean))}"] = first

        w = max(len(k) for k in rows)
        print(f"\n{'stage':<{w}}  sequences/s")
        for k, v in rows.items():
            print(f"{k:<{w}}  {v:10.1f}")
        pq = rows["parquet read (load_relevant_data_subset, 1 process)"]
        print(f"\nsizes: parquet {parquet_mb:.1f} MiB, TFRecords {mb:.1f} MiB (GZIP), {n_frames} frames")
        print(
            f"ratio TFRecord read / parquet read:            "
            f"{rows['TFRecord read (decode_tfrec in tf.data)'] / pq:6.2f}x"
        )
        aug = [v for k, v in rows.items() if "augment=True" in k and "lean=False" not in k][0]
        noaug = [v for k, v in rows.items() if "augment=False" in k][0]
        print(f"ratio pipeline (no augmentation) / parquet read: {noaug / pq:6.2f}x")
        print(f"ratio pipeline (augmented) / parquet read:       {aug / pq:6.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the synthetic data and the TFRecords


if __name__ == "__main__":
    main()
