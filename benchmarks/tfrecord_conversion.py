"""Full-size TFRecord conversion (issue 16): `write_tfrecords` on synthetic Kaggle-layout datasets of 1,000 and 8,000
clips, with 1 and 2 worker processes. For each run: clips per second (overall, and per worker), CPU seconds, and peak
memory (RSS) of the parent and of the largest worker; then the time the real 94,477 clips would take here. The
workers write with `tf.train.Example` + `tf.io.TFRecordWriter` (GZIP), so each loads TensorFlow once: its memory is
in the worker peak (and, with 1 worker, in the parent's, where the shards are written).

    python benchmarks/tfrecord_conversion.py                     # 1,000 and 8,000 clips (8,000: about 2.4 GB of disk)
    python benchmarks/tfrecord_conversion.py --sizes 1000 --workers 1 2 4
    python benchmarks/tfrecord_conversion.py --sizes 100 --workers 1 2  # a quick check that it works

Every run is a fresh process (`--one`), so each peak is its own. The datasets are made under a temporary folder
(or `--keep DIR`, reused when there) and deleted at the end unless kept. Synthetic clips are short like the real ones
(6 to 120 frames, a median near 20; 3% longer); the real median is longer, so expect the real rate to be lower.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL_CLIPS = 94_477


def one_run(data: str, out: str, workers: int) -> dict:
    "Convert `data` into `out` with `workers` processes, in this (fresh) process: rate, CPU and peak memory."
    from sign_notes.islr.tfrecord import count_data_items, write_tfrecords

    t0, c0 = time.perf_counter(), os.times()
    files = write_tfrecords(data, out, n_folds=5, shard_size=250, n_workers=workers, overwrite=True, progress=False)
    wall, c1 = time.perf_counter() - t0, os.times()
    mine, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return dict(
        clips=count_data_items(files), workers=workers, wall_s=wall,
        cpu_s=(c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user)
        + (c1.children_system - c0.children_system),
        parent_peak_mb=mine.ru_maxrss / 1024, worker_peak_mb=kids.ru_maxrss / 1024 if workers > 1 else None,
        bytes=sum(f.stat().st_size for f in files),
    )  # fmt: skip


def run_child(*args) -> dict:
    p = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keep", help="make (or reuse) the datasets here and keep them")
    ap.add_argument("--one", nargs=3, metavar=("DATA", "OUT", "WORKERS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args.one[0], args.one[1], int(args.one[2]))))
        return

    from sign_notes.synth import make_synthetic_islr

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tfrecord-conversion-"))
    rows = []
    try:
        for size in args.sizes:
            data = base / f"islr_{size}"
            if not (data / "train.csv").exists():
                t0 = time.perf_counter()
                make_synthetic_islr(data, n_signs=25, n_per_sign=size // 25, n_participants=21, seed=0, progress=False)
                print(f"made {size} synthetic clips in {time.perf_counter() - t0:.0f} s", flush=True)
            for w in args.workers:
                r = run_child("--one", data, base / f"tfr_{size}_{w}", w)
                shutil.rmtree(base / f"tfr_{size}_{w}", ignore_errors=True)
                rows.append(r)
                print(json.dumps(r), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print(f"\n{'clips':>6} {'workers':>7} {'clips/s':>8} {'per worker':>10} {'CPU ms/clip':>11} "
          f"{'parent peak':>11} {'worker peak':>11} {'94,477 clips':>12}")  # fmt: skip
    for r in rows:
        rate = r["clips"] / r["wall_s"]
        wp = f"{r['worker_peak_mb']:.0f} MB" if r["worker_peak_mb"] else "-"
        print(f"{r['clips']:>6} {r['workers']:>7} {rate:>8.1f} {rate / r['workers']:>10.1f} "
              f"{1000 * r['cpu_s'] / r['clips']:>11.1f} {r['parent_peak_mb']:>8.0f} MB {wp:>11} "
              f"{REAL_CLIPS / rate / 60:>9.0f} min")  # fmt: skip
    print(f"(wall clock on {os.cpu_count()} cores, shared; the extrapolation assumes the synthetic clips' length)")


if __name__ == "__main__":
    main()
