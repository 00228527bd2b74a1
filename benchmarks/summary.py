"""Regenerate benchmarks/summary.md (the README's "Speed" table) from the benchmarks' stored results.

Each speed benchmark writes its last result as JSON under benchmarks/results/ (`islr_tflite_speed.py`,
`stgcn_speed.py`); this script reads them, runs nothing, and writes one markdown section, "## Speed", with one table
and the machine named. `.ci/make_readme.py` appends benchmarks/summary.md to the README.

    python benchmarks/summary.py            # writes benchmarks/summary.md and prints it
"""

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def islr_rows(r: dict) -> list[tuple]:
    "Table rows from islr_tflite_speed.json: one model at each length, file size, the 4-model ensemble."
    orig, ours = "original fp32", "ours int8 (lean, dynamic)"
    agree = r["agreement"][ours]
    trained = [m for m in (r.get("trained_model") or []) if m]
    weights = f"trained weights, held-out accuracy {trained[0]['val_accuracy']:.0%}" if trained else "random weights"
    rows = []
    for T in r["lengths"]:
        ms = r["ms"][str(T)]
        ratio = ms[orig]["cpu_ms"] / ms[ours]["cpu_ms"]
        rows.append(
            (
                f"ISLR TFLite, 1 model, {T} frames, 1 thread",
                f"{ms[orig]['cpu_ms']:.2f} ms",
                f"{ms[ours]['cpu_ms']:.2f} ms (int8, lean graph)",
                f"{ratio:.2f}x",
                ">= 1.5x, top-1 agreement >= 99 %",
                f"speed {'yes' if ratio >= 1.5 else 'no'}; agreement {'yes' if agree['synthetic'] >= 0.99 else 'no'}: "
                f"top-1 = Keras on {agree['synthetic']:.0%} of {r['n_val']} synthetic clips ({weights}), "
                f"real clip {'same' if agree['real'] else 'different'}",
            )
        )
    b = r["bytes"]
    rows.append(
        (
            "ISLR TFLite file size",
            f"{b[orig] / 1e6:.2f} MB",
            f"{b[ours] / 1e6:.2f} MB",
            f"{b[orig] / b[ours]:.1f}x",
            "",
            "",
        )
    )
    ens = r["ensemble"]
    if ens.get("files"):
        f = ens["files"]
        o16 = f.get("original fp16", f.get("original fp32"))
        o = f[ours]
        rows.append(
            (
                f"ISLR {ens['n_models']}-model ensemble, {ens['length']} frames, 1 thread",
                f"{o16['cpu_ms']:.1f} ms (float16, {o16['mb']:.1f} MB)",
                f"{o['cpu_ms']:.1f} ms (int8, {o['mb']:.1f} MB)",
                f"{o16['cpu_ms'] / o['cpu_ms']:.2f}x",
                "< 60 ms",
                "yes" if o["cpu_ms"] < 60 else "no",
            )
        )
    return rows


def stgcn_rows(r: dict) -> list[tuple]:
    "Table rows from stgcn_speed.json: the training step, the seed as shipped against ours, with GFLOP/s and peaks."
    seed, ours = r["original"], r["best"]
    m, g = r["median"], r["gflops"]
    peak = r["matmul_peak_gflops"][ours.split(", ", 1)[1]]["paddle"]
    ratio = r["ratio_cpu_vs_original"][ours]
    same = max(r["max_abs_logit_diff"].values()) <= 1e-4
    levers = ", ".join(f"{k}: {v:.2f}x" for k, v in r["ratio_cpu_vs_original"].items() if k not in (seed, ours))
    return [
        (
            f"ST-GCN training step, batch {r['batch']}, {r['threads'] or 'default'} thread(s)",
            f"{m[seed]['cpu_s']:.2f} s ({g[seed]:.0f} GFLOP/s; {seed})",
            f"{m[ours]['cpu_s']:.2f} s ({g[ours]:.0f} GFLOP/s, {g[ours] / peak:.0%} of Paddle's matmul peak "
            f"{peak:.0f}; {ours})",
            f"{ratio:.2f}x",
            ">= 3x, same outputs (1e-4), same parameters",
            f"{'yes' if ratio >= 3 else 'no'} (one lever at a time: {levers}); "
            f"outputs {'same' if same else 'DIFFERENT'}, {r['params'][ours]:,} parameters",
        )
    ]


def stgcn_inference_rows(r: dict) -> list[tuple]:
    "Table rows from stgcn_inference[_shipped].json: one clip through Paddle Inference against the eager model."
    m, d = r["ms_per_clip"], r["max_abs_diff"]
    best = "Paddle Inference + oneDNN"
    ratio = r["ratio_cpu_vs_eager"][best]
    mkl = "MKL AVX2" if r.get("mkl_debug_cpu_type") == "5" else "MKL as shipped"
    return [
        (
            f"ST-GCN inference, clip {r['clip']}, {r['threads']} thread(s), {mkl}",
            f"{m['eager model']['cpu_ms']:.0f} ms (eager model)",
            f"{m[best]['cpu_ms']:.0f} ms (Paddle Inference, oneDNN)",
            f"{ratio:.2f}x",
            "same outputs",
            f"outputs within {max(d.values()):.0e}",
        )
    ]


def throughput_rows(r: dict) -> list[tuple]:
    "Table rows from islr_train_throughput[_full].json: the step against the original's, the input against the step."
    what = f"preset {r['preset']!r} (dim {r['dim']}, {r['max_len']} frames, batch {r['batch_size']})"
    step = r["train_clips_per_cpu_s"]
    rows = []
    if "original_train_clips_per_cpu_s" in r:
        rows.append(
            (
                f"ISLR training step, {what}",
                f"{r['original_train_clips_per_cpu_s']:.1f} clips per CPU-s (the original's step, ported)",
                f"{step:.1f} clips per CPU-s",
                f"{r['train_over_original_cpu']:.2f}x",
                "measured (the same network and recipe)",
                "",
            )
        )
    all_rows = r["input_all_rows_clips_per_s"]
    rows.append(
        (
            f"ISLR input pipeline against the step, {what}",
            f"{all_rows:.0f} clips/s (the original's map: {r['input_all_rows_over_train']:.1f}x the step)",
            f"{r['input_clips_per_s']:.0f} clips/s (lean rows: {r['input_over_train']:.1f}x the step)",
            f"{r['lean_over_all_rows']:.2f}x",
            "input >= 5x the step",
            "yes" if r["input_over_train"] >= 5 else "no",
        )
    )
    return rows


def render() -> str:
    "The markdown section."
    results = {
        "islr_tflite_speed": (_load("islr_tflite_speed"), islr_rows),
        "islr_train_throughput": (_load("islr_train_throughput"), throughput_rows),
        "islr_train_throughput_full": (_load("islr_train_throughput_full"), throughput_rows),
        "stgcn_speed": (_load("stgcn_speed"), stgcn_rows),
        "stgcn_inference_shipped": (_load("stgcn_inference_shipped"), stgcn_inference_rows),
        "stgcn_inference": (_load("stgcn_inference"), stgcn_inference_rows),
    }
    rows, machines, whens = [], set(), []
    for name, (r, fn) in results.items():
        if r is None:
            continue
        rows += fn(r)
        machines.add(r["machine"])
        preset = f" --preset {r['preset']}" if "preset" in r else ""
        preset += " --mkl-as-shipped" if name.endswith("_shipped") else ""
        whens.append(f"`{r['benchmark']}.py{preset}` {r['when']}")
    lines = [
        "## Speed",
        "",
        "Ours against the original, measured side by side in one run (the calls interleaved), median CPU time of the",
        "process (the machine's cores are shared with other jobs, so wall times are inflated; the ratios hold).",
        f"Machine: {', '.join(sorted(machines)) or 'none measured yet'}. Measured: {'; '.join(whens) or '-'}.",
        "Regenerate with `python benchmarks/summary.py` after the benchmarks it reads (`islr_tflite_speed.py`,",
        "`islr_train_throughput.py`, `stgcn_speed.py`, `stgcn_inference.py`: each stores its last result in",
        "`benchmarks/results/`). \"MKL as shipped\" is Paddle's wheel as PaddleVideo's users run it; \"MKL AVX2\"",
        "is what importing `sign_notes.stgcn` sets on AMD processors (chapter 05a); on Intel ones both are the same.",
        "",
        "| what | original | ours | ratio | target | reached |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "summary.md"))
    a = ap.parse_args(argv)
    text = render()
    Path(a.out).write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
