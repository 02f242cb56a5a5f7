"""Data-parallel training over two CPU processes (gloo): one set of weights, one writer."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from biasgrpo import distributed
from biasgrpo.errors import ConfigError
from biasgrpo.trainer import Trainer
from run import dispatch
from tests.conftest import TINY, compose_config

WORLD = 2
MEANS = ("reward/mean", "policy/entropy")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, runs: str, out: str) -> None:
    """One process of the job, as torchrun would start it; records its weights and its writes."""
    env = {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": WORLD, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    os.environ.update({k: str(v) for k, v in env.items()})
    torch.set_num_threads(1)
    written: list[str] = []
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def audit(event: str, args: tuple) -> None:
        path = args[0] if event == "open" else args[1] if event == "os.rename" else None
        if event == "open" and not (isinstance(args[2], int) and args[2] & write_flags):
            return
        if path is not None and str(path).startswith(runs):
            written.append(str(path))

    sys.addaudithook(audit)
    train, step = Trainer.train, Trainer.step
    local: list[dict[str, float]] = []  # this process's own step metrics, before averaging

    def step_and_record(self: Trainer, i: int) -> dict:
        metrics = step(self, i)
        local.append({k: float(metrics[k]) for k in MEANS})
        return metrics

    def train_and_record(self: Trainer) -> dict:
        before = {k: v.clone() for k, v in self.policy.trainable_state_dict().items()}
        summary = train(self)
        record = {"before": before, "after": self.policy.trainable_state_dict(), "written": written, "local": local}
        torch.save(record, Path(out) / f"rank{rank}.pt")
        return summary

    Trainer.train, Trainer.step = train_and_record, step_and_record  # type: ignore[method-assign]
    # Hydra names each process's directory by its own clock: they may differ.
    cfg = compose_config([*TINY, "reward=token_fraction", "train.max_steps=2", "train.batch_size=4"])
    dispatch(cfg, Path(runs) / f"dir_of_rank{rank}")


def test_two_processes_keep_one_set_of_weights_and_only_rank_0_writes(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(_free_port(), str(runs), str(out)), nprocs=WORLD, join=True)
    ranks = [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]
    after0, after1 = ranks[0]["after"], ranks[1]["after"]
    assert after0.keys() == after1.keys()
    for key in after0:
        assert torch.equal(after0[key], after1[key]), f"{key} differs between the processes"
    assert any(not torch.equal(ranks[0]["before"][k], after0[k]) for k in after0), "no weight changed"
    # Both trained in rank 0's directory; only rank 0 wrote anything.
    main_dir = runs / "dir_of_rank0"
    assert (main_dir / "summary.json").is_file() and (main_dir / "metrics.jsonl").is_file()
    assert not (runs / "dir_of_rank1").exists()
    assert ranks[0]["written"] and ranks[1]["written"] == []
    # Rank 0 logs the mean over the processes, which sampled different completions.
    logged = [row for row in map(json.loads, (main_dir / "metrics.jsonl").read_text().splitlines()) if MEANS[0] in row]
    local0, local1 = ranks[0]["local"], ranks[1]["local"]
    assert len(logged) == len(local0) == len(local1) == 2
    for row, a, b in zip(logged, local0, local1):
        assert a["policy/entropy"] != b["policy/entropy"]
        assert [row[k] for k in MEANS] == pytest.approx([(a[k] + b[k]) / 2 for k in MEANS])


def test_the_global_batch_must_split_evenly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    assert distributed.local_batch_size(4) == 2
    assert distributed.shard(["a", "b", "c", "d"]) == ["b", "d"]
    with pytest.raises(ConfigError, match=r"train\.batch_size=3 .*multiple of 2"):
        distributed.local_batch_size(3)


def test_rank_0_keeps_hydra_files_and_others_write_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "0")
    assert distributed.hydra_overrides() == []
    monkeypatch.setenv("RANK", "1")
    assert {"hydra.output_subdir=null", "hydra/job_logging=disabled"} <= set(distributed.hydra_overrides())
