"""Throughput: images/s and the run's ETA, from a controlled clock (no timing of real work)."""

import math

import numpy as np
import pytest

from vms_zoo.training import callbacks
from vms_zoo.training.callbacks import Throughput


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "monotonic", clock)
    return clock


def run_steps(callback, clock, epochs, steps, seconds_per_step, stop_after=None):
    """Drive the callback like `fit` does; returns the batch logs of the last step."""
    callback.set_params({"epochs": epochs, "steps": steps})
    callback.on_train_begin()
    logs, done = {}, 0
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        for batch in range(steps):
            clock.now += seconds_per_step
            logs = {}
            callback.on_train_batch_end(batch, logs)
            done += 1
            if done == stop_after:
                return logs
        callback.on_epoch_end(epoch, {})
    return logs


def test_rate_and_eta_of_a_fit(clock, capsys):
    # 2 epochs x 10 steps of 8 images, 0.5 s a step: 16 images/s; after 5 steps, 15 steps = 7.5 s are left.
    callback = Throughput(images_per_step=8)
    logs = run_steps(callback, clock, epochs=2, steps=10, seconds_per_step=0.5, stop_after=5)
    assert logs["images/s"] == pytest.approx(16.0)
    assert logs["eta_min"] == pytest.approx(7.5 / 60)
    logs = run_steps(Throughput(images_per_step=8), clock, epochs=2, steps=10, seconds_per_step=0.5)
    assert logs["eta_min"] == pytest.approx(0.0)
    assert "16.0 images/s, about 0.1 min left in the run" in capsys.readouterr().out  # after epoch 1: 5 s left


def test_the_compile_step_is_left_out_of_the_rate(clock):
    callback = Throughput(images_per_step=4, verbose=0)
    callback.set_params({"epochs": 1, "steps": 10})
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    clock.now += 30.0  # the first step compiles
    logs = {}
    callback.on_train_batch_end(0, logs)
    assert logs == {} and callback.eta_minutes() != callback.eta_minutes()  # nan until a rate is known
    clock.now += 1.0
    callback.on_train_batch_end(1, logs)
    assert logs["images/s"] == pytest.approx(4.0) and logs["eta_min"] == pytest.approx(8 * 4 / 4.0 / 60)


def test_step_and_time_limits_cap_the_eta(clock):
    logs = run_steps(Throughput(images_per_step=8, max_steps=6), clock, 2, 10, 0.5, stop_after=5)
    assert logs["eta_min"] == pytest.approx(0.5 / 60)  # one step left before max_steps
    logs = run_steps(Throughput(images_per_step=8, max_minutes=0.05), clock, 2, 10, 0.5, stop_after=3)
    assert logs["eta_min"] == pytest.approx(0.05 - 1.5 / 60)  # the deadline comes before the 17 steps


def test_a_run_counted_in_images_across_fits(clock):
    seen = {"n": 0}
    callback = Throughput(images_seen=lambda: seen["n"], total_images=1000, verbose=0)
    for batch_size in (32, 16):  # two growth phases with their own batch sizes, one fit each
        callback.set_params({"epochs": 1, "steps": 4})
        callback.on_train_begin()
        callback.on_epoch_begin(0)
        for batch in range(4):
            clock.now += 2.0
            seen["n"] += batch_size
            logs = {}
            callback.on_train_batch_end(batch, logs)
    assert logs["images/s"] == pytest.approx(8.0)  # this phase: 16 images per 2 s
    assert logs["eta_min"] == pytest.approx((1000 - 192) / 8.0 / 60)
    with pytest.raises(ValueError, match="images_per_step or images_seen"):
        Throughput()
    assert math.isfinite(logs["eta_min"]) and np.isfinite(logs["images/s"])
