"""ISLR training throughput (issue 15): clips per second of the training step, and of the `tf.data` input pipeline
that feeds it, so that the pipeline is never the bottleneck (the aim: input at least 5 times what the model eats).

The input pipeline is `train_fold`'s (`_fold_datasets`: TFRecords, augmentation, shuffle, repeat, padded batches),
timed alone, in two forms measured in alternating windows in one run: the lean one `train_fold` uses
(`lean=True`: only the landmark rows the features read are augmented, and, the dataset being small, kept in memory
after the first epoch: `cache="auto"`) and the seed's map over all 543 rows (`lean=False`, read from the files in
every epoch); they give the same batches, bit for bit (tests/test_islr_tfrecord_lean.py). Each window first drops
a few batches (what the prefetch buffer filled while the other pipeline was timed), then times `--batches` batches;
the median window counts. Wall time (tf.data runs on several threads), and the process's CPU time, the steadier
measure on a shared machine (`input_over_train_cpu`: what the pipeline and the step cost per clip, compared).

The training step: ours, as `train_fold` builds it (`_fold_model`: `get_model`, our AWP with its exact restore,
`SeedAdamW` with the seed's schedules, label-smoothed cross-entropy), against the original's, which cannot run as
written here (tf.keras 2.12, tf_utils, TensorFlow Addons: dead, and not Keras 3), so it is transcribed in this file
(`original_step_model`): the same network (`get_model` is the seed's, layer for layer, chapter 09), tf_utils'
`AWP.train_step_awp` line for line (two passes, the perturbation recomputed to undo it), and TFA's RectifiedAdam
(sma_threshold 4, the seed's scheduled weight decay) inside Lookahead (sync period 5), the seed's optimiser. What
differs between the two steps is the AWP bookkeeping and the optimiser (chapter 10b says why ours is AdamW). Both
are fed the same batches already in memory (`train_on_batch`: the model alone), in windows taken in turn, wall and
CPU time, the median window counting; both compiled alike (Keras' jit_compile="auto": XLA, as the seed's
`set_jit(True)`).

Synthetic dataset written as TFRecords; the preset (`--preset`, default "small": `dim=96`, 64 frames, batch 32)
sets the sizes.

    python benchmarks/islr_train_throughput.py                # a few minutes on 2 busy cores
    python benchmarks/islr_train_throughput.py --preset full --steps 3 --batches 8 --rounds 1 \\
        --json benchmarks/results/islr_train_throughput_full.json   # the seed's sizes (slow on a CPU): README row 2

The last line printed is a JSON summary, also written to benchmarks/results/islr_train_throughput.json.
TensorFlow only.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results"
ORIGINAL_STEP = (
    "the original: the seed's network (get_model) with tf_utils' AWP train_step and TFA's RectifiedAdam + Lookahead, "
    "transcribed to Keras 3 in this file (the originals need tf.keras 2 and TensorFlow Addons)"
)


def input_rates(datasets: dict, batch_size: int, batches: int, rounds: int, drop: int = 5) -> tuple[dict, dict]:
    "({name: [clips/s]}, {name: [clips per CPU-second]}) of each window: the pipelines in turn, `rounds` windows each."
    its = {k: iter(ds) for k, ds in datasets.items()}
    for it in its.values():  # the first batch waits for the shuffle buffer to fill
        for _ in range(drop):
            next(it)
    rates, cpu_rates = {k: [] for k in its}, {k: [] for k in its}
    for _ in range(rounds):
        for k, it in its.items():
            for _ in range(drop):  # what its prefetch buffer filled while the others ran
                next(it)
            c0, t0 = time.process_time(), time.perf_counter()  # process CPU: all of tf.data's threads
            for _ in range(batches):
                next(it)
            rates[k].append(batches * batch_size / (time.perf_counter() - t0))
            cpu_rates[k].append(batches * batch_size / (time.process_time() - c0))
    return rates, cpu_rates


def original_step_model(cfg, steps_per_epoch: int):
    """The original's training step, transcribed to Keras 3: the seed's network (`get_model`, chapter 09's port of it),
    trained by tf_utils' `AWP.train_step_awp` and TensorFlow Addons' `RectifiedAdam(sma_threshold=4)` in
    `Lookahead(sync_period=5)`, with the seed's schedules and label-smoothed cross-entropy. AWP from step 0."""
    import keras
    import tensorflow as tf
    from sign_notes.islr.model import get_model
    from sign_notes.islr.optim import decay_schedule, lr_schedule

    class OriginalAWP(keras.Model):  # tf_utils.learners.AWP (hoyso48/tf-utils), its train_step_awp
        def __init__(self, *args, delta=0.1, eps=1e-4, **kwargs):
            super().__init__(*args, **kwargs)
            self.delta, self.eps = delta, eps

        def _deltas(self, grads):
            out = []
            for p, g in zip(self.trainable_variables, grads):
                g = tf.zeros_like(p) + g
                out.append(tf.math.divide_no_nan(self.delta * g, tf.math.sqrt(tf.reduce_sum(g**2)) + self.eps))
            return out

        def train_step(self, data):  # start_step 0: the cond of tf_utils' train_step always takes this branch
            x, y = data[0], data[1]
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            params = self.trainable_variables
            params_gradients = tape.gradient(loss, params)
            for p, d in zip(params, self._deltas(params_gradients)):
                p.assign_add(d)
            with tf.GradientTape() as tape2:
                y_pred = self(x, training=True)
                new_loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            gradients = tape2.gradient(new_loss, params)
            for p, d in zip(params, self._deltas(params_gradients)):  # recomputed, as tf_utils does
                p.assign_sub(d)
            self.optimizer.apply_gradients(zip(gradients, params))
            return self.compute_metrics(x, y, y_pred)

    class RAdamLookahead(keras.optimizers.Optimizer):  # tfa RectifiedAdam (no warm-up, no amsgrad) in tfa Lookahead
        def __init__(self, learning_rate, weight_decay, sma_threshold=4.0, sync_period=5, slow_step_size=0.5):
            super().__init__(learning_rate=learning_rate, name="radam_lookahead")
            self.wd, self.sma_threshold = weight_decay, sma_threshold
            self.sync_period, self.slow_step_size = sync_period, slow_step_size
            self.beta_1, self.beta_2, self.epsilon = 0.9, 0.999, 1e-7

        def build(self, var_list):
            super().build(var_list)
            self.m = [self.add_variable_from_reference(v, "m") for v in var_list]
            self.v = [self.add_variable_from_reference(v, "v") for v in var_list]
            self.slow = [self.add_variable_from_reference(v, "slow") for v in var_list]
            for s, v in zip(self.slow, var_list):
                s.assign(v)

        def update_step(self, grad, var, lr):
            i = self._get_variable_index(var)
            m, v, slow = self.m[i], self.v[i], self.slow[i]
            step = tf.cast(self.iterations + 1, var.dtype)
            b1p, b2p = tf.pow(self.beta_1, step), tf.pow(self.beta_2, step)
            sma_inf = 2.0 / (1.0 - self.beta_2) - 1.0
            sma_t = sma_inf - 2.0 * step * b2p / (1.0 - b2p)
            m.assign(self.beta_1 * m + (1.0 - self.beta_1) * grad)
            v.assign(self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad))
            m_corr, v_corr = m / (1.0 - b1p), tf.sqrt(v / (1.0 - b2p))
            r_t = tf.sqrt((sma_t - 4.0) / (sma_inf - 4.0) * (sma_t - 2.0) / (sma_inf - 2.0) * sma_inf / sma_t)
            upd = tf.where(sma_t >= self.sma_threshold, r_t * m_corr / (v_corr + self.epsilon), m_corr)
            upd += tf.cast(self.wd(self.iterations), var.dtype) * var
            var.assign_sub(tf.cast(lr, var.dtype) * upd)
            sync = tf.equal(tf.math.floormod(self.iterations + 1, self.sync_period), 0)  # Lookahead
            back = slow + self.slow_step_size * (var - slow)
            slow.assign(tf.where(sync, back, slow))
            var.assign(tf.where(sync, back, var))

    net = get_model(max_len=cfg.max_len, dropout_step=0, dim=cfg.dim, num_classes=cfg.num_classes)
    model = OriginalAWP(net.input, net.output, delta=cfg.awp_lambda, eps=0.0)
    opt = RAdamLookahead(lr_schedule(cfg, steps_per_epoch), decay_schedule(cfg, steps_per_epoch))
    model.compile(
        optimizer=opt,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy()],
    )
    return model


def step_rates(models: dict, batches: list, steps: int, rounds: int) -> tuple[dict, dict]:
    "({name: [clips/s wall]}, {name: [clips per CPU-second]}): `train_on_batch` windows of `steps`, taken in turn."
    for model in models.values():
        for x, y in batches[:2]:  # build and trace
            model.train_on_batch(x, y)
    wall, cpu = {k: [] for k in models}, {k: [] for k in models}
    n = batches[0][0].shape[0]
    for _ in range(rounds):
        for k, model in models.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for i in range(steps):
                x, y = batches[i % len(batches)]
                model.train_on_batch(x, y)
            wall[k].append(steps * n / (time.perf_counter() - w0))
            cpu[k].append(steps * n / (time.process_time() - c0))
    return wall, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=["quick", "small", "full"])
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per window (after 2 warm-up steps)")
    ap.add_argument("--batches", type=int, default=30, help="timed input batches per window")
    ap.add_argument("--rounds", type=int, default=3, help="windows per pipeline and per step (in turn; median counts)")
    ap.add_argument("--json", default=str(RESULTS / "islr_train_throughput.json"))
    a = ap.parse_args(argv)

    from sign_notes.synth import make_synthetic_islr
    from sign_notes.islr.tfrecord import write_tfrecords

    tmp = Path(tempfile.mkdtemp(prefix="islr_throughput_"))
    try:
        root = make_synthetic_islr(tmp / "data", n_signs=10, n_per_sign=20, n_participants=5, seed=0, progress=False)
        files = write_tfrecords(root, tmp / "tfrecords", n_folds=5, n_workers=1, progress=False)

        import numpy as np
        from islr_tflite_speed import cpu_name
        from sign_notes.islr.config import CFG
        from sign_notes.islr.train import _fold_datasets, _fold_model

        cfg = CFG.preset(a.preset, replicas=1)
        pipelines = {lean: _fold_datasets(cfg, files, None, lean=lean)[0] for lean in (True, False)}
        rates, cpu_rates = input_rates(pipelines, cfg.batch_size, a.batches, a.rounds)
        lean_rate, plain_rate = (statistics.median(rates[k]) for k in (True, False))
        lean_cpu, plain_cpu = (statistics.median(cpu_rates[k]) for k in (True, False))
        batches = list(pipelines[True].take(a.batches))  # the step eats what the pipeline makes
        del pipelines

        models = {
            "ours": _fold_model(cfg, steps_per_epoch=100, dropout_step=0, awp_step=0),  # AWP on from the first step
            "original": original_step_model(cfg, steps_per_epoch=100),
        }
        walls, cpus = step_rates(models, batches, a.steps, a.rounds)
        step_rate, orig_rate = (statistics.median(walls[k]) for k in ("ours", "original"))
        step_cpu, orig_cpu = (statistics.median(cpus[k]) for k in ("ours", "original"))
        x, y = batches[0]
        finite = {k: bool(np.isfinite(m.evaluate(x, y, verbose=0)[0])) for k, m in models.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ratio, plain_ratio = lean_rate / step_rate, plain_rate / step_rate
    cpu_ratio = lean_cpu / step_cpu  # the machine is shared: CPU time is the steadier measure of cost
    print(
        f"ISLR training throughput, preset {a.preset!r} (dim {cfg.dim}, {cfg.max_len} frames, batch {cfg.batch_size}, "
        f"AWP on), {cpu_name()}, {os.cpu_count()} logical CPUs (shared)"
    )
    print(
        f"  training step, ours (train_on_batch):  {step_rate:8.1f} clips/s wall, {step_cpu:8.1f} clips per CPU-second"
    )
    print(
        f"  training step, the original's (port):  {orig_rate:8.1f} clips/s wall, {orig_cpu:8.1f} clips per CPU-second"
    )
    print(
        f"  ours / original = {step_cpu / orig_cpu:.2f}x in CPU time, {step_rate / orig_rate:.2f}x wall\n"
        f"    ({ORIGINAL_STEP})"
    )
    windows = lambda k: ", ".join(f"{r:.0f}" for r in rates[k])  # noqa: E731
    print(f"  input, lean (train_fold's):       {lean_rate:8.1f} clips/s wall (windows {windows(True)}), "
          f"{lean_cpu:6.1f} clips per CPU-second")  # fmt: skip
    print(f"  input, all 543 rows (the seed's): {plain_rate:8.1f} clips/s wall (windows {windows(False)}), "
          f"{plain_cpu:6.1f} clips per CPU-second")  # fmt: skip
    print(f"  lean / all rows = {lean_rate / plain_rate:.2f}x wall, {lean_cpu / plain_cpu:.2f}x CPU "
          "(the same batches, bit for bit)")  # fmt: skip
    verdict = "the pipeline keeps ahead" if ratio >= 5 else "short of the 5x margin"
    print(f"  input / training = {ratio:.1f}x ({'>=' if ratio >= 5 else '<'} 5x: {verdict}); "
          f"with the seed's map {plain_ratio:.1f}x; in CPU time {cpu_ratio:.1f}x")  # fmt: skip
    summary = {
        "benchmark": "islr_train_throughput",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "preset": a.preset,
        "dim": cfg.dim,
        "max_len": cfg.max_len,
        "batch_size": cfg.batch_size,
        "train_clips_per_s": step_rate,
        "train_clips_per_cpu_s": step_cpu,
        "train_windows": walls["ours"],
        "original_train_clips_per_s": orig_rate,
        "original_train_clips_per_cpu_s": orig_cpu,
        "original_train_windows": walls["original"],
        "train_over_original_cpu": step_cpu / orig_cpu,
        "train_over_original_wall": step_rate / orig_rate,
        "original_step": ORIGINAL_STEP,
        "input_clips_per_s": lean_rate,
        "input_windows": rates[True],
        "input_clips_per_cpu_s": lean_cpu,
        "input_all_rows_clips_per_s": plain_rate,
        "input_all_rows_windows": rates[False],
        "input_all_rows_clips_per_cpu_s": plain_cpu,
        "lean_over_all_rows": lean_rate / plain_rate,
        "input_over_train": ratio,
        "input_all_rows_over_train": plain_ratio,
        "input_over_train_cpu": cpu_ratio,
        "loss_finite": finite,
    }
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
