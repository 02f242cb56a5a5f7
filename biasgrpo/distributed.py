"""Data-parallel training over several processes (``torchrun``, ``accelerate launch``).

Launched with WORLD_SIZE > 1, every process builds the same model from the same seed,
takes its own rows ``rank::world_size`` of each step's prompts (``train.batch_size`` is
the global batch, split evenly), samples with a seed of its own, and averages gradients
before every optimizer step, so the weights stay identical on all processes. Step
metrics are averaged over the processes and only rank 0 writes files: metrics, W&B,
checkpoints and the summary. With one process every helper here is a no-op.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from transformers import set_seed

from biasgrpo.errors import ConfigError

T = TypeVar("T")


def launched_rank() -> int:
    """This process's rank as the launcher set it (RANK), before the process group exists."""
    return int(os.environ.get("RANK", "0"))


def init(device: torch.device) -> None:
    """Join the process group when launched with WORLD_SIZE > 1: nccl for CUDA, gloo for CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def hydra_overrides() -> list[str]:
    """Hydra overrides for a process other than rank 0: no ``.hydra/`` folder and no log file,
    and a run directory of its own that stays empty (training uses rank 0's)."""
    if launched_rank() == 0:
        return []
    scratch = Path(tempfile.gettempdir()) / f"biasgrpo-rank{launched_rank()}"
    return ["hydra.output_subdir=null", "hydra/job_logging=disabled", f"hydra.run.dir={scratch}"]


def local_batch_size(batch_size: int) -> int:
    """Prompts per process and step: ``train.batch_size`` is the global batch, split evenly."""
    n = world_size()
    if batch_size % n:
        raise ConfigError(
            f"train.batch_size={batch_size} is invalid with {n} processes; allowed: a multiple of {n} "
            "(each process takes an equal share of every step's prompts)"
        )
    return batch_size // n


def shard(rows: list[T]) -> list[T]:
    """This process's share of a step's batch: rows ``rank::world_size``."""
    return rows[rank() :: world_size()]


def seed_process(seed: int, step: int) -> None:
    """A sampling seed of its own for every process but rank 0, whose random state stays
    exactly that of a single-process run (and of its checkpoints)."""
    if rank() > 0:
        set_seed(seed + 1_000_003 * rank() + step)


def broadcast_object(obj: T) -> T:
    """Rank 0's ``obj`` on every process (the run directory, the summary)."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _device() -> torch.device:
    """Where collectives' own tensors live: the current GPU for nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_true(flag: bool | torch.Tensor) -> bool:
    """Whether ``flag`` holds on every process, so that all of them skip a step together."""
    if not dist.is_initialized():
        return bool(flag)
    t = torch.tensor(int(bool(flag)), device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def any_true(flag: bool) -> bool:
    """Whether ``flag`` holds on some process (a stop signal), so that all of them stop together."""
    return not all_true(not flag)


def all_reduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Average the gradients over the processes in place, as DistributedDataParallel does."""
    if not dist.is_initialized():
        return
    grads = [p.grad for p in params if p.grad is not None]
    for work in [dist.all_reduce(g, async_op=True) for g in grads]:
        work.wait()
    for g in grads:
        g.div_(world_size())


def all_reduce_mean(metrics: dict[str, Any]) -> dict[str, Any]:
    """Step metrics averaged over the processes: floats and tensors (reward/mean, policy/loss, ...).
    Integers (counts, equal on every process) are left as they are."""
    if not dist.is_initialized():
        return metrics
    keys = sorted(k for k, v in metrics.items() if isinstance(v, (float, torch.Tensor)))
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=_device())
    dist.all_reduce(values)
    return {**metrics, **dict(zip(keys, (values / world_size()).tolist()))}
