"""Inference batches sized to the inputs, not a fixed 256 rows."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from riskaudit._scope import torch_threads as _threads
from riskaudit.model import BATCH_BYTES, MAX_BATCH, MIN_BATCH, ONE_THREAD_VALUES, Model, auto_batch_size


def test_batch_rows_follow_the_input_size():
    assert auto_batch_size(np.zeros((1_000_000, 20), np.float32)) == MAX_BATCH
    assert auto_batch_size(np.zeros((100, 20), np.float32)) == 100  # never more than the rows
    assert auto_batch_size(np.zeros((50_000, 1, 28, 28), np.float32)) == BATCH_BYTES // (4 * 28 * 28)
    assert auto_batch_size(np.zeros((500, 3, 224, 224), np.float32)) == MIN_BATCH
    assert auto_batch_size(np.zeros((0, 5), np.float32)) == 1


def test_default_batches_give_the_outputs_of_fixed_256_row_batches():
    x, y = load_digits(return_X_y=True)
    x = np.repeat(x.astype(np.float32) / 16, 12, axis=0)  # 21,564 rows of 64 pixels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # local: fork_rng restores the global state
        module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    model = Model(uri="digits-mlp", format="module", module=module)
    auto = model.forward(x)
    sizes = [n for n, _ in model.latencies]
    assert sizes[0] == auto_batch_size(x) == MAX_BATCH and sum(sizes) == len(x) and len(sizes) == 2
    model.latencies.clear()
    fixed = model.forward(x, batch_size=256)
    assert len(model.latencies) == int(np.ceil(len(x) / 256))
    # same rows through the same layers: equal up to float32 kernel differences between batch shapes
    np.testing.assert_allclose(auto, fixed, rtol=1e-5, atol=1e-5)


def test_small_batches_run_on_one_torch_thread_and_the_count_is_restored():
    x = load_digits(return_X_y=True)[0].astype(np.float32) / 16  # 1,797 rows of 64 pixels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    seen: list[int] = []
    module.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    model = Model(uri="digits-mlp", format="module", module=module)
    before = torch.get_num_threads()
    with _threads(2):
        small = model.forward(x, batch_size=ONE_THREAD_VALUES // 64 - 1)
        assert set(seen) == {1} and torch.get_num_threads() == 2
        seen.clear()
        big = model.forward(np.tile(x, (40, 1)), batch_size=ONE_THREAD_VALUES // 64)
        batches = int(np.ceil(len(x) * 40 / (ONE_THREAD_VALUES // 64)))
        assert seen[-batches:] == [model._big_batch_threads] * batches  # measured (below)
    assert torch.get_num_threads() == before
    # the same rows on one thread or two: equal up to float32 kernel differences
    np.testing.assert_allclose(small, big[:len(x)], rtol=1e-5, atol=1e-5)


def test_large_batches_use_the_thread_count_measured_for_the_model_and_keep_its_random_stream():
    x = np.tile(load_digits(return_X_y=True)[0].astype(np.float32) / 16, (10, 1))  # 17,970 rows of 64
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Dropout(0.5), torch.nn.Linear(32, 10))
    seen: list[int] = []
    module.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    rows = ONE_THREAD_VALUES // 64 * 2  # 2,048 rows a batch: measured, not one thread by size
    with _threads(2):
        model = Model(uri="digits-dropout", format="module", module=module)
        out = model.forward(x, batch_size=rows, seed=5)
        chosen = model._big_batch_threads
        assert chosen in (1, 2) and torch.get_num_threads() == 2
        assert seen[-int(np.ceil(len(x) / rows)):] == [chosen] * int(np.ceil(len(x) / rows))
        # the measuring calls ran on a forked random state: a model measured again, or not
        # at all, draws the same Dropout masks for the same seed
        again = Model(uri="digits-dropout", format="module", module=module)
        again._big_batch_threads = 2 if chosen == 1 else 1
        other = again.forward(x, batch_size=rows, seed=5)
    np.testing.assert_allclose(out, other, rtol=1e-5, atol=1e-5)
    assert not np.allclose(out, model.forward(x, batch_size=rows, seed=6))  # the seed matters: not vacuous
