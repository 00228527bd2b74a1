"""Issue 15, ST-GCN side (Paddle only: never import TensorFlow here): our formulation (the transpose-free
contraction, the bias added as a table, `FastConv2D`) trains exactly like the seed's, MKL's AVX2 path (chapter 05a)
gives the step MKL as shipped gives, and the speed tools (`count_forward_flops`, `profile_step`) count and profile
what they say without leaving files behind. The ISLR side (int8 and float16 files, the lean graph) is in
test_islr_export.py. Nothing here is timed."""

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from sign_notes.stgcn.model import (  # noqa: E402
    STGCN_framework,
    count_forward_flops,
    count_parameters,
    profile_step,
    st_gcn_block,
    use_seed_formulation,
)


def _trained_twice(seed: bool, steps: int = 2):
    "Parameters and losses after `steps` Momentum steps from the same weights, with either contraction."
    paddle.seed(0)
    model = STGCN_framework(num_classes=5, base_channels=8)
    for layer in model.sublayers():  # non-zero biases (Paddle starts them at 0): ours adds them after the contraction
        if isinstance(layer, paddle.nn.Conv2D) and layer.bias is not None:
            layer.bias.set_value(paddle.randn(layer.bias.shape) * 0.3)
    use_seed_formulation(model, seed)
    opt = paddle.optimizer.Momentum(learning_rate=0.05, momentum=0.9, parameters=model.parameters())
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(3, 2, 12, 25, 1)).astype("float32"))
    y = paddle.to_tensor(np.array([0, 3, 4]))
    losses = []
    for _ in range(steps):
        loss = paddle.nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    return {k: v.numpy() for k, v in model.state_dict().items()}, losses, count_parameters(model)


def test_graph_contract_trains_like_the_seeds_einsum():
    "Same start (biases too), same batches: the same losses and parameters after the updates (gradients agree)."
    ours, loss_ours, n_ours = _trained_twice(False)
    seed, loss_seed, n_seed = _trained_twice(True)
    assert n_ours == n_seed
    np.testing.assert_allclose(loss_ours, loss_seed, atol=1e-5)
    for k in ours:
        np.testing.assert_allclose(ours[k], seed[k], atol=1e-4, err_msg=k)


def test_count_forward_flops_of_one_block_by_hand():
    blk = st_gcn_block(4, 8, (9, 3), stride=2)  # gcn 1x1 conv 4 -> 24, contraction, tcn 9x1 8 -> 8, residual 4 -> 8
    A = paddle.ones([3, 25, 25])

    class Wrap(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.blk = blk

        def forward(self, x):
            return self.blk(x, A)[0]

    N, T, V = 2, 10, 25
    want = 2 * N * T * V * (4 * 24)  # the graph convolution's 1x1 conv, at every frame
    want += 2 * N * 8 * T * V * 3 * 25  # the contraction: each output sums K = 3 subsets x 25 neighbours
    want += 2 * N * 8 * (T // 2) * V * 8 * 9  # the temporal conv, stride 2
    want += 2 * N * 8 * (T // 2) * V * 4  # the residual 1x1 conv, stride 2
    assert count_forward_flops(Wrap(), paddle.zeros([N, 4, T, V])) == want


def test_profile_step_shares_and_no_trace_files(tmp_path, monkeypatch):
    "The shares sum to 1, the convolutions come first, and the profiler writes no ./profiler_log into the cwd."
    monkeypatch.chdir(tmp_path)
    model = STGCN_framework(num_classes=5, base_channels=8)
    x, y = paddle.randn([2, 2, 8, 25, 1]), paddle.to_tensor(np.array([1, 2]))

    def step():
        loss = paddle.nn.CrossEntropyLoss()(model(x), y)
        loss.backward()

    share = profile_step(step)
    assert abs(sum(share.values()) - 1) < 1e-6 and "other" in share
    assert share["convolution (conv2d)"] > 0
    assert list(tmp_path.iterdir()) == []


_ONE_STEP = """
import json, numpy as np, paddle
import sign_notes.stgcn as pkg
from sign_notes.stgcn.model import STGCN_framework
paddle.seed(0)
model = STGCN_framework(num_classes=5, base_channels=16)
x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 2, 16, 25, 1)).astype("float32"))
y = paddle.to_tensor(np.array([1, 3]))
loss = paddle.nn.CrossEntropyLoss()(model(x), y)
loss.backward()
grads = [float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None]
print(json.dumps({"mkl": pkg.MKL_SET_BY_US, "loss": float(loss), "grads": grads}))
"""


def _one_step_in_a_process(keep_mkl: bool) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DEBUG_CPU_TYPE", "SIGN_NOTES_KEEP_MKL")}
    if keep_mkl:
        env["SIGN_NOTES_KEEP_MKL"] = "1"
    res = subprocess.run([sys.executable, "-c", _ONE_STEP], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_mkl_avx2_path_gives_the_same_step_as_mkl_as_shipped():
    "Chapter 05a's MKL switch (on AMD processors; a no-op elsewhere) changes the loss and gradients by rounding only."
    from sign_notes.stgcn import fast_mkl_on_amd

    shipped, ours = _one_step_in_a_process(True), _one_step_in_a_process(False)
    assert shipped["mkl"] is False and ours["mkl"] is fast_mkl_on_amd({})
    np.testing.assert_allclose(ours["loss"], shipped["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["grads"], shipped["grads"], rtol=1e-4, atol=1e-6)
