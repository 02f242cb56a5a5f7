"""Data-parallel training over several processes, on Hugging Face ``accelerate``.

    torchrun --nproc_per_node 4 run.py ...                                     # DDP (CPU: gloo, GPUs: nccl)
    accelerate launch --num_processes 4 run.py ...                             # the same, through accelerate
    accelerate launch --config_file launch/deepspeed_zero2.yaml run.py ...     # DeepSpeed ZeRO-2

Every process builds the same model from the same seed, takes its own rows ``rank::world_size``
of each step's prompts (``train.batch_size`` is the global batch, split evenly) and samples with a
seed of its own. accelerate's ``Accelerator`` wraps the run's trainable modules (DDP unless its
config says DeepSpeed), so gradients are averaged in the backward pass and the weights stay
identical on all processes. Step metrics are averaged over the processes and only rank 0 writes
files: metrics, W&B, checkpoints, the export and the summary.

Sampling, the no-grad passes, evaluation and checkpoints read the policy's whole weights on every
process, so strategies that shard the parameters (FSDP, DeepSpeed ZeRO-3) are refused; ZeRO-1/2
shard only the optimizer state and gradients. With one process nothing is wrapped and no
collective runs: the run is the single-process run it always was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, broadcast_object_list, gather, reduce
from transformers import set_seed

from biasgrpo.errors import BiasGRPOError, ConfigError

T = TypeVar("T")


def launched_rank() -> int:
    """This process's rank as the launcher set it (RANK), before the process group exists."""
    return int(os.environ.get("RANK", "0"))


def init(device: torch.device) -> None:
    """Join the process group when launched with several processes (accelerate's PartialState: gloo on
    CPU, nccl on GPUs, each process on its own GPU); nothing to do with one."""
    PartialState(cpu=device.type == "cpu")


def close() -> None:
    """Leave the process group and forget accelerate's state, so a next run in this process starts afresh."""
    PartialState().destroy_process_group()
    AcceleratorState._reset_state(reset_partial_state=True)


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
    if world_size() == 1:
        return obj
    return broadcast_object_list([obj], from_process=0)[0]


def all_true(flag: bool | torch.Tensor) -> bool:
    """Whether ``flag`` holds on every process, so that all of them skip a step together."""
    if world_size() == 1:
        return bool(flag)
    return bool(gather(torch.tensor([bool(flag)], device=PartialState().device)).all())


def any_true(flag: bool) -> bool:
    """Whether ``flag`` holds on some process (a stop signal), so that all of them stop together."""
    return not all_true(not flag)


def all_reduce_mean(metrics: dict[str, Any]) -> dict[str, Any]:
    """Step metrics averaged over the processes: floats and tensors (reward/mean, policy/loss, ...).
    Integers (counts, equal on every process) are left as they are."""
    if world_size() == 1:
        return metrics
    keys = sorted(k for k, v in metrics.items() if isinstance(v, (float, torch.Tensor)))
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=PartialState().device)
    return {**metrics, **dict(zip(keys, reduce(values, reduction="mean").tolist()))}


class Trainable(torch.nn.Module):
    """Every trainable module of a run as one module, whose forward is a micro-batch's loss.

    This is what accelerate wraps. One wrapped forward per backward covers the policy's passes
    (two when a group's prompt runs once) and the algorithm's own modules (a critic), so the
    wrapper sees every parameter a backward reaches. Sampling and the no-grad passes call the
    policy model itself, unwrapped: its weights are whole and the same on every process.
    """

    def __init__(self, model: torch.nn.Module, extra: dict[str, torch.nn.Module], loss: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        self.extra = torch.nn.ModuleDict(extra)
        self.loss = loss  # trainer's (micro-batch, step) -> (loss, stats, entropy); not a module

    def forward(self, *args: Any) -> Any:
        return self.loss(*args)


class DataParallel:
    """accelerate's ``Accelerator`` for one training run: the few things the trainer asks of it.

    With one process ``prepare`` returns the module as it is and the optimizer in a thin wrapper
    that calls the same ``step``; backward, clipping and the step compute what they always did.
    """

    def __init__(self, device: torch.device, find_unused_parameters: bool) -> None:
        # An algorithm with modules of its own may leave the policy without gradient in a step
        # (PPO's critic warm-up); DDP must then look for the parameters a backward skips.
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
        # device_placement=False: the policy is already on its device (``device=``); nothing is moved.
        self.accelerator = Accelerator(cpu=device.type == "cpu", device_placement=False, kwargs_handlers=handlers)
        self.deepspeed = self.accelerator.distributed_type == DistributedType.DEEPSPEED
        check_strategy(self.accelerator)
        self.module: torch.nn.Module | None = None

    def prepare(
        self, module: Trainable, optimizer: torch.optim.Optimizer, micro_batch_size: int, max_grad_norm: float
    ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """The module wrapped for data parallelism (DDP, DeepSpeed) and its optimizer."""
        if self.deepspeed:  # accelerate fills these from a data loader; the trainer has none
            ds_config = self.accelerator.state.deepspeed_plugin.deepspeed_config
            for key, value in (
                ("train_micro_batch_size_per_gpu", micro_batch_size),
                ("gradient_clipping", max_grad_norm),
            ):
                if ds_config.get(key, "auto") == "auto":
                    ds_config[key] = value
        self.module, optimizer = self.accelerator.prepare(module, optimizer)
        return self.module, optimizer

    @contextlib.contextmanager
    def micro_batch(self, last: bool) -> Iterator[None]:
        """The forward and backward of one micro-batch of an optimizer step. Gradients are averaged over
        the processes only in the last one's backward: the others run under DDP's ``no_sync`` (which
        must hold their forward too); under DeepSpeed the last one is its accumulation boundary."""
        self.accelerator.sync_gradients = last
        try:
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.module):
                yield
        finally:
            self.accelerator.sync_gradients = True

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip the summed gradients to ``max_norm``; their norm before clipping. Under DeepSpeed
        the engine has clipped (``gradient_clipping``) and stepped in the last backward already."""
        assert self.module is not None, "prepare() first"
        norm = torch.as_tensor(self.accelerator.clip_grad_norm_(self.module.parameters(), max_norm))
        if self.deepspeed and not torch.isfinite(norm):
            raise BiasGRPOError(
                f"gradient norm {float(norm)} under DeepSpeed, whose engine has already applied the step (it "
                "steps inside the last backward, before the trainer could skip it); lower train.lr or check the reward"
            )
        return norm

    def optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """The optimizer's state for a checkpoint; empty under DeepSpeed, whose ZeRO optimizer holds
        only this process's shard (a resumed run then starts a fresh optimizer)."""
        return {} if self.deepspeed else optimizer.state_dict()

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        if state and not self.deepspeed:
            optimizer.load_state_dict(state)
        else:
            print("[biasgrpo] the checkpoint holds no optimizer state usable here; the optimizer starts afresh")


def check_strategy(accelerator: Accelerator) -> None:
    """Refuse what the trainer cannot run: sharded parameters, and accelerate's mixed precision."""
    kind = accelerator.distributed_type
    zero3 = kind == DistributedType.DEEPSPEED and accelerator.state.deepspeed_plugin.zero_stage == 3
    if kind == DistributedType.FSDP or zero3:
        raise ConfigError(
            f"accelerate's config asks for {'DeepSpeed ZeRO-3' if zero3 else 'FSDP'}, which shards the parameters; "
            "BiasGRPO samples, scores, evaluates and saves with the whole policy on every process. Allowed: DDP "
            "(the default) or DeepSpeed ZeRO-1/2, which shard only the optimizer state and gradients "
            "(accelerate launch --config_file launch/deepspeed_zero2.yaml)"
        )
    if kind != DistributedType.DEEPSPEED and accelerator.mixed_precision != "no":
        raise ConfigError(
            f"accelerate's mixed_precision={accelerator.mixed_precision} would autocast only the training forward, "
            "not sampling or the sampling-policy pass, so the ratio would compare two precisions; allowed: "
            "mixed_precision no, with model.autocast=bfloat16 (every pass) or model.dtype for lower precision"
        )
