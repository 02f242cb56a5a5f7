"""The online training loop: sample, score, advantages, μ epochs of updates, log.

Build (``Trainer.__init__``), train (``Trainer.train``) and cleanup stay separate; one
``step`` is the whole of one iteration, marked in stages, as in cleanRL.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import signal
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig
from tqdm import tqdm
from transformers import set_seed

from biasgrpo import checkpoint, distributed
from biasgrpo.algorithms import build_algorithm
from biasgrpo.algorithms.functional import masked_mean
from biasgrpo.benchmarks import COUNT_FIGURES, build_benchmarks, info_figures, run_benchmarks
from biasgrpo.benchmarks.independence import check_scorer_independence
from biasgrpo.config import Config
from biasgrpo.data import Row, load_prompts
from biasgrpo.errors import BiasGRPOError, ConfigError
from biasgrpo.export import check_export, export_checkpoint
from biasgrpo.logging import SUMMARY_FILE, RunLogger, SilentLogger, run_names
from biasgrpo.policy import Policy, pick_device
from biasgrpo.provenance import provenance
from biasgrpo.rewards import build_reward, check_scores
from biasgrpo.rollout import concat, rollout_from_pairs, take
from biasgrpo.sampler import HFSampler, build_sampler
from biasgrpo.types import Batch, Forward, Rollout

# A skipped step still advances the schedule (so the data order and the schedule stay
# tied to the step number); if it is the very first step, torch warns about the order.
warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")

# Shown on the progress bar; copied into summary.json from the last step.
PROGRESS_KEYS = {"reward/mean": "reward", "policy/kl_ref": "kl", "dpo/accuracy": "acc", "value/explained_var": "ev"}
LORA_MIN_LR = 1e-5  # below it a LoRA run is warned that its adapters will hardly move
SUMMARY_PREFIXES = ("reward/", "policy/", "completions/", "value/", "dpo/")


class TrainingError(BiasGRPOError):
    """Training cannot go on (for example, too many non-finite steps in a row)."""


def lr_lambda(warmup_steps: int, total_steps: int, schedule: str):
    """Linear warm-up, then constant or linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def micro_batch_size(minibatch_size: int, grad_accum_steps: int, group_size: int, online: bool) -> int:
    """Sequences per micro-batch: a minibatch split into ``grad_accum_steps`` equal parts, each holding
    whole pairs for an offline algorithm."""
    micro, rest = divmod(minibatch_size, grad_accum_steps)
    if rest or (not online and micro % group_size):
        pairs = "" if online else f" into parts that are multiples of {group_size} (a pair stays together)"
        raise ConfigError(
            f"train.grad_accum_steps={grad_accum_steps} is invalid with minibatches of {minibatch_size} sequences "
            f"per process; allowed: a divisor of {minibatch_size} that splits it evenly{pairs}"
        )
    return micro


class Update(NamedTuple):
    """One optimizer step's figures, each its micro-batches' weighted sum: the whole minibatch's."""

    loss: torch.Tensor
    entropy: torch.Tensor
    grad_norm: torch.Tensor
    stats: dict[str, torch.Tensor]


def stability_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The reward-variance figures that compare algorithms on one quantity (the paper's stability
    claim, "reward std during training"), from the per-step metrics:

    - ``stability/step_reward_std_mean``: the mean over steps of ``reward/std``, the std of the
      rewards of all completions sampled in a step (not GRPO's within-group std);
    - ``stability/step_mean_reward_std``: the std over steps of ``reward/mean``, how much the
      batch's mean reward moves from step to step.
    """
    stds = [float(r["reward/std"]) for r in rows if "reward/std" in r]
    means = [float(r["reward/mean"]) for r in rows if "reward/mean" in r]
    out = {}
    if stds:
        out["stability/step_reward_std_mean"] = sum(stds) / len(stds)
    if len(means) > 1:
        mu = sum(means) / len(means)
        out["stability/step_mean_reward_std"] = math.sqrt(sum((m - mu) ** 2 for m in means) / (len(means) - 1))
    return out


class Trainer:
    def __init__(self, conf: Config, cfg: DictConfig, run_dir: Path) -> None:
        self.conf, self.cfg, self.run_dir = conf, cfg, run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        set_seed(conf.seed)
        self.algo = build_algorithm(conf.algorithm)
        self.G = self.algo.group_size  # sequences per prompt: G completions, or a (chosen, rejected) pair
        self.prompts = load_prompts(conf.dataset, conf.seed, pairs_only=not self.algo.online)
        self.reward = build_reward(conf.reward)
        self.benchmarks = build_benchmarks(conf, self.prompts.eval, self.reward)  # before the model: data errors first
        self.guard_figures = check_scorer_independence(conf)  # a scorer that is the reward stops the run here
        self.export_report = check_export(conf.export) if conf.train.export else ""  # now, not after training

        # Derived sizes, computed and checked once (cleanRL), before the model loads.
        t = conf.train
        self.rollout_size = distributed.local_batch_size(t.batch_size) * self.G  # N = B*G sequences per process
        self.minibatch_size = t.minibatch_size or self.rollout_size  # sequences per optimizer step
        self.micro_batch_size = micro_batch_size(self.minibatch_size, t.grad_accum_steps, self.G, self.algo.online)
        self.total_steps = t.max_steps or math.ceil(t.num_epochs * len(self.prompts.train) / t.batch_size)
        # With one pass over one minibatch the sampling policy *is* the current policy, so the
        # sampling log-probs need no pass of their own; a critic's inputs always do.
        one_update = self.algo.update_epochs == 1 and self.minibatch_size == self.rollout_size
        self.old_pass = self.algo.needs_hidden or (self.algo.uses_old_logprobs and not one_update)
        # Log-probs of sampled tokens are those of the distribution they were drawn from (logits / τ);
        # given responses (offline pairs) are scored under the model's own distribution.
        self.temperature = conf.sampler.temperature if self.algo.online else 1.0
        # Micro-batches of whole groups let each group's prompt run once (Policy.response_forward).
        self.shared_prefix = self.G if self.G > 1 and self.micro_batch_size % self.G == 0 else 1

        self.policy = Policy(conf.model, pick_device(conf.device), needs_reference=self.algo.needs_reference)
        self.guard_figures.update(self._probe_reward())  # the base model's samples: before trained weights load
        groups: list[dict[str, Any]] = [{"params": self.policy.trainable_parameters()}]
        groups += self.algo.param_groups(self.policy.hidden_size, self.policy.device, t.lr)
        optimizer = torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay)
        # accelerate wraps every trainable module in one (DDP, DeepSpeed) when there are several
        # processes; with one, nothing. Its forward is a micro-batch's loss (self._loss).
        modules = self.algo.modules()
        self.parallel = distributed.DataParallel(self.policy.device, find_unused_parameters=bool(modules))
        self.trainable, self.optimizer = self.parallel.prepare(
            distributed.Trainable(self.policy.model, modules, self._loss),
            optimizer,
            self.micro_batch_size,
            t.max_grad_norm,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(t.warmup_steps, self.total_steps, t.lr_schedule)
        )
        self.start_step, self.eval_before, self.skipped, self._consecutive_skips = 0, {}, 0, 0
        self._resume(Path(conf.resume) if conf.resume else run_dir)
        distributed.seed_process(conf.seed, self.start_step)
        # Before the logger: a sampler that cannot start (no vllm) must not leave a W&B run open.
        self.sampler = build_sampler(self.policy, conf.sampler, conf.model, conf.seed)
        self.logger = (
            RunLogger(run_dir, conf.logger, self.start_step, conf, run_names(conf))
            if distributed.is_main()
            else SilentLogger()
        )
        self._stop_requested = False
        if conf.model.lora.enabled and t.lr < LORA_MIN_LR:
            print(
                f"[biasgrpo] WARNING: train.lr={t.lr:g} with LoRA. LoRA's B matrices start at zero and a "
                f"full fine-tuning rate (the paper's 1e-6) barely moves them; use train.lr >= {LORA_MIN_LR:g} "
                "with LoRA, or model.lora.enabled=false for full fine-tuning at this rate."
            )
        n_trainable = sum(p.numel() for p in self.policy.trainable_parameters())
        print(
            f"[biasgrpo] {conf.algorithm.name}: {len(self.prompts.train)} train prompts, {self.total_steps} steps of "
            f"{t.batch_size} prompts x {self.G} = {self.rollout_size} sequences; "
            f"{n_trainable:,} trainable parameters; run dir {run_dir}"
        )

    def _probe_reward(self) -> dict[str, Any]:
        """The reward probe (biasgrpo/rewards/probe.py) on the base model's samples of a few training
        prompts, drawn by the project's sampler in a forked RNG; warns or raises per ``reward.probe``.
        Offline algorithms (DPO) do not train on the reward: nothing to probe."""
        if not self.algo.online:
            return {}
        from biasgrpo.rewards.probe import run_probe
        from biasgrpo.sampler import sample

        def draw(prompts: list[str], group_size: int) -> list[str]:
            return sample(self.policy, prompts, group_size, self.conf.sampler).completions

        prompts = [r["prompt"] for r in self.prompts.train]
        return run_probe(self.reward, draw, prompts, self.conf.reward.probe, verbose=distributed.is_main())

    # ------------------------------------------------------------ state ---
    def _resume(self, source: Path) -> None:
        state = checkpoint.load_latest(source)
        if state is None:
            if self.conf.resume:
                raise TrainingError(
                    f"resume={self.conf.resume!r} holds no readable checkpoint under {checkpoint.CKPT_DIR}/"
                )
            return
        self.policy.load_trainable_state_dict(state["weights"])
        self.algo.load_state_dict(state["algorithm"])
        self.parallel.load_optimizer_state(self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        self.start_step, self.eval_before, self.skipped = state["step"], state["eval_before"], state["skipped"]
        print(f"[biasgrpo] resumed from step {self.start_step} of {self.total_steps}")

    def save(self, step: int) -> Path | None:
        if not distributed.is_main():
            return None
        bundle: dict[str, Any] = {
            "weights": self.policy.trainable_state_dict(),
            "algorithm": self.algo.state_dict(),
            "optimizer": self.parallel.optimizer_state(self.optimizer),
            "scheduler": self.scheduler.state_dict(),
            "eval_before": self.eval_before,
            "skipped": self.skipped,
            "config": checkpoint.config_text(self.cfg),  # YAML text: checkpoints hold only plain data
        }
        return checkpoint.save(self.run_dir, step, bundle, self.conf.train.keep_checkpoints)

    def batch_rows(self, step: int) -> list[Row]:
        """The prompts of ``step``: a fixed function of (seed, step), so a resumed run sees the same data."""
        rows, n, B = self.prompts.train, len(self.prompts.train), self.conf.train.batch_size
        orders: dict[int, list[int]] = {}  # one shuffle per epoch the batch touches, not one per row
        out = []
        for k in range(step * B, (step + 1) * B):
            epoch, i = divmod(k, n)
            if epoch not in orders:
                orders[epoch] = list(range(n))
                random.Random(self.conf.seed * 100_003 + epoch).shuffle(orders[epoch])
            out.append(rows[orders[epoch][i]])
        return out

    # ------------------------------------------------------------ train ---
    def train(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        summary_path = self.run_dir / SUMMARY_FILE
        if self.start_step >= self.total_steps and summary_path.exists():
            print(f"[biasgrpo] {self.run_dir} holds a finished run; its results are left as they are")
            return json.loads(summary_path.read_text())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._request_stop)
        if self.start_step == 0 and self.conf.eval.before and self.benchmarks:
            self.eval_before = run_benchmarks(
                self.benchmarks, self.policy, self.logger, 0, self.run_dir, prefix="eval_before"
            )
        bar = tqdm(
            range(self.start_step, self.total_steps), desc="train", initial=self.start_step, total=self.total_steps
        )
        for step in bar:
            metrics = distributed.all_reduce_mean(self.step(step))
            self.logger.log(metrics, step + 1)
            if "policy/loss" in metrics:
                postfix = {label: f"{float(metrics[k]):.3f}" for k, label in PROGRESS_KEYS.items() if k in metrics}
                bar.set_postfix(postfix)
            done = step + 1
            stop = distributed.any_true(self._stop_requested)  # every process stops after the same step
            if self.conf.eval.every and done % self.conf.eval.every == 0 and done < self.total_steps:
                # figures logged as eval/* at this step; examples kept apart from the final eval/ files
                run_benchmarks(
                    self.benchmarks, self.policy, self.logger, done, self.run_dir, examples_dir=f"eval_step{done}"
                )
            if stop or (self.conf.train.save_every and done % self.conf.train.save_every == 0):
                self.save(done)
            if stop:
                raise TrainingError(f"stopped by a signal after step {done}; checkpoint saved, run again to resume")
        self.save(self.total_steps)
        after = self.conf.eval.after and self.benchmarks
        eval_after = (
            run_benchmarks(self.benchmarks, self.policy, self.logger, self.total_steps, self.run_dir) if after else {}
        )
        summary = {**self._training_summary(), **self.eval_before, **eval_after, **self._eval_deltas(eval_after)}
        summary.update(info_figures(self.benchmarks))  # data source and scorer, as task=evaluate records them
        summary.update(self.guard_figures)  # reward probe; reward and scorer folders and sources
        if self.conf.train.export and distributed.is_main():  # task=export's export of the final checkpoint
            summary.update(export_checkpoint(self.run_dir, self.conf.export, self.run_dir, summary, self.export_report))
        if self.algo.online and isinstance(self.sampler, HFSampler):  # what sampler.dtype=auto became here
            summary["sampler/dtype"] = str(self.sampler.dtype).removeprefix("torch.")
        summary["provenance"] = provenance(self.conf)  # the paper's stated settings vs ours (biasgrpo/provenance.py)
        summary["perf/wall_s"] = time.perf_counter() - t0
        summary["run_dir"] = str(self.run_dir)
        self.logger.summary(summary)
        return summary

    def _eval_deltas(self, eval_after: dict[str, float]) -> dict[str, float]:
        """``eval_delta/*``: each measured figure after training minus before (counts excluded)."""
        deltas = {}
        for key, after in eval_after.items():
            before = self.eval_before.get(key.replace("eval/", "eval_before/", 1))
            if key.startswith("eval/") and before is not None and key.rsplit("/", 1)[-1] not in COUNT_FIGURES:
                deltas[key.replace("eval/", "eval_delta/", 1)] = after - before
        return deltas

    def _training_summary(self) -> dict[str, Any]:
        """Final training figures, read back from metrics.jsonl so a resumed run's summary
        covers the whole run, not only the part after the restart."""
        rows = [r for r in self.logger.read_metrics() if "policy/loss" in r]
        summary: dict[str, Any] = {"train/steps": self.total_steps, "train/skipped_steps": self.skipped}
        if rows:
            summary.update({k: v for k, v in rows[-1].items() if k.startswith(SUMMARY_PREFIXES)})
        first = [r["reward/mean"] for r in rows[:3] if "reward/mean" in r]
        if first:
            summary["reward/first_mean"] = sum(first) / len(first)
        summary.update(stability_figures(rows))
        return summary

    def _request_stop(self, signum: int, frame: object) -> None:
        if self._stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        print(f"[biasgrpo] signal {signum}: saving a checkpoint after this step (again to stop now)")
        self._stop_requested = True

    # ------------------------------------------------------------- step ---
    def step(self, step: int) -> dict[str, Any]:
        """One iteration: on the algorithm's own scored samples, or on the dataset's pairs."""
        return self.online_step(step) if self.algo.online else self.offline_step(step)

    def online_step(self, step: int) -> dict[str, Any]:
        """Sample G completions per prompt, score them, learn from them."""
        t0 = time.perf_counter()
        prompts = [r["prompt"] for r in distributed.shard(self.batch_rows(step))]
        ro, rewards, parts = self._sample_and_score(prompts)
        sampling: dict[str, Any] = {}
        if self.conf.train.dynamic_sampling_rounds:
            ro, rewards, parts, sampling = self._dynamic_sampling(step, ro, rewards, parts)
        t_gen = time.perf_counter() - t0
        if not distributed.all_true(torch.isfinite(rewards).all()):
            bad = [(r, c) for r, c in zip(rewards.tolist(), ro.completions) if not math.isfinite(r)]
            return self._skip(step, "reward", f"{bad[0][0]} for completion {bad[0][1][:120]!r}" if bad else "elsewhere")
        batch, stats = self.learn(step, ro, rewards.to(self.policy.device))
        if batch is None:
            return stats
        stats.update(self._sample_stats(ro, batch, parts, time.perf_counter() - t0, t_gen))
        stats.update(sampling)
        every = self.conf.train.sample_every
        if every and step % every == 0:
            self._log_samples(ro, batch, step + 1)
        return stats

    def _sample_and_score(self, prompts: list[str]) -> tuple[Rollout, torch.Tensor, dict[str, torch.Tensor]]:
        """G completions per prompt, their rewards ``[N]`` (NaN allowed: the step is then skipped)
        and, for a composite reward, each part's scores ``[N]``."""
        ro = self.sampler(prompts, self.G)
        scores = self.reward.score(ro.prompts, ro.completions)
        rewards = check_scores(self.reward, scores, ro.prompts, ro.completions, allow_nonfinite=True)
        return ro, rewards, dict(getattr(self.reward, "last_parts", {}))

    def _dynamic_sampling(
        self, step: int, ro: Rollout, rewards: torch.Tensor, parts: dict[str, torch.Tensor]
    ) -> tuple[Rollout, torch.Tensor, dict[str, torch.Tensor], dict[str, Any]]:
        """DAPO's dynamic sampling: groups whose rewards are all equal are replaced by groups of
        fresh prompts (``train.dynamic_sampling_rounds`` extra rounds at most); the batch keeps its size."""
        G, B = self.G, len(ro.prompts) // self.G
        sampled, rounds = B, 0

        def informative(r: torch.Tensor) -> list[bool]:  # NaN counts as informative: the step is then skipped
            grouped = r.view(-1, G)
            return ((grouped.amax(1) - grouped.amin(1)) != 0).tolist()

        kept = [g for g, ok in enumerate(informative(rewards)) if ok]
        while len(kept) < B and rounds < self.conf.train.dynamic_sampling_rounds:
            extra = random.Random(f"{self.conf.seed}:{step}:{rounds}:{distributed.rank()}")
            prompts = [r["prompt"] for r in extra.sample(self.prompts.train, B - len(kept))]
            more, more_rewards, more_parts = self._sample_and_score(prompts)
            kept += [sampled + g for g, ok in enumerate(informative(more_rewards)) if ok]
            ro = concat(ro, more, self.policy.tokenizer.pad_token_id)
            rewards = torch.cat([rewards, more_rewards])
            parts = {k: torch.cat([v, more_parts[k]]) for k, v in parts.items()}
            sampled, rounds = sampled + len(prompts), rounds + 1
        groups = kept[:B] + [g for g in range(sampled) if g not in kept][: max(0, B - len(kept))]
        rows = [g * G + k for g in groups for k in range(G)]
        stats = {
            "sampling/groups_sampled": sampled,
            "sampling/groups_dropped": sampled - len(kept),
            "sampling/equal_groups_kept": max(0, B - len(kept)),
            "sampling/extra_rounds": rounds,
        }
        return take(ro, rows), rewards[rows], {k: v[rows] for k, v in parts.items()}, stats

    def offline_step(self, step: int) -> dict[str, Any]:
        """Learn from the dataset's (chosen, rejected) pairs, laid out as groups of 2."""
        t0 = time.perf_counter()
        prompts, responses = self.algo.responses(distributed.shard(self.batch_rows(step)))
        ro = rollout_from_pairs(self.policy, prompts, responses)
        batch, stats = self.learn(step, ro, None)
        if batch is not None:
            stats.update(self._throughput(time.perf_counter() - t0, batch))
        return stats

    def learn(self, step: int, ro: Rollout, rewards: torch.Tensor | None) -> tuple[Batch | None, dict[str, Any]]:
        """The extra passes, the algorithm's targets, μ epochs of minibatch updates and the step's
        shared statistics; ``(None, skip stats)`` when a loss or gradient was not finite."""
        batch = self._batch(ro, rewards)
        targets, stats = self.algo.prepare(batch, step)
        batch = dataclasses.replace(batch, targets=targets)
        updates: list[Update] = []
        for _ in range(self.algo.update_epochs):
            for idx in self._minibatch_indices(ro.input_ids.shape[0]):
                update = self._update([batch.select(part) for part in idx.split(self.micro_batch_size)], step)
                if not isinstance(update, Update):
                    return None, self._skip(step, *update)
                updates.append(update)
        self.scheduler.step()
        self.algo.end_step()
        self._consecutive_skips = 0
        stats.update({k: torch.stack([u.stats[k] for u in updates]).mean() for k in updates[0].stats})
        stats.update(
            {
                "policy/loss": torch.stack([u.loss for u in updates]).mean(),
                "policy/grad_norm": torch.stack([u.grad_norm for u in updates]).mean(),
                "policy/entropy": torch.stack([u.entropy for u in updates]).mean(),
                "train/lr": self.scheduler.get_last_lr()[0],
                "train/skipped_steps": self.skipped,
            }
        )
        return batch, stats

    def _batch(self, ro: Rollout, rewards: torch.Tensor | None) -> Batch:
        """The rollout with the passes the algorithm asks for, run without grad."""
        old = ref = None
        if self.old_pass:
            old = self._no_grad_forward(self.policy.model, ro, with_hidden=self.algo.needs_hidden)
        if self.algo.needs_reference:
            with self.policy.reference() as ref_model:
                ref = self._no_grad_forward(ref_model, ro)
        return Batch(
            input_ids=ro.input_ids,
            attention_mask=ro.attention_mask,
            response_mask=ro.response_mask,
            truncated=ro.truncated,
            rewards=rewards,
            old_logprobs=None if old is None else old.logprobs,
            ref_logprobs=None if ref is None else ref.logprobs,
            old_hidden=None if old is None else old.hidden,
        )

    def _forward(
        self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, T: int, **kwargs: bool
    ) -> Forward:
        return self.policy.response_forward(
            model, input_ids, attention_mask, T, group_size=self.shared_prefix, temperature=self.temperature, **kwargs
        )

    def _no_grad_forward(self, model: torch.nn.Module, ro: Rollout, with_hidden: bool = False) -> Forward:
        """A forward pass over the whole rollout, in micro-batch-sized chunks, without grad."""
        mb, n, T = self.micro_batch_size, ro.input_ids.shape[0], ro.response_len
        with torch.no_grad():
            parts = [
                self._forward(
                    model, ro.input_ids[i : i + mb], ro.attention_mask[i : i + mb], T, with_hidden=with_hidden
                )
                for i in range(0, n, mb)
            ]
        hidden = torch.cat([p.hidden for p in parts]) if with_hidden else None
        return Forward(torch.cat([p.logprobs for p in parts]), None, hidden)

    def _minibatch_indices(self, n: int) -> list[torch.Tensor]:
        """Shuffled minibatches; whole groups shuffled as units when a minibatch holds whole groups."""
        g = self.G if self.minibatch_size % self.G == 0 else 1
        order = (torch.randperm(n // g).unsqueeze(1) * g + torch.arange(g)).flatten()  # [n]
        return list(order.split(self.minibatch_size))

    def _update(self, micro_batches: list[Batch], step: int) -> Update | tuple[str, str]:
        """One optimizer step on a minibatch given as micro-batches (``train.grad_accum_steps``).

        Each micro-batch's loss is weighted by its share of the minibatch (``Algorithm.loss_weight``:
        sequences, or tokens for a token mean) before its backward, so the summed gradient is the
        whole minibatch's; then clip and step. Returns the minibatch's figures, or the non-finite
        source and the loss for :meth:`_skip`.
        """
        self.optimizer.zero_grad(set_to_none=True)
        sizes = torch.stack([self.algo.loss_weight(mb) for mb in micro_batches])
        weights = sizes / sizes.sum().clamp(min=1.0)  # [k]; exactly 1.0 for a single micro-batch
        losses, entropies, micro_stats = [], [], []
        for i, (mb, weight) in enumerate(zip(micro_batches, weights)):
            with self.parallel.micro_batch(last=i == len(micro_batches) - 1):
                loss, stats, entropy = self.trainable(mb, step)
                if not distributed.all_true(torch.isfinite(loss)):
                    return "loss", f"{loss.item()}"
                self.parallel.backward(loss * weight)
            losses.append(loss.detach())
            entropies.append(entropy)
            micro_stats.append(stats)

        def weighted(values: list[torch.Tensor]) -> torch.Tensor:
            return (torch.stack(values) * weights).sum()

        loss = weighted(losses)
        grad_norm = self.parallel.clip_grad_norm_(self.conf.train.max_grad_norm)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return "gradient", f"{loss.item()}"
        self.optimizer.step()
        stats = {k: weighted([s[k] for s in micro_stats]) for k in micro_stats[0]}
        return Update(loss, weighted(entropies), grad_norm, stats)

    def _loss(self, mb: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """A micro-batch's loss, its statistics and its mean entropy, from the policy's forward pass
        over it with grad: the forward of the trainable module accelerate wraps."""
        fwd = self._forward(
            self.policy.model,
            mb.input_ids,
            mb.attention_mask,
            mb.response_len,
            with_hidden=self.algo.needs_hidden,
            with_entropy=True,
        )
        loss, stats = self.algo.loss(fwd, mb, step)
        return loss, stats, masked_mean(fwd.entropy, mb.response_mask)

    # ---------------------------------------------------------- metrics ---
    def _throughput(self, elapsed: float, batch: Batch) -> dict[str, Any]:
        return {
            "perf/step_s": elapsed,
            "perf/tokens_per_s": batch.response_mask.sum() / elapsed,
            "perf/samples_per_s": batch.response_mask.shape[0] / elapsed,
        }

    def _sample_stats(
        self, ro: Rollout, batch: Batch, parts: dict[str, torch.Tensor], elapsed: float, t_gen: float
    ) -> dict[str, Any]:
        """Reward, length and throughput figures of an online step's samples."""
        rewards, N = batch.rewards, ro.input_ids.shape[0]
        assert rewards is not None
        stats = {
            "reward/mean": rewards.mean(),
            "reward/std": rewards.std() if N > 1 else torch.tensor(0.0),
            "completions/mean_length": batch.response_mask.sum(1).float().mean(),
            "completions/clipped_ratio": ro.truncated.float().mean(),
            "perf/generate_s": t_gen,
            **self._throughput(elapsed, batch),
        }
        # A composite reward's parts, unweighted, so that gaming one part shows (rewards/composite.py).
        stats.update({f"reward/part/{k}": v.mean() for k, v in parts.items()})
        return stats

    def _log_samples(self, ro: Rollout, batch: Batch, step: int) -> None:
        adv = batch.targets.advantages  # every online algorithm's targets carry advantages, [N] or [N, T]
        adv_seq = adv if adv.dim() == 1 else masked_mean(adv, batch.response_mask, dim=1)
        rows = [[p, c, float(r), float(a)] for p, c, r, a in zip(ro.prompts, ro.completions, batch.rewards, adv_seq)]
        n = self.conf.logger.sample_rows
        self.logger.table("samples", ["prompt", "completion", "reward", "advantage"], rows[:n], step)

    def _skip(self, step: int, source: str, detail: str) -> dict[str, Any]:
        """Skip a step whose reward, loss or gradient is not finite; stop after K in a row."""
        self.skipped += 1
        self._consecutive_skips += 1
        print(f"[biasgrpo] step {step + 1}: non-finite {source} ({detail}); step skipped")
        if self._consecutive_skips >= self.conf.train.max_consecutive_skips:
            raise TrainingError(
                f"{self._consecutive_skips} steps in a row had a non-finite {source} ({detail}); stopping. "
                "Check the reward for NaN/inf, or lower train.lr."
            )
        with warnings.catch_warnings():  # the schedule follows the step count, skipped steps included
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before", UserWarning)
            self.scheduler.step()
        return {"train/skipped_steps": self.skipped}

    def cleanup(self) -> None:
        self.sampler.close()
        self.logger.finish()


def train(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    """Build, train, clean up; returns the run summary (also written to summary.json)."""
    distributed.init(pick_device(conf.device))
    run_dir = distributed.broadcast_object(run_dir)  # rank 0's: Hydra names each process's by its own clock
    if conf.on_existing == "refuse" and (checkpoint.checkpoint_paths(run_dir) or (run_dir / SUMMARY_FILE).exists()):
        raise TrainingError(
            f"{run_dir} already holds a run and on_existing=refuse; choose another hydra.run.dir, "
            "or on_existing=resume to continue it"
        )
    trainer = Trainer(conf, cfg, run_dir)
    try:
        return distributed.broadcast_object(trainer.train())  # rank 0's summary on every process
    finally:
        trainer.cleanup()
        distributed.close()
