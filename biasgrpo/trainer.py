"""The online training loop: sample, score, advantages, μ epochs of updates, log.

Build (``Trainer.__init__``), train (``Trainer.train``) and cleanup stay separate; one
``step`` is the whole of one iteration, marked in stages, as in cleanRL.
"""

from __future__ import annotations

import json
import math
import random
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from tqdm import tqdm
from transformers import set_seed

from biasgrpo import checkpoint, distributed
from biasgrpo.algorithms.dpo import DPO, DPOConfig
from biasgrpo.algorithms.functional import masked_mean, sequence_logprobs
from biasgrpo.algorithms.grpo import GRPO, GRPOConfig
from biasgrpo.algorithms.ppo import PPO, PPOConfig, ValueHead
from biasgrpo.benchmarks import COUNT_FIGURES, build_benchmarks, info_figures
from biasgrpo.benchmarks.examples import write_examples
from biasgrpo.config import Config
from biasgrpo.data import Row, load_prompts
from biasgrpo.errors import BiasGRPOError
from biasgrpo.logging import SUMMARY_FILE, RunLogger
from biasgrpo.policy import Forward, Policy
from biasgrpo.rewards import build_reward, check_scores
from biasgrpo.sampler import build_sampler
from biasgrpo.types import Minibatch, PPOMinibatch, Rollout

# A skipped step still advances the schedule (so the data order and the schedule stay
# tied to the step number); if it is the very first step, torch warns about the order.
warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")

# Shown on the progress bar; copied into summary.json from the last step.
PROGRESS_KEYS = {"reward/mean": "reward", "policy/kl_ref": "kl", "dpo/accuracy": "acc", "value/explained_var": "ev"}
SUMMARY_PREFIXES = ("reward/", "policy/", "completions/", "value/", "dpo/")


class TrainingError(BiasGRPOError):
    """Training cannot go on (for example, too many non-finite steps in a row)."""


def build_algorithm(cfg: GRPOConfig | PPOConfig | DPOConfig) -> GRPO | PPO | DPO:
    if isinstance(cfg, GRPOConfig):
        return GRPO(cfg)
    if isinstance(cfg, PPOConfig):
        return PPO(cfg)
    return DPO(cfg)


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
        self.algo = build_algorithm(conf.algorithm)
        self.G = getattr(self.algo, "group_size", 1)  # DPO: one (chosen, rejected) pair per prompt
        self.prompts = load_prompts(conf.dataset, conf.seed, pairs_only=isinstance(self.algo, DPO))
        self.reward = build_reward(conf.reward)
        self.benchmarks = build_benchmarks(conf, self.prompts.eval, self.reward)  # before the model: data errors first
        self.policy = Policy(conf.model, pick_device(conf.device), needs_reference=self.algo.needs_reference)

        # Derived sizes, computed and checked once (cleanRL).
        t = conf.train
        self.rollout_size = distributed.local_batch_size(t.batch_size) * self.G  # N = B*G sequences per process
        self.minibatch_size = t.minibatch_size or self.rollout_size
        self.total_steps = t.max_steps or math.ceil(t.num_epochs * len(self.prompts.train) / t.batch_size)
        # With one pass over one minibatch the sampling policy *is* the current policy.
        epochs = getattr(conf.algorithm, "update_epochs", 1)
        self.reuse_old_logprobs = epochs == 1 and self.minibatch_size == self.rollout_size
        # Minibatches of whole groups let each group's prompt run once (Policy.response_forward).
        self.shared_prefix = self.G if self.G > 1 and self.minibatch_size % self.G == 0 else 1

        groups: list[dict[str, Any]] = [{"params": self.policy.trainable_parameters()}]
        self.value_head: ValueHead | None = None
        if isinstance(self.algo, PPO):
            self.value_head = ValueHead(self.policy.hidden_size).to(self.policy.device)
            groups.append({"params": list(self.value_head.parameters()), "lr": conf.algorithm.critic_lr or t.lr})
        self.parameters = [p for g in groups for p in g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(t.warmup_steps, self.total_steps, t.lr_schedule)
        )
        self.start_step, self.eval_before, self.skipped, self._consecutive_skips = 0, {}, 0, 0
        self._resume(Path(conf.resume) if conf.resume else run_dir)
        distributed.seed_process(conf.seed, self.start_step)
        # Before the logger: a sampler that cannot start (no vllm) must not leave a W&B run open.
        self.sampler = build_sampler(self.policy, conf.sampler, conf.model, conf.seed)
        self.logger = (
            RunLogger(cfg, conf.logger, run_dir, self.start_step)
            if distributed.is_main()
            else distributed.SilentLogger()
        )
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
        if self.value_head is not None:
            self.value_head.load_state_dict(state["value_head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        self.start_step, self.eval_before, self.skipped = state["step"], state["eval_before"], state["skipped"]
        print(f"[biasgrpo] resumed from step {self.start_step} of {self.total_steps}")

    def save(self, step: int) -> Path | None:
        if not distributed.is_main():
            return None
        bundle: dict[str, Any] = {
            "weights": self.policy.trainable_state_dict(),
            "value_head": None if self.value_head is None else self.value_head.state_dict(),
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
        orders: dict[int, list[int]] = {}  # one shuffle per epoch the batch touches, not one per row
        out = []
        for k in range(step * B, (step + 1) * B):
            epoch, i = divmod(k, n)
            if epoch not in orders:
                orders[epoch] = list(range(n))
                random.Random(self.conf.seed * 100_003 + epoch).shuffle(orders[epoch])
            out.append(rows[orders[epoch][i]])
        return out

    # ------------------------------------------------------------- eval ---
    def evaluate(self, step: int, prefix: str = "eval") -> dict[str, float]:
        figures: dict[str, float] = {}
        for bench in self.benchmarks:
            result, rows = bench.evaluate(self.policy)
            write_examples(self.run_dir, prefix, bench.name, rows)  # <run dir>/<prefix>/<name>.jsonl
            figures.update({f"{prefix}/{bench.name}/{k}": v for k, v in result.items()})
            cols = list(rows[0].keys())
            self.logger.table(f"{prefix}/{bench.name}/samples", cols, [[r[c] for c in cols] for r in rows[:32]], step)
        if figures:
            self.logger.log(figures, step)
        return figures

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
            self.eval_before = self.evaluate(0, prefix="eval_before")
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
                self.evaluate(done)
            if stop or (self.conf.train.save_every and done % self.conf.train.save_every == 0):
                self.save(done)
            if stop:
                raise TrainingError(f"stopped by a signal after step {done}; checkpoint saved, run again to resume")
        self.save(self.total_steps)
        eval_after = self.evaluate(self.total_steps) if self.conf.eval.after and self.benchmarks else {}
        summary = self._training_summary()
        summary.update(self.eval_before)
        summary.update(eval_after)
        for key, after in eval_after.items():
            before = self.eval_before.get(key.replace("eval/", "eval_before/", 1))
            if before is not None and key.rsplit("/", 1)[-1] not in COUNT_FIGURES:
                summary[key.replace("eval/", "eval_delta/", 1)] = after - before
        summary.update(info_figures(self.benchmarks))  # data source and scorer, as task=evaluate records them
        summary["perf/wall_s"] = time.perf_counter() - t0
        summary["run_dir"] = str(self.run_dir)
        self.logger.summary(summary)
        return summary

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
        return summary

    def _request_stop(self, signum: int, frame: object) -> None:
        if self._stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        print(f"[biasgrpo] signal {signum}: saving a checkpoint after this step (again to stop now)")
        self._stop_requested = True

    def step(self, step: int) -> dict[str, Any]:
        """One iteration: an online step (GRPO, PPO) or an offline one (DPO)."""
        return self.offline_step(step) if isinstance(self.algo, DPO) else self.online_step(step)

    def _no_grad_forward(self, model: torch.nn.Module, ro: Rollout, with_hidden: bool = False) -> list[Forward]:
        """Forward passes over the rollout in minibatch-sized chunks, without grad."""
        n, mb, T = ro.input_ids.shape[0], self.minibatch_size, ro.response_len
        with torch.no_grad():
            return [
                self.policy.response_forward(
                    model,
                    ro.input_ids[i : i + mb],
                    ro.attention_mask[i : i + mb],
                    T,
                    with_hidden=with_hidden,
                    group_size=self.shared_prefix,
                )
                for i in range(0, n, mb)
            ]

    def _minibatch_indices(self, n: int) -> list[torch.Tensor]:
        """Shuffled minibatches; whole groups shuffled as units when prefixes are shared."""
        g = self.shared_prefix
        order = (torch.randperm(n // g).unsqueeze(1) * g + torch.arange(g)).flatten()  # [n]
        return list(order.split(self.minibatch_size))

    def _update(self, loss: torch.Tensor) -> torch.Tensor | str:
        """Backward, clip and step; returns the grad norm, or the non-finite source."""
        self.optimizer.zero_grad(set_to_none=True)
        if not distributed.all_true(torch.isfinite(loss)):
            return "loss"
        loss.backward()
        distributed.all_reduce_grads(self.parameters)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.conf.train.max_grad_norm)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return "gradient"
        self.optimizer.step()
        return grad_norm

    def online_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        ppo = isinstance(self.algo, PPO)
        prompts = [r["prompt"] for r in distributed.shard(self.batch_rows(step))]

        # --- Rollout: G completions per prompt --------------------------------------
        ro = self.sampler(prompts, self.G)
        t_gen = time.perf_counter() - t0
        N, T, mask = self.rollout_size, ro.response_len, ro.response_mask

        # --- Reward -------------------------------------------------------------------
        raw = self.reward.score(ro.prompts, ro.completions)
        rewards = check_scores(self.reward, raw, ro.prompts, ro.completions, allow_nonfinite=True)
        if not distributed.all_true(torch.isfinite(rewards).all()):
            bad = [(r, c) for r, c in zip(rewards.tolist(), ro.completions) if not math.isfinite(r)]
            return self._skip(step, "reward", f"{bad[0][0]} for completion {bad[0][1][:120]!r}" if bad else "elsewhere")
        rewards = rewards.to(self.policy.device)

        # --- Old and reference log-probs (and rollout values), without grad -----------
        old = old_values = ref = None
        if ppo or not self.reuse_old_logprobs:
            fwd = self._no_grad_forward(self.policy.model, ro, with_hidden=ppo)
            old = torch.cat([f.logprobs for f in fwd])  # [N, T]
            if ppo:
                with torch.no_grad():
                    old_values = torch.cat([self.value_head.response_values(f.hidden, T) for f in fwd])  # [N, T]
        if self.algo.needs_reference:
            with self.policy.reference() as ref_model:
                ref = torch.cat([f.logprobs for f in self._no_grad_forward(ref_model, ro)])  # [N, T]

        # --- Advantages ---------------------------------------------------------------
        if ppo:
            token_rewards, stats = self.algo.token_rewards(rewards, old, ref, mask)  # [N, T]
            if "policy/kl_ref_seq" in stats:
                self.algo.update_kl(float(stats["policy/kl_ref_seq"]), N)
            advantages, returns, adv_stats = self.algo.advantages(token_rewards, old_values, mask)  # [N, T]
            stats.update(adv_stats)
            train_policy = self.algo.trains_policy(step)
        else:
            advantages, stats = self.algo.advantages(rewards)  # [N]

        # --- Optimise: μ epochs over shuffled minibatches ---------------------------------
        losses, entropies, grad_norms, update_stats = [], [], [], []
        for _ in range(self.conf.algorithm.update_epochs):
            for idx in self._minibatch_indices(N):
                ids, attn = ro.input_ids[idx], ro.attention_mask[idx]
                cur = self.policy.response_forward(
                    self.policy.model, ids, attn, T, with_entropy=True, with_hidden=ppo, group_size=self.shared_prefix
                )
                if ppo:
                    # During the critic warm-up the trunk gets no gradient through the head.
                    hidden = cur.hidden if train_policy else cur.hidden.detach()
                    values = self.value_head.response_values(hidden, T)  # [n, T]
                    batch = PPOMinibatch(ids, attn, mask[idx], advantages[idx], returns[idx], old_values[idx], old[idx])
                    loss, loss_stats = self.algo.loss(cur.logprobs, values, batch, train_policy)
                else:
                    old_mb = None if old is None else old[idx]
                    ref_mb = None if ref is None else ref[idx]
                    batch = Minibatch(ids, attn, mask[idx], advantages[idx], old_mb, ref_mb)
                    loss, loss_stats = self.algo.loss(cur.logprobs, batch)
                grad_norm = self._update(loss)
                if isinstance(grad_norm, str):
                    return self._skip(step, grad_norm, f"{loss.item()}")
                losses.append(loss.detach())
                entropies.append(masked_mean(cur.entropy, mask[idx]))
                grad_norms.append(grad_norm)
                update_stats.append(loss_stats)
        self.scheduler.step()
        self._consecutive_skips = 0

        # --- Metrics ------------------------------------------------------------------
        elapsed = time.perf_counter() - t0
        lengths = mask.sum(1).float()
        stats.update({k: torch.stack([s[k] for s in update_stats]).mean() for k in update_stats[0]})
        stats.update(self._common_stats(losses, grad_norms, elapsed, N, lengths.sum()))
        stats.update(
            {
                "reward/mean": rewards.mean(),
                "reward/std": rewards.std() if N > 1 else torch.tensor(0.0),
                "policy/entropy": torch.stack(entropies).mean(),
                "completions/mean_length": lengths.mean(),
                "completions/clipped_ratio": ro.truncated.float().mean(),
                "perf/generate_s": t_gen,
            }
        )
        # A composite reward's parts, unweighted, so that gaming one part shows (rewards/composite.py).
        stats.update({f"reward/part/{k}": v.mean() for k, v in getattr(self.reward, "last_parts", {}).items()})
        every = self.conf.train.sample_every
        if every and step % every == 0:
            adv_seq = advantages if advantages.dim() == 1 else masked_mean(advantages, mask, dim=1)
            rows = [[p, c, float(r), float(a)] for p, c, r, a in zip(ro.prompts, ro.completions, rewards, adv_seq)]
            n = self.conf.logger.sample_rows
            self.logger.table("samples", ["prompt", "completion", "reward", "advantage"], rows[:n], step + 1)
        return stats

    def offline_step(self, step: int) -> dict[str, Any]:
        """DPO: policy and reference log-probs of B chosen and B rejected responses."""
        t0 = time.perf_counter()
        rows = distributed.shard(self.batch_rows(step))
        B = len(rows)
        # Chosen and rejected interleaved, [c1, r1, c2, r2, ...]: one forward pass for all 2B
        # sequences, each prompt run once for its pair (groups of 2 share a prefix).
        prompts = [r["prompt"] for r in rows for _ in range(2)]
        ids, attn, mask = self.policy.encode(prompts, [r[k] for r in rows for k in ("chosen", "rejected")])
        T, average = mask.shape[1], self.algo.average_logprobs
        with torch.no_grad(), self.policy.reference() as ref_model:
            ref_fwd = self.policy.response_forward(ref_model, ids, attn, T, group_size=2)
        ref = sequence_logprobs(ref_fwd.logprobs, mask, average)  # [2B]
        cur = self.policy.response_forward(self.policy.model, ids, attn, T, group_size=2)
        logprobs = sequence_logprobs(cur.logprobs, mask, average)  # [2B]
        loss, stats = self.algo.loss(logprobs[0::2], logprobs[1::2], ref[0::2], ref[1::2])
        grad_norm = self._update(loss)
        if isinstance(grad_norm, str):
            return self._skip(step, grad_norm, f"{loss.item()}")
        self.scheduler.step()
        self._consecutive_skips = 0
        stats.update(self._common_stats([loss.detach()], [grad_norm], time.perf_counter() - t0, 2 * B, mask.sum()))
        return stats

    def _common_stats(
        self, losses: list[torch.Tensor], grad_norms: list[torch.Tensor], elapsed: float, n: int, tokens: torch.Tensor
    ) -> dict[str, Any]:
        return {
            "policy/loss": torch.stack(losses).mean(),
            "policy/grad_norm": torch.stack(grad_norms).mean(),
            "train/lr": self.scheduler.get_last_lr()[0],
            "train/skipped_steps": self.skipped,
            "perf/step_s": elapsed,
            "perf/tokens_per_s": tokens / elapsed,
            "perf/samples_per_s": n / elapsed,
        }

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
