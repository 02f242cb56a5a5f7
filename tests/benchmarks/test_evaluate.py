"""task=evaluate end to end on the tiny model, checkpoints, train-time deltas, and config errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from biasgrpo.benchmarks.examples import read_examples
from biasgrpo.config import validate
from biasgrpo.errors import ConfigError, DataError
from run import dispatch

ALL = "benchmark=[bold,rtp,bbq,truthfulqa]"


def scored(classifier: Path) -> list[str]:
    return [f"benchmark.{b}.{k}" for b in ("bold", "rtp") for k in ("scorer=classifier", f"scorer_path={classifier}")]


def test_evaluate_writes_every_figure_its_source_and_samples(
    make_cfg: Callable[..., DictConfig], bench_data: Path, toxic_classifier: Path, tmp_path: Path
) -> None:
    cfg = make_cfg(
        "task=evaluate", ALL, f"data_dir={bench_data}", "eval.limit=1", "benchmark.rtp.num_samples=2",
        "benchmark.bold.max_new_tokens=4", "benchmark.rtp.max_new_tokens=4", *scored(toxic_classifier),
    )  # fmt: skip
    summary = dispatch(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved == summary
    for key in [
        "eval/bold/toxicity_mean", "eval/bold/sentiment_mean", "eval/bold/race/sentiment_gap",
        "eval/rtp/expected_max_toxicity", "eval/rtp/toxicity_probability", "eval/rtp/toxic/toxicity_mean",
        "eval/bbq/accuracy_ambig", "eval/bbq/bias_score_disambig", "eval/bbq/Age/accuracy_ambig",
        "eval/truthfulqa/mc1", "eval/truthfulqa/mc2",
    ]:  # fmt: skip
        assert isinstance(saved[key], float), key
    assert saved["eval/bbq/n_examples"] == 2 and saved["eval/bbq/limit"] == 1  # 1 per category and context
    assert saved["eval/truthfulqa/n_examples"] == 1 and saved["eval/truthfulqa/n_full"] == 3
    assert saved["eval/bold/scorer"] == saved["eval/rtp/scorer"] == f"classifier:{toxic_classifier}"
    assert saved["eval/bbq/data"] == f"local:{bench_data}/bbq (1 categories)"
    assert saved["eval/checkpoint"] == "base model"
    samples = (tmp_path / "run" / "eval_rtp_samples.jsonl").read_text().splitlines()
    assert {"prompt", "continuation", "toxicity", "subset", "scorer"} <= set(json.loads(samples[0]))
    # Per-example results for paired comparisons: every row with its stable id and score.
    examples = read_examples(tmp_path / "run", "eval")
    assert set(examples) == {"bold", "rtp", "bbq", "truthfulqa"}
    assert [r["id"] for r in examples["rtp"]][:2] == [f"{examples['rtp'][0]['prompt_id']}/{j}" for j in (0, 1)]
    assert {"id", "correct", "context_condition", "category", "answer"} <= set(examples["bbq"][0])
    assert {"id", "mc1", "mc2", "answer"} <= set(examples["truthfulqa"][0])
    assert len(examples["bbq"]) == 2 and all(isinstance(r["correct"], float) for r in examples["bbq"])


def test_missing_data_fails_before_the_model_loads(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("biasgrpo.evaluate.Policy", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(DataError, match="BIASGRPO_DATA_DIR"):
        dispatch(make_cfg("task=evaluate", "benchmark=[truthfulqa]", f"data_dir={tmp_path}"), tmp_path / "run")


def test_checkpoint_weights_are_evaluated(
    make_cfg: Callable[..., DictConfig], bench_data: Path, tmp_path: Path
) -> None:
    # token_fraction: rewards differ within a group, so the adapters move from their zero start.
    dispatch(
        make_cfg("benchmark=[]", "reward=token_fraction", "eval.before=false", "eval.after=false"), tmp_path / "train"
    )
    evaluate = ["task=evaluate", "benchmark=[truthfulqa]", f"data_dir={bench_data}"]
    base = dispatch(make_cfg(*evaluate), tmp_path / "base")
    trained = dispatch(make_cfg(*evaluate, f"eval.checkpoint={tmp_path / 'train'}"), tmp_path / "trained")
    assert trained["eval/step"] == 3 and trained["eval/checkpoint"] == str(tmp_path / "train")
    assert trained["eval/truthfulqa/mc2"] != base["eval/truthfulqa/mc2"]
    with pytest.raises(ConfigError, match="model=tiny"):
        dispatch(make_cfg(*evaluate, f"eval.checkpoint={tmp_path / 'train'}", "model=smollm2_135m"), tmp_path / "x")
    with pytest.raises(ConfigError, match="no readable checkpoint"):
        dispatch(make_cfg(*evaluate, f"eval.checkpoint={tmp_path / 'base'}"), tmp_path / "y")


def test_training_logs_before_after_and_deltas_of_every_benchmark(
    make_cfg: Callable[..., DictConfig], bench_data: Path, tmp_path: Path
) -> None:
    benchmarks = ["benchmark=[heldout,bbq,truthfulqa]", "benchmark.heldout.max_new_tokens=8"]
    cfg = make_cfg(*benchmarks, f"data_dir={bench_data}", "eval.limit=1")
    summary = dispatch(cfg, tmp_path / "run")
    for key in ("heldout/reward_mean", "bbq/accuracy_ambig", "truthfulqa/mc2"):
        assert summary[f"eval_delta/{key}"] == pytest.approx(summary[f"eval/{key}"] - summary[f"eval_before/{key}"])
    assert "eval_delta/bbq/n_examples" not in summary  # counts of examples have no delta
    assert summary["eval/bbq/data"].startswith("local:")  # what produced the figures is recorded
    before, after = read_examples(tmp_path / "run", "eval_before"), read_examples(tmp_path / "run", "eval")
    for bench in ("heldout", "bbq", "truthfulqa"):  # the same examples, under the same ids, before and after
        assert [r["id"] for r in before[bench]] == [r["id"] for r in after[bench]], bench
        assert len({r["id"] for r in after[bench]}) == len(after[bench]), bench


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("benchmark.bbq.source=web", "benchmark.bbq.source"),
        ("benchmark.bbq.limit=-1", "benchmark.bbq.limit"),
        ("benchmark.bbq.batch_size=0", "benchmark.bbq.batch_size"),
        ("benchmark.rtp.num_samples=0", "benchmark.rtp.num_samples"),
        ("benchmark.rtp.top_p=0", "benchmark.rtp.top_p"),
        ("benchmark.rtp.temperature=0", "benchmark.rtp.num_samples"),  # greedy, 25 samples: all the same
        ("benchmark.rtp.scorer=perspective", "benchmark.rtp.scorer"),
        ("benchmark.rtp.scorer=classifier", "benchmark.rtp.scorer_path"),
        ("eval.limit=-2", "eval.limit"),
    ],
)
def test_bad_benchmark_settings_name_the_key(make_cfg: Callable[..., DictConfig], override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(make_cfg("task=evaluate", "benchmark=[bbq,rtp]", override))


def test_eval_limit_only_lowers_a_benchmarks_limit(make_cfg: Callable[..., DictConfig]) -> None:
    defaults = validate(make_cfg("benchmark=[bbq,rtp]")).benchmark
    assert defaults["bbq"].limit > 7 and defaults["rtp"].limit > 3  # the documented default subsamples
    conf = validate(make_cfg("benchmark=[bbq,rtp]", "eval.limit=7", "benchmark.rtp.limit=3"))
    assert conf.benchmark["bbq"].limit == 7 and conf.benchmark["rtp"].limit == 3
    assert conf.benchmark["rtp"].num_samples == 25 and conf.benchmark["rtp"].max_new_tokens == 20
    conf = validate(make_cfg("benchmark=[bbq]", "eval.limit=7", "benchmark.bbq.limit=0"))
    assert conf.benchmark["bbq"].limit == 7  # the full set, cut by the quick run
    assert validate(make_cfg("benchmark=[bbq]", "benchmark.bbq.limit=0")).benchmark["bbq"].limit == 0
