"""Faults a long sweep meets: kills, signals, NaNs, bad input, no network, W&B failing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo import checkpoint
from biasgrpo.algorithms.grpo import GRPO
from biasgrpo.logging import RunLogger
from biasgrpo.trainer import TrainingError
from biasgrpo.types import Forward
from run import dispatch
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def launch(run_dir: Path, *overrides: str) -> subprocess.Popen:
    """run.py in a child process on the tiny model, one thread, logging to files only."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    args = [sys.executable, "run.py", *TINY, f"hydra.run.dir={run_dir}", *overrides]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    path = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and any(
            f'"step": {step},' in line and "policy/loss" in line for line in path.read_text().splitlines()
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"step {step} never logged; exit code {proc.poll()}")


LONG = ["train.max_steps=12", "train.save_every=3", "train.batch_size=2", "eval.before=false"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [4, 8])
def test_sigkill_then_restart_matches_uninterrupted(tmp_path: Path, kill_at: int) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert launch(full, *LONG).wait(timeout=300) == 0
    proc = launch(killed, *LONG)
    wait_for_step(killed, kill_at, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert launch(killed, *LONG).wait(timeout=300) == 0  # same run dir: resumes from its checkpoint

    def curve(run_dir: Path) -> list[tuple[int, float]]:
        return [(r["step"], r["reward/mean"]) for r in metrics(run_dir) if "reward/mean" in r]

    assert curve(full) == curve(killed)  # every step once, same values (bitwise on CPU)
    a = checkpoint.load(checkpoint.checkpoint_paths(full)[-1])["weights"]
    b = checkpoint.load(checkpoint.checkpoint_paths(killed)[-1])["weights"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    summary_a = json.loads((full / "summary.json").read_text())
    summary_b = json.loads((killed / "summary.json").read_text())
    assert summary_a["reward/mean"] == summary_b["reward/mean"]
    assert summary_a["reward/first_mean"] == summary_b["reward/first_mean"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_before_exit(tmp_path: Path, sig: signal.Signals) -> None:
    proc = launch(tmp_path, *LONG, "train.save_every=0")
    wait_for_step(tmp_path, 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "checkpoint saved, run again to resume" in err
    assert "Traceback" not in err
    step = checkpoint.load(checkpoint.checkpoint_paths(tmp_path)[-1])["step"]
    assert 2 <= step < 12


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("algorithm.num_generations=1", "algorithm.num_generations=1 is invalid"),
        ("train.lr=-1", "train.lr=-1.0 is invalid"),
        ("algorithm.num_generatons=3", "Key 'num_generatons' not in 'GRPOConfig'"),
        ("model=gpt5", "Could not find 'model/gpt5'"),
        ("algorithm=dpo", "has no chosen/rejected pairs"),
    ],
)
def test_cli_errors_are_one_clear_message(tmp_path: Path, override: str, message: str) -> None:
    proc = launch(tmp_path, override)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "checkpoints").exists()


def test_nan_loss_is_skipped_and_counted(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = GRPO.loss
    calls = {"n": 0}

    def flaky_loss(self: GRPO, fwd: Forward, mb: object, step: int) -> tuple[torch.Tensor, dict]:
        loss, stats = real_loss(self, fwd, mb, step)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] == 2 else loss), stats

    monkeypatch.setattr(GRPO, "loss", flaky_loss)
    summary = dispatch(make_cfg("eval.before=false"), tmp_path)
    assert summary["train/skipped_steps"] == 1
    rows = [r for r in metrics(tmp_path) if "train/skipped_steps" in r]
    assert [r["train/skipped_steps"] for r in rows] == [0, 1, 1]
    assert "policy/loss" not in rows[1]  # the skipped step logged no loss


def test_nan_gradient_never_reaches_the_weights(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nan_grad_loss(self: GRPO, fwd: Forward, mb: object, step: int) -> tuple[torch.Tensor, dict]:
        # Finite value, NaN gradient: sqrt at 0 of a term that is exactly 0.
        return torch.sqrt((fwd.logprobs * 0).sum()) + 1.0, {}

    monkeypatch.setattr(GRPO, "loss", nan_grad_loss)
    with pytest.raises(TrainingError, match="non-finite gradient"):
        dispatch(make_cfg("eval.before=false", "train.max_consecutive_skips=2"), tmp_path)
    assert not checkpoint.checkpoint_paths(tmp_path)


def test_offline_run_opens_no_network_connection(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W&B offline included: only loopback and unix sockets (W&B's local service) are allowed."""
    real_connect = socket.socket.connect
    attempts: list[object] = []

    def guarded(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"network blocked in tests: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("WANDB_MODE", "offline")
    summary = dispatch(make_cfg("logger=wandb", "logger.mode=offline"), tmp_path)
    assert summary["train/steps"] == 3
    assert attempts == []
    assert list((tmp_path / "wandb").glob("offline-run-*"))


class FailingRun:
    """A W&B run whose every call fails, as when the server goes away mid-run."""

    def __init__(self) -> None:
        self.summary: dict = {}

    def log(self, *args: object, **kwargs: object) -> None:
        raise ConnectionError("W&B is unreachable")

    def finish(self) -> None:
        raise ConnectionError("W&B is unreachable")


def test_wandb_failure_leaves_local_results_complete(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(RunLogger, "_start_wandb", lambda self, *args: FailingRun())
    summary = dispatch(make_cfg("logger=wandb"), tmp_path)
    assert "continuing with local files only" in capsys.readouterr().out
    assert [r["step"] for r in metrics(tmp_path) if "policy/loss" in r] == [1, 2, 3]
    assert json.loads((tmp_path / "summary.json").read_text())["train/steps"] == summary["train/steps"] == 3


def test_finished_run_is_never_overwritten(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    dispatch(make_cfg(), tmp_path)
    before = (tmp_path / "summary.json").read_text(), (tmp_path / "metrics.jsonl").read_text()
    again = dispatch(make_cfg(), tmp_path)  # on_existing=resume: nothing left to do
    assert again["train/steps"] == 3
    assert ((tmp_path / "summary.json").read_text(), (tmp_path / "metrics.jsonl").read_text()) == before
    with pytest.raises(TrainingError, match="on_existing=refuse"):
        dispatch(make_cfg("on_existing=refuse"), tmp_path)


def test_metrics_line_cut_by_a_kill_is_ignored(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    dispatch(make_cfg("train.max_steps=2", "train.save_every=1"), tmp_path)
    (tmp_path / "summary.json").unlink()
    newest = checkpoint.checkpoint_paths(tmp_path)[-1]
    newest.unlink()  # as if killed after step 2 was logged but before its checkpoint
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "reward/me')  # a half-written line
    dispatch(make_cfg("train.max_steps=2", "train.save_every=1"), tmp_path)
    steps = [r["step"] for r in metrics(tmp_path) if "policy/loss" in r]
    assert steps == [1, 2]
