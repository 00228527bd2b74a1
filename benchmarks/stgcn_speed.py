"""Time one CPU training step of ST-GCN: our graph contraction against the seed's `einsum` formulation.

The seed (PaddleVideo's ST-GCN) computes the graph convolution's sum over subsets and neighbours with a hand-written
`einsum`: transpose x [N, K, C, T, V] to [N, C, T, K, V], then one matmul with A reshaped to [K*V, W]. Ours
(`sign_notes.stgcn.model.graph_contract`) skips the transpose: a batched matmul [N, K, C*T, V] @ [N, K, V, W] (A
expanded to the batch: a few thousand numbers per clip) and a sum over K. Both models here have the same weights; the
seed's one runs the seed's `einsum` verbatim (`use_seed_einsum`). One training step = forward, cross-entropy,
backward, Momentum update (the seed's recipe).

    python benchmarks/stgcn_speed.py                      # modest default: batch 8, 64 frames
    python benchmarks/stgcn_speed.py --batch 16 --frames 350   # the seed's size (about a minute a step on 2 cores)

Steps alternate between the two models, so a machine that gets busier mid-run slows both alike; the median is kept.
"""

import argparse
import statistics
import time

import numpy as np
import paddle
import paddle.nn as nn

from sign_notes.stgcn.model import STGCN_framework, use_seed_einsum


def make_step(model):
    "A function doing one training step of `model` on (x, y)."
    opt = paddle.optimizer.Momentum(
        learning_rate=0.01, momentum=0.9, parameters=model.parameters(), weight_decay=paddle.regularizer.L2Decay(1e-4)
    )
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        return float(loss)

    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--classes", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per model (after one warm-up step)")
    args = ap.parse_args(argv)
    paddle.set_device("cpu")
    paddle.seed(0)
    np.random.seed(0)

    ours = STGCN_framework(num_classes=args.classes)
    seed = STGCN_framework(num_classes=args.classes)
    seed.set_state_dict(ours.state_dict())
    use_seed_einsum(seed)
    x = paddle.randn([args.batch, 2, args.frames, 25, 1])
    y = paddle.randint(0, args.classes, [args.batch])

    ours.eval()
    seed.eval()  # same weights, same input: same outputs?
    with paddle.no_grad():
        diff = float((ours(x) - seed(x)).abs().max())
    ours.train()
    seed.train()

    steps = {"ours (graph_contract)": make_step(ours), "seed (einsum)": make_step(seed)}
    times = {k: [] for k in steps}
    for k, f in steps.items():
        f(x, y)  # warm-up
    for _ in range(args.repeats):
        for k, f in steps.items():
            t0 = time.perf_counter()
            f(x, y)
            times[k].append(time.perf_counter() - t0)

    print(
        f"ST-GCN training step on CPU, batch [{args.batch}, 2, {args.frames}, 25, 1], {args.classes} classes, "
        f"{paddle.get_device()}; max |ours - seed| on the logits = {diff:.2e}"
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"  {k:>22}: median {med[k]:.3f} s  (all: {', '.join(f'{t:.3f}' for t in v)})")
    ratio = med["seed (einsum)"] / med["ours (graph_contract)"]
    print(f"  seed / ours = {ratio:.2f}  ({'ours faster' if ratio > 1 else 'ours NOT faster'})")
    if diff > 1e-4:
        raise SystemExit(f"outputs differ by {diff}")
    return ratio


if __name__ == "__main__":
    main()
