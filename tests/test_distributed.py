"""Data-parallel training over two CPU processes (accelerate's DDP on gloo): one set of weights, one writer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from accelerate.utils import DistributedType

from biasgrpo import distributed
from biasgrpo.errors import ConfigError
from biasgrpo.trainer import Trainer
from run import dispatch
from tests.conftest import TINY, compose_config

WORLD = 2
MEANS = ("reward/mean", "policy/entropy")
ROOT = Path(__file__).resolve().parents[1]
# Each case: its overrides. grpo: micro-batches (DDP's no_sync on all but the last) and the export at
# the end; ppo: a critic of its own, trained alone in the first step (DDP's find_unused_parameters).
CASES = {
    "grpo": ["train.grad_accum_steps=2", "train.export=true"],
    "ppo": ["algorithm=ppo", "algorithm.critic_warmup_steps=1", "sampler.max_new_tokens=16"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, runs: str, out: str, overrides: list[str]) -> None:
    """One process of the job, as torchrun would start it; records its weights and its writes."""
    env = {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": WORLD, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    env["OMP_NUM_THREADS"] = 1  # else accelerate sets torch's threads to the cores per process
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
        record["algorithm"] = self.algo.state_dict()  # PPO's critic
        record["wrapper"] = type(self.trainable).__name__
        torch.save(record, Path(out) / f"rank{rank}.pt")
        return summary

    Trainer.train, Trainer.step = train_and_record, step_and_record  # type: ignore[method-assign]
    # Hydra names each process's directory by its own clock: they may differ.
    cfg = compose_config([*TINY, "reward=token_fraction", "train.max_steps=2", "train.batch_size=4", *overrides])
    dispatch(cfg, Path(runs) / f"dir_of_rank{rank}")


@pytest.mark.parametrize("case", [pytest.param("grpo"), pytest.param("ppo", marks=pytest.mark.slow)])
def test_two_processes_keep_one_set_of_weights_and_only_rank_0_writes(tmp_path: Path, case: str) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(_free_port(), str(runs), str(out), CASES[case]), nprocs=WORLD, join=True)
    ranks = [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]
    assert ranks[0]["wrapper"] == ranks[1]["wrapper"] == "DistributedDataParallel"  # accelerate's DDP
    after0, after1 = ranks[0]["after"], ranks[1]["after"]
    assert after0.keys() == after1.keys()
    for key in after0:
        assert torch.equal(after0[key], after1[key]), f"{key} differs between the processes"
    assert any(not torch.equal(ranks[0]["before"][k], after0[k]) for k in after0), "no weight changed"
    critic0, critic1 = ranks[0]["algorithm"].get("value_head", {}), ranks[1]["algorithm"].get("value_head", {})
    assert all(torch.equal(critic0[k], critic1[k]) for k in critic0), "the critics differ between the processes"
    # Both trained in rank 0's directory; only rank 0 wrote anything.
    main_dir = runs / "dir_of_rank0"
    assert (main_dir / "summary.json").is_file() and (main_dir / "metrics.jsonl").is_file()
    if "train.export=true" in CASES[case]:
        assert (main_dir / "model" / "adapter_model.safetensors").is_file()
        assert json.loads((main_dir / "summary.json").read_text())["export/step"] == 2
    assert not (runs / "dir_of_rank1").exists()
    assert ranks[0]["written"] and ranks[1]["written"] == []
    # Rank 0 logs the mean over the processes, which sampled different completions.
    logged = [row for row in map(json.loads, (main_dir / "metrics.jsonl").read_text().splitlines()) if MEANS[0] in row]
    local0, local1 = ranks[0]["local"], ranks[1]["local"]
    assert len(logged) == len(local0) == len(local1) == 2
    for row, a, b in zip(logged, local0, local1):
        assert a["policy/entropy"] != b["policy/entropy"]
        assert [row[k] for k in MEANS] == pytest.approx([(a[k] + b[k]) / 2 for k in MEANS])


@pytest.mark.parametrize(
    ("kind", "zero_stage", "precision", "refused"),
    [
        (DistributedType.FSDP, None, "no", "FSDP, which shards the parameters"),
        (DistributedType.DEEPSPEED, 3, "no", "ZeRO-3, which shards the parameters"),
        (DistributedType.MULTI_GPU, None, "bf16", "mixed_precision=bf16 would autocast only the training forward"),
        (DistributedType.DEEPSPEED, 2, "bf16", None),  # DeepSpeed casts the weights themselves: every pass
        (DistributedType.MULTI_GPU, None, "no", None),
    ],
)
def test_strategies_that_shard_weights_or_autocast_one_pass_are_refused(
    kind: DistributedType, zero_stage: int | None, precision: str, refused: str | None
) -> None:
    plugin = SimpleNamespace(zero_stage=zero_stage)
    accelerator = SimpleNamespace(
        distributed_type=kind, mixed_precision=precision, state=SimpleNamespace(deepspeed_plugin=plugin)
    )
    if refused is None:
        distributed.check_strategy(accelerator)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=refused):
        distributed.check_strategy(accelerator)  # type: ignore[arg-type]


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


@pytest.mark.slow
def test_torchrun_trains_on_two_cpu_processes(tmp_path: Path) -> None:
    """The README's launch line, as a user runs it: torchrun starts run.py twice; rank 0's directory gets the run."""
    run_dir = tmp_path / "run"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD), "run.py"]
    overrides = [*TINY, "reward=token_fraction", "train.max_steps=2", "train.batch_size=4", "device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    cmd = [*launch, *overrides, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("4 prompts x 4 = 8 sequences") == WORLD  # each process's half of the global batch
    steps = [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "policy/loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert json.loads((run_dir / "summary.json").read_text())["train/steps"] == 2
