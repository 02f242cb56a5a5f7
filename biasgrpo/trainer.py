"""The online training loop: sample, score, advantages, μ epochs of updates, log.

Build (``Trainer.__init__``), train (``Trainer.train``) and cleanup stay separate; one
``step`` is the whole of one iteration, marked in stages, as in cleanRL.
"""

from __future__ import annotations

import math
import random
import signal
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from tqdm import tqdm
from transformers import set_seed

from biasgrpo import checkpoint
from biasgrpo.algorithms.functional import masked_mean
from biasgrpo.algorithms.grpo import GRPO
from biasgrpo.benchmarks import build_benchmarks
from biasgrpo.config import Config
from biasgrpo.data import Row, load_prompts
from biasgrpo.errors import BiasGRPOError
from biasgrpo.logging import RunLogger
from biasgrpo.policy import Policy
from biasgrpo.rewards import build_reward, check_scores
from biasgrpo.sampler import sample
from biasgrpo.types import Minibatch, Rollout


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


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device=cuda but no CUDA device is visible; use device=cpu or device=auto")
    return torch.device(name)


class Trainer:
    def __init__(self, conf: Config, cfg: DictConfig, run_dir: Path) -> None:
        self.conf, self.cfg, self.run_dir = conf, cfg, run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        set_seed(conf.seed)
        self.algo = GRPO(conf.algorithm)
        self.G = self.algo.group_size
        self.prompts = load_prompts(conf.dataset, conf.seed)
        self.reward = build_reward(conf.reward)
        self.policy = Policy(conf.model, pick_device(conf.device), needs_reference=self.algo.needs_reference)
        self.benchmarks = build_benchmarks(conf.benchmark, conf.sampler, self.prompts.eval, self.reward)

        # Derived sizes, computed and checked once (cleanRL).
        t = conf.train
        self.rollout_size = t.batch_size * self.G  # N = B*G sequences per step
        self.minibatch_size = t.minibatch_size or self.rollout_size
        self.total_steps = t.max_steps or math.ceil(t.num_epochs * len(self.prompts.train) / t.batch_size)
        # With one pass over one minibatch the sampling policy *is* the current policy.
        self.reuse_old_logprobs = conf.algorithm.update_epochs == 1 and self.minibatch_size == self.rollout_size

        self.optimizer = torch.optim.AdamW(self.policy.trainable_parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(t.warmup_steps, self.total_steps, t.lr_schedule)
        )
        self.start_step, self.eval_before, self.skipped, self._consecutive_skips = 0, {}, 0, 0
        self._resume(Path(conf.resume) if conf.resume else run_dir)
        self.logger = RunLogger(cfg, conf.logger, run_dir, self.start_step)
        self._stop_requested = False
        n_trainable = sum(p.numel() for p in self.policy.trainable_parameters())
        print(
            f"[biasgrpo] {len(self.prompts.train)} train prompts, {self.total_steps} steps of "
            f"{t.batch_size} prompts x G={self.G} = {self.rollout_size} completions; "
            f"{n_trainable:,} trainable parameters; run dir {run_dir}"
        )

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
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        self.start_step, self.eval_before, self.skipped = state["step"], state["eval_before"], state["skipped"]
        print(f"[biasgrpo] resumed from step {self.start_step} of {self.total_steps}")

    def save(self, step: int) -> Path:
        bundle: dict[str, Any] = {
            "weights": self.policy.trainable_state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "eval_before": self.eval_before,
            "skipped": self.skipped,
            "config": self.cfg,
        }
        return checkpoint.save(self.run_dir, step, bundle, self.conf.train.keep_checkpoints)

    def batch_rows(self, step: int) -> list[Row]:
        """The prompts of ``step``: a fixed function of (seed, step), so a resumed run sees the same data."""
        rows, n, B = self.prompts.train, len(self.prompts.train), self.conf.train.batch_size
        out = []
        for k in range(step * B, (step + 1) * B):
            epoch, i = divmod(k, n)
            order = list(range(n))
            random.Random(self.conf.seed * 100_003 + epoch).shuffle(order)
            out.append(rows[order[i]])
        return out

    # ------------------------------------------------------------- eval ---
    def evaluate(self, step: int, prefix: str = "eval") -> dict[str, float]:
        figures: dict[str, float] = {}
        for bench in self.benchmarks:
            result, rows = bench.evaluate(self.policy)
            figures.update({f"{prefix}/{bench.name}/{k}": v for k, v in result.items()})
            cols = list(rows[0].keys())
            self.logger.table(f"{prefix}/{bench.name}/samples", cols, [[r[c] for c in cols] for r in rows[:32]], step)
        if figures:
            self.logger.log(figures, step)
        return figures

    # ------------------------------------------------------------ train ---
    def train(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        signal.signal(signal.SIGTERM, self._request_stop)
        if self.start_step == 0 and self.conf.eval.before and self.benchmarks:
            self.eval_before = self.evaluate(0, prefix="eval_before")
        first_rewards: list[float] = []
        last: dict[str, float] = {}
        bar = tqdm(
            range(self.start_step, self.total_steps), desc="train", initial=self.start_step, total=self.total_steps
        )
        for step in bar:
            metrics = self.step(step)
            self.logger.log(metrics, step + 1)
            last = {k: float(v) for k, v in metrics.items()}
            if len(first_rewards) < 3 and "reward/mean" in last:
                first_rewards.append(last["reward/mean"])
            bar.set_postfix(
                reward=f"{last.get('reward/mean', float('nan')):.3f}", kl=f"{last.get('policy/kl_ref', 0):.4f}"
            )
            done = step + 1
            if self.conf.eval.every and done % self.conf.eval.every == 0 and done < self.total_steps:
                self.evaluate(done)
            if self._stop_requested or (self.conf.train.save_every and done % self.conf.train.save_every == 0):
                self.save(done)
            if self._stop_requested:
                raise TrainingError(f"stopped by SIGTERM after step {done}; checkpoint saved, run again to resume")
        self.save(self.total_steps)
        eval_after = self.evaluate(self.total_steps) if self.conf.eval.after and self.benchmarks else {}
        summary: dict[str, Any] = {"train/steps": self.total_steps, "train/skipped_steps": self.skipped}
        summary.update({k: v for k, v in last.items() if k.startswith(("reward/", "policy/", "completions/"))})
        if first_rewards:
            summary["reward/first_mean"] = sum(first_rewards) / len(first_rewards)
        summary.update(self.eval_before)
        summary.update(eval_after)
        for key, after in eval_after.items():
            before = self.eval_before.get(key.replace("eval/", "eval_before/", 1))
            if before is not None:
                summary[key.replace("eval/", "eval_delta/", 1)] = after - before
        summary["perf/wall_s"] = time.perf_counter() - t0
        summary["run_dir"] = str(self.run_dir)
        self.logger.summary(summary)
        return summary

    def _request_stop(self, signum: int, frame: object) -> None:
        print(f"[biasgrpo] signal {signum}: saving a checkpoint after this step")
        self._stop_requested = True

    def _logprobs(self, model: torch.nn.Module, ro: Rollout, idx: torch.Tensor) -> torch.Tensor:
        return self.policy.response_logprobs(model, ro.input_ids[idx], ro.attention_mask[idx], ro.response_len)[0]

    def step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        prompts = [r["prompt"] for r in self.batch_rows(step)]

        # --- Rollout: G completions per prompt --------------------------------------
        ro = sample(self.policy, prompts, self.G, self.conf.sampler)
        t_gen = time.perf_counter() - t0

        # --- Reward and advantages ----------------------------------------------------
        raw = self.reward.score(ro.prompts, ro.completions)
        rewards = check_scores(self.reward, raw, ro.prompts, ro.completions, allow_nonfinite=True)
        if not torch.isfinite(rewards).all():
            i = int((~torch.isfinite(rewards)).nonzero()[0])
            return self._skip(step, "reward", f"{rewards[i].item()} for completion {ro.completions[i][:120]!r}")
        rewards = rewards.to(self.policy.device)
        advantages, stats = self.algo.advantages(rewards)  # [N]

        # --- Old and reference log-probs, without grad ---------------------------------
        N, mb = self.rollout_size, self.minibatch_size
        chunks = [torch.arange(i, min(i + mb, N)) for i in range(0, N, mb)]
        with torch.no_grad():
            old = (
                None
                if self.reuse_old_logprobs
                else torch.cat([self._logprobs(self.policy.model, ro, c) for c in chunks])
            )
            ref = None
            if self.algo.needs_reference:
                with self.policy.reference() as ref_model:
                    ref = torch.cat([self._logprobs(ref_model, ro, c) for c in chunks])

        # --- Optimise: μ epochs over shuffled minibatches ---------------------------------
        losses, entropies, grad_norms, update_stats = [], [], [], []
        for _ in range(self.conf.algorithm.update_epochs):
            for idx in torch.randperm(N).split(mb):
                batch = Minibatch(
                    input_ids=ro.input_ids[idx],
                    attention_mask=ro.attention_mask[idx],
                    response_mask=ro.response_mask[idx],
                    advantages=advantages[idx],
                    old_logprobs=None if old is None else old[idx],
                    ref_logprobs=None if ref is None else ref[idx],
                )
                logprobs, entropy = self.policy.response_logprobs(
                    self.policy.model, batch.input_ids, batch.attention_mask, ro.response_len, with_entropy=True
                )
                loss, loss_stats = self.algo.loss(logprobs, batch)
                if not torch.isfinite(loss):
                    self.optimizer.zero_grad(set_to_none=True)
                    return self._skip(step, "loss", f"{loss.item()}")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    self.policy.trainable_parameters(), self.conf.train.max_grad_norm
                )
                if not torch.isfinite(grad_norm):
                    self.optimizer.zero_grad(set_to_none=True)
                    return self._skip(step, "gradient", f"norm {grad_norm.item()}")
                self.optimizer.step()
                losses.append(loss.detach())
                entropies.append(masked_mean(entropy, batch.response_mask))
                grad_norms.append(grad_norm)
                update_stats.append(loss_stats)
        self.scheduler.step()
        self._consecutive_skips = 0

        # --- Metrics ------------------------------------------------------------------
        elapsed = time.perf_counter() - t0
        lengths = ro.response_mask.sum(1).float()
        stats.update({k: torch.stack([s[k] for s in update_stats]).mean() for k in update_stats[0]})
        stats.update(
            {
                "reward/mean": rewards.mean(),
                "reward/std": rewards.std(),
                "policy/loss": torch.stack(losses).mean(),
                "policy/entropy": torch.stack(entropies).mean(),
                "policy/grad_norm": torch.stack(grad_norms).mean(),
                "train/lr": self.scheduler.get_last_lr()[0],
                "train/skipped_steps": self.skipped,
                "completions/mean_length": lengths.mean(),
                "completions/clipped_ratio": ro.truncated.float().mean(),
                "perf/step_s": elapsed,
                "perf/generate_s": t_gen,
                "perf/tokens_per_s": lengths.sum() / elapsed,
                "perf/samples_per_s": N / elapsed,
            }
        )
        every = self.conf.train.sample_every
        if every and step % every == 0:
            rows = [[p, c, float(r), float(a)] for p, c, r, a in zip(ro.prompts, ro.completions, rewards, advantages)]
            n = self.conf.logger.sample_rows
            self.logger.table("samples", ["prompt", "completion", "reward", "advantage"], rows[:n], step + 1)
        return stats

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
        self.scheduler.step()
        return {"train/skipped_steps": self.skipped}

    def cleanup(self) -> None:
        self.logger.finish()


def train(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    """Build, train, clean up; returns the run summary (also written to summary.json)."""
    trainer = Trainer(conf, cfg, run_dir)
    try:
        return trainer.train()
    finally:
        trainer.cleanup()
