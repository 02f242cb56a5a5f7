"""End to end on the tiny random model: files written, resume is exact, GRPO learns."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo import checkpoint
from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.grpo import GRPO, GRPOConfig
from biasgrpo.config import validate
from biasgrpo.errors import ConfigError
from biasgrpo.machine import native_bf16
from biasgrpo.trainer import Trainer, TrainingError, micro_batch_size, stability_figures
from biasgrpo.types import Batch, Rollout
from run import dispatch


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def reward_rise(cfg: DictConfig, run_dir: Path) -> tuple[float, float]:
    """Train, then the mean reward of the first 5 and of the last 5 steps."""
    dispatch(cfg, run_dir)
    rewards = [r["reward/mean"] for r in metrics(run_dir) if "reward/mean" in r]
    return sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5


SHARED_KEYS = ["policy/loss", "policy/grad_norm", "train/lr", "perf/tokens_per_s", "perf/samples_per_s"]
ONLINE_KEYS = [
    "reward/mean",
    "reward/std",
    "adv/mean",
    "adv/std",
    "policy/kl_ref",
    "policy/clip_frac",
    "policy/entropy",
]
ONLINE_KEYS += ["completions/mean_length", "completions/clipped_ratio"]
ALGORITHM_KEYS = {
    "grpo": ["reward/group_std_mean", "reward/frac_zero_std"],
    "ppo": ["value/loss", "value/explained_var", "value/mean", "value/return_mean", "value/clip_frac"],
    "dpo": ["dpo/loss", "dpo/rewards_chosen", "dpo/rewards_rejected", "dpo/margin", "dpo/accuracy"],
}


@pytest.mark.parametrize("algorithm", ["grpo", "ppo", "dpo"])
def test_train_writes_metrics_summary_and_checkpoint(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, pairs_file: Path, algorithm: str
) -> None:
    extra = ["dataset=paradetox_pairs", f"dataset.path={pairs_file}"] if algorithm == "dpo" else []
    summary = dispatch(make_cfg(f"algorithm={algorithm}", *extra), tmp_path / "run")
    tmp_path = tmp_path / "run"
    rows = metrics(tmp_path)
    steps = [r for r in rows if "policy/loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    online = ONLINE_KEYS if algorithm != "dpo" else []
    for key in SHARED_KEYS + online + ALGORITHM_KEYS[algorithm]:
        assert key in steps[-1], key
        assert math.isfinite(steps[-1][key]), key
    assert any("eval_before/heldout/reward_mean" in r for r in rows)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["train/steps"] == 3 == summary["train/steps"]
    assert "eval/heldout/reward_mean" in saved and "eval_delta/heldout/reward_mean" in saved
    sampled = "bfloat16" if native_bf16() else "float32"  # sampler.dtype=auto on a CPU
    assert saved.get("sampler/dtype") == (None if algorithm == "dpo" else sampled)
    assert [p.name for p in checkpoint.checkpoint_paths(tmp_path)] == ["step_0000002.pt", "step_0000003.pt"]
    assert (tmp_path / "samples.jsonl").exists() == (algorithm != "dpo")


def test_training_changes_every_trainable_parameter(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg(
        "reward=token_fraction",
        "sampler.max_new_tokens=32",
        "train.batch_size=4",
        "train.max_steps=4",
        "eval.before=false",
        "eval.after=false",
    )
    from biasgrpo.config import validate

    trainer = Trainer(validate(cfg), cfg, tmp_path)
    before = {k: v.clone() for k, v in trainer.policy.trainable_state_dict().items()}
    trainer.train()
    after = trainer.policy.trainable_state_dict()
    assert before.keys() == after.keys() and len(before) > 0
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"parameters that did not change: {unchanged}"


@pytest.mark.parametrize(
    "extra",
    [
        [],  # sampler.dtype=auto: bf16 sampling on a CPU with avx512_bf16 or AMX, fp32 elsewhere
        ["model.lora.enabled=false", "sampler.dtype=bfloat16"],
        ["algorithm.update_epochs=2", "train.minibatch_size=4", "sampler.dtype=float32"],
    ],
)
def test_resume_after_crash_matches_uninterrupted(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    cfg = make_cfg("train.max_steps=4", "train.save_every=2", "train.lr_schedule=linear", *extra)
    full_dir, crash_dir = tmp_path / "full", tmp_path / "crash"
    dispatch(cfg, full_dir)

    real_step = Trainer.step

    def crashing_step(self: Trainer, step: int) -> dict:
        if step == 3:  # after the checkpoint at step 2 and one more step that will be lost
            raise KeyboardInterrupt("simulated kill")
        return real_step(self, step)

    monkeypatch.setattr(Trainer, "step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        dispatch(cfg, crash_dir)
    monkeypatch.setattr(Trainer, "step", real_step)
    dispatch(cfg, crash_dir)  # the run dir holds a checkpoint: resumes from step 2

    full, resumed = metrics(full_dir), metrics(crash_dir)
    rewards = [(r["step"], r["reward/mean"]) for r in full if "reward/mean" in r]
    assert rewards == [(r["step"], r["reward/mean"]) for r in resumed if "reward/mean" in r]
    a = checkpoint.load(checkpoint.checkpoint_paths(full_dir)[-1])["weights"]
    b = checkpoint.load(checkpoint.checkpoint_paths(crash_dir)[-1])["weights"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_corrupt_checkpoint_falls_back_to_previous(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    dispatch(make_cfg("train.max_steps=2", "train.save_every=1"), tmp_path)
    newest = checkpoint.checkpoint_paths(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a crash mid-copy
    state = checkpoint.load_latest(tmp_path)
    assert state is not None and state["step"] == 1


def test_resume_from_empty_dir_is_a_clear_error(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no readable checkpoint"):
        dispatch(make_cfg(f"resume={tmp_path}"), tmp_path)


def test_nan_reward_steps_are_skipped_then_stop(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from biasgrpo.rewards.lexicon import LexiconReward

    monkeypatch.setattr(LexiconReward, "score", lambda self, p, c: torch.full((len(c),), float("nan")))
    cfg = make_cfg("train.max_consecutive_skips=2", "eval.before=false")
    with pytest.raises(TrainingError, match="non-finite reward"):
        dispatch(cfg, tmp_path)
    assert metrics(tmp_path)[-1]["train/skipped_steps"] == 1


@pytest.mark.parametrize("lora", ["true", "false"])
def test_grpo_learns_an_easy_reward(make_cfg: Callable[..., DictConfig], tmp_path: Path, lora: str) -> None:
    """Reward = share of the letter 'a'; the tiny random model must learn to say more of it.

    At random init 'a' is about 1 in 100 characters (reward ~0.01); measured after 40
    steps: ~0.34 with LoRA, ~0.5 with full fine-tuning.
    """
    cfg = make_cfg(
        "reward=token_fraction",
        f"model.lora.enabled={lora}",
        "algorithm.num_generations=8",
        "algorithm.kl_coef=0",
        "sampler.max_new_tokens=16",
        "train.max_steps=40",
        "train.batch_size=4",
        "train.lr=1e-2",
        "train.lr_schedule=constant",
        "train.save_every=0",
        "eval.before=false",
        "eval.after=false",
    )
    first, last = reward_rise(cfg, tmp_path)
    assert last > first + 0.15, f"reward went from {first:.3f} to {last:.3f}"


def test_ppo_learns_an_easy_reward(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    """PPO with its critic on the same easy reward (measured: ~0.01 -> ~0.3 in 40 steps)."""
    cfg = make_cfg(
        "algorithm=ppo",
        "algorithm.kl_coef=0",
        "reward=token_fraction",
        "sampler.max_new_tokens=16",
        "train.max_steps=40",
        "train.batch_size=16",
        "train.lr_schedule=constant",
        "train.save_every=0",
        "eval.before=false",
        "eval.after=false",
    )
    first, last = reward_rise(cfg, tmp_path)
    assert last > first + 0.1, f"reward went from {first:.3f} to {last:.3f}"


def test_dpo_preference_accuracy_rises(make_cfg: Callable[..., DictConfig], tmp_path: Path, pairs_file: Path) -> None:
    """At step 1 policy = reference, so no pair is preferred yet (accuracy 0 by the strict >)."""
    cfg = make_cfg(
        "algorithm=dpo",
        "dataset=paradetox_pairs",
        f"dataset.path={pairs_file}",
        "dataset.eval_prompts=2",
        "train.max_steps=20",
        "train.batch_size=4",
        "train.lr=3e-3",
        "train.save_every=0",
        "eval.before=false",
        "eval.after=false",
    )
    dispatch(cfg, tmp_path)
    rows = [r for r in metrics(tmp_path) if "dpo/accuracy" in r]
    assert rows[0]["dpo/accuracy"] == 0.0
    late = [r["dpo/accuracy"] for r in rows[-5:]]
    assert sum(late) / len(late) > 0.8, late
    assert rows[-1]["dpo/margin"] > rows[0]["dpo/margin"]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_step_loss_and_kl_equal_a_reference_computation(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, temperature: float
) -> None:
    """One step's logged loss and KL, recomputed on the same batch the way TRL's GRPOTrainer does
    it: a plain forward over the whole sequences (no shared prompt), log_softmax of the logits
    divided by the sampling temperature, advantages (r - mean) / (std + 1e-4) per group, ratio
    exp(logp - logp.detach()) = 1 at μ = 1, k3 KL to the adapter-free model, sequence mean then
    batch mean. The rollout is sampled from the bf16 copy of the weights, the log-probs recomputed
    in fp32: the loss is the fp32 policy's, whatever the sampler's precision."""
    beta, G = 0.1, 4
    cfg = make_cfg(
        "reward=token_fraction",
        f"algorithm.kl_coef={beta}",
        f"algorithm.num_generations={G}",
        f"sampler.temperature={temperature}",
        "sampler.dtype=bfloat16",
    )
    trainer = Trainer(validate(cfg), cfg, tmp_path)
    with torch.no_grad():  # adapters away from zero, so the policy and the reference differ
        for name, p in trainer.policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    weights = {k: v.clone() for k, v in trainer.policy.model.state_dict().items()}
    rollouts, real_sampler = [], trainer.sampler

    def recording_sampler(*args: Any, **kwargs: Any) -> Rollout:
        rollouts.append(real_sampler(*args, **kwargs))
        return rollouts[-1]

    monkeypatch.setattr(trainer, "sampler", recording_sampler)
    stats = trainer.step(0)

    assert real_sampler.dtype == torch.bfloat16
    ro, model = rollouts[0], trainer.policy.model
    model.load_state_dict(weights)  # the weights the step saw
    T, mask = ro.response_len, ro.response_mask.float()

    def token_logprobs(m: torch.nn.Module, tau: float = temperature) -> torch.Tensor:
        positions = (ro.attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits = m(input_ids=ro.input_ids, attention_mask=ro.attention_mask, position_ids=positions).logits
        logp = torch.log_softmax(logits[:, -T - 1 : -1].float() / tau, dim=-1)
        return logp.gather(-1, ro.input_ids[:, -T:].unsqueeze(-1)).squeeze(-1)

    with torch.no_grad():
        current = token_logprobs(model)
        with model.disable_adapter():
            reference = token_logprobs(model)
            reference_at_1 = token_logprobs(model, 1.0)
        current_at_1 = token_logprobs(model, 1.0)
    rewards = torch.as_tensor(trainer.reward.score(ro.prompts, ro.completions), dtype=torch.float32).view(-1, G)
    advantages = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).flatten()
    kl = torch.exp(reference - current) - (reference - current) - 1
    per_token = -advantages.unsqueeze(1) + beta * kl
    loss = ((per_token * mask).sum(1) / mask.sum(1)).mean()

    assert float(kl.abs().max()) > 1e-3  # the KL term is really exercised
    assert float(stats["policy/loss"]) == pytest.approx(float(loss), abs=1e-5)
    assert float(stats["policy/kl_ref"]) == pytest.approx(float((kl * mask).sum() / mask.sum()), abs=1e-6)
    if temperature != 1.0:  # the temperature really changes what is computed
        kl_at_1 = torch.exp(reference_at_1 - current_at_1) - (reference_at_1 - current_at_1) - 1
        assert abs(float(((kl_at_1 - kl) * mask).sum() / mask.sum())) > 1e-4


def test_importance_ratio_starts_at_one_when_sampling_in_bf16(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """μ = 2: the old log-probs of the ratio π/π_old come from the training's own fp32 pass over the
    sampled tokens, not from the bf16 sampler, so before the first update the ratio is exactly 1
    (no clipping, zero KL to the old policy). Old log-probs taken from the bf16 sampler would
    differ from the fp32 ones by about 0.02 per token (tests/test_sampler.py)."""
    cfg = make_cfg(
        "algorithm.update_epochs=2", "sampler.dtype=bfloat16", "algorithm.num_generations=4", "reward=token_fraction"
    )
    trainer = Trainer(validate(cfg), cfg, tmp_path)
    assert trainer.sampler.dtype == torch.bfloat16 and trainer.old_pass
    first: list[dict] = []
    real_loss = trainer.algo.loss

    def recording_loss(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, dict]:
        loss, stats = real_loss(*args, **kwargs)
        first.append(stats)
        return loss, stats

    monkeypatch.setattr(trainer.algo, "loss", recording_loss)
    trainer.step(0)
    assert float(first[0]["policy/approx_kl_old"]) == 0.0
    assert float(first[0]["policy/clip_frac"]) == 0.0
    assert float(first[-1]["policy/approx_kl_old"]) > 0.0  # after an update the ratio moves


def test_stability_figures_by_hand() -> None:
    # step stds 0.1, 0.3 -> mean 0.2; step means 1, 2, 3 -> sample std 1 (a DPO row has neither).
    rows = [
        {"reward/std": 0.1, "reward/mean": 1.0},
        {"reward/std": 0.3, "reward/mean": 2.0},
        {"reward/mean": 3.0},
        {"dpo/loss": 0.5},
    ]
    figures = stability_figures(rows)
    assert figures["stability/step_reward_std_mean"] == pytest.approx(0.2)
    assert figures["stability/step_mean_reward_std"] == pytest.approx(1.0)
    assert stability_figures([{"dpo/loss": 0.5}]) == {}


@pytest.mark.parametrize(("loss_type", "expected"), [("grpo", 6.0), ("bnpo", 4.0)])
def test_micro_batch_weights_by_hand(loss_type: str, expected: float) -> None:
    """Two sequences with 3 and 1 response tokens, per-token losses [1, 2, 3] and [10]. grpo (sequence
    means 2 and 10, then their mean): 6, the micro-batches (one sequence each) weighted 1/2, 1/2.
    bnpo (token mean): 16 / 4 = 4, the micro-batches' means 2 and 10 weighted by tokens, 3/4 and 1/4."""
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    per_token = torch.tensor([[1.0, 2.0, 3.0, 99.0], [10.0, 99.0, 99.0, 99.0]])  # 99: padding, never read
    ids = torch.zeros(2, 6, dtype=torch.long)
    batch = Batch(ids, torch.ones_like(ids), mask, torch.zeros(2, dtype=torch.bool), None, None, None, None)
    algo = GRPO(GRPOConfig(loss_type=loss_type))
    micro = [batch.select(torch.tensor([i])) for i in range(2)]
    sizes = torch.stack([algo.loss_weight(m) for m in micro])
    weights = sizes / sizes.sum()
    parts = [F.aggregate(per_token[i : i + 1], m.response_mask, loss_type) for i, m in enumerate(micro)]
    assert float(F.aggregate(per_token, mask, loss_type)) == pytest.approx(expected)
    assert float(sum(w * p for w, p in zip(weights, parts))) == pytest.approx(expected)


GROUPS_OF_4 = ["algorithm.num_generations=4", "train.batch_size=8"]  # 32 sequences a step


@pytest.mark.parametrize(
    "extra",
    [
        ["algorithm.loss_type=grpo", *GROUPS_OF_4],
        ["algorithm.loss_type=bnpo", "algorithm.mask_truncated_completions=true", *GROUPS_OF_4],
        ["algorithm=ppo", *GROUPS_OF_4],
        ["algorithm=dpo", "train.batch_size=16"],  # 16 pairs
    ],
    ids=["grpo", "bnpo", "ppo", "dpo"],
)
def test_accumulated_micro_batches_give_the_update_of_their_minibatch(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, pairs_file: Path, extra: list[str]
) -> None:
    """train.grad_accum_steps=4: four micro-batches of 8 sequences, one after another, give the gradient,
    loss and grad norm of one minibatch of 32 (the same step's samples: same seed). Completions of 16
    tokens end at different lengths, so weighting token-mean losses by sequences would fail here."""
    if "algorithm=dpo" in extra:
        extra = [*extra, "dataset=paradetox_pairs", f"dataset.path={pairs_file}"]

    def first_update(accum: int) -> tuple[list[torch.Tensor], dict[str, Any]]:
        settings = ["reward=token_fraction", "sampler.max_new_tokens=16", "eval.before=false", "eval.after=false"]
        # Samples that do not depend on the CPU (sampler.dtype=auto is bf16 on some): on another set
        # of tokens, bf16's, one PPO gradient element of 1,024 differed by 1.3e-7 between the two
        # summation orders, just past the tolerance below.
        settings.append("sampler.dtype=float32")
        cfg = make_cfg(*settings, f"train.grad_accum_steps={accum}", *extra)
        trainer = Trainer(validate(cfg), cfg, tmp_path / f"accum{accum}")
        assert trainer.micro_batch_size == 32 // accum
        grads: list[torch.Tensor] = []
        real_step = trainer.optimizer.step

        def recording_step(*args: Any, **kwargs: Any) -> Any:
            params = [p for g in trainer.optimizer.param_groups for p in g["params"] if p.grad is not None]
            grads.extend(p.grad.clone() for p in params)
            return real_step(*args, **kwargs)

        trainer.optimizer.step = recording_step  # type: ignore[method-assign]
        return grads, trainer.step(0)

    (whole, whole_stats), (micro, micro_stats) = first_update(1), first_update(4)
    assert len(whole) == len(micro) > 0
    assert max(float(g.abs().max()) for g in whole) > 1e-4  # a real gradient
    for a, b in zip(whole, micro):
        # float32 sums in another order: with PPO's 4 epochs the later updates start from weights that
        # already differ by such rounding (an element near zero differed by 1.8e-7 with critic_lr=3e-4)
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    for key in ("policy/loss", "policy/grad_norm"):
        assert float(micro_stats[key]) == pytest.approx(float(whole_stats[key]), rel=1e-5, abs=1e-7), key


def test_grad_accum_steps_must_split_the_minibatch_evenly() -> None:
    assert micro_batch_size(32, 4, 4, online=True) == 8
    assert micro_batch_size(8, 4, 2, online=False) == 2
    with pytest.raises(ConfigError, match=r"train\.grad_accum_steps=3 .*allowed: a divisor of 32"):
        micro_batch_size(32, 3, 4, online=True)
    with pytest.raises(ConfigError, match=r"train\.grad_accum_steps=8 .*multiples of 2 \(a pair stays together\)"):
        micro_batch_size(8, 8, 2, online=False)
