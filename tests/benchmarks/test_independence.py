"""The evaluator must not be the reward: shared model folders or training sources refuse to start."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from biasgrpo.benchmarks.independence import check_scorer_independence
from biasgrpo.config import validate
from biasgrpo.errors import ConfigError
from biasgrpo.rewards.classifier import META_FILE
from run import dispatch
from tests.benchmarks.conftest import save_tiny_local_rm

RM_SOURCES = ["paradetox", "toxigen", "davidson"]


def trained_on(folder: Path, sources: list[str]) -> Path:
    """A tiny local reward model whose metadata says it was trained on ``sources``."""
    save_tiny_local_rm(folder)
    meta = json.loads((folder / META_FILE).read_text())
    meta["training"] = {"sources": sources}
    (folder / META_FILE).write_text(json.dumps(meta))
    return folder


def conf_for(make_cfg: Callable[..., DictConfig], reward: Path | None, scorer: Path, *extra: str):
    reward_args = ["reward=local_rm", f"reward.path={reward}"] if reward else []
    return validate(make_cfg(*reward_args, "benchmark=[bold,rtp]", f"benchmark.bold.scorer_path={scorer}",
                             f"benchmark.rtp.scorer_path={scorer}", *extra))  # fmt: skip


def test_reward_that_is_the_scorer_is_refused(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    with pytest.raises(
        ConfigError, match=r"(?s)benchmark\.bold scores with .*shares model folder .*eval\.allow_shared_scorer"
    ):
        check_scorer_independence(conf_for(make_cfg, rm, rm))


def test_scorer_trained_on_a_reward_source_is_refused(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    scorer = trained_on(tmp_path / "scorer", ["davidson", "paradetox_cannot_rewrite"])
    with pytest.raises(ConfigError, match=r"shares training source davidson") as err:
        check_scorer_independence(conf_for(make_cfg, rm, scorer))
    assert "model folder" not in str(err.value) and "benchmark.rtp" in str(err.value)


def test_disjoint_scorer_passes_and_both_sides_are_recorded(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    scorer = trained_on(tmp_path / "scorer", ["paradetox_cannot_rewrite"])
    figures = check_scorer_independence(conf_for(make_cfg, rm, scorer))
    assert figures["independence/reward_models"] == f"{rm} (paradetox, toxigen, davidson)"
    assert figures["independence/bold/scorer"] == f"{scorer} (paradetox_cannot_rewrite)"
    assert figures["independence/bold/shared"] == "" and figures["independence/rtp/shared"] == ""


def test_override_lets_a_shared_scorer_run_and_records_it(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    figures = check_scorer_independence(conf_for(make_cfg, rm, rm, "eval.allow_shared_scorer=true"))
    assert figures["independence/allow_shared_scorer"] is True
    assert figures["independence/bold/shared"].startswith(f"model folder {rm}; training source davidson")


def test_composite_parts_and_rule_based_rewards(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    scorer = trained_on(tmp_path / "scorer", ["toxigen"])
    # A lexicon reward has no model and no training data: nothing to share.
    assert check_scorer_independence(conf_for(make_cfg, None, scorer))["independence/bold/shared"] == ""
    composite = [
        "reward=composite", "reward.parts.bias.kind=local_rm", f"reward.parts.bias.path={rm}",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="training source toxigen"):
        check_scorer_independence(conf_for(make_cfg, None, scorer, *composite))


def test_dpo_on_paradetox_pairs_shares_paradetox_with_a_paradetox_scorer(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, pairs_file: Path
) -> None:
    scorer = trained_on(tmp_path / "scorer", ["paradetox"])
    dpo = ["algorithm=dpo", "dataset=paradetox_pairs", f"dataset.path={pairs_file}"]
    with pytest.raises(ConfigError, match="policy pairs: paradetox"):
        check_scorer_independence(conf_for(make_cfg, None, scorer, *dpo))
    independent = trained_on(tmp_path / "independent", ["paradetox_cannot_rewrite"])
    assert check_scorer_independence(conf_for(make_cfg, None, independent, *dpo))["independence/bold/shared"] == ""


def test_training_run_with_a_shared_scorer_stops_before_the_model_loads(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, bench_data: Path
) -> None:
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    cfg = make_cfg("reward=local_rm", f"reward.path={rm}", "benchmark=[rtp]", f"benchmark.rtp.scorer_path={rm}",
                   f"data_dir={bench_data}", "reward.device=cpu")  # fmt: skip
    with pytest.raises(ConfigError, match=r"eval\.allow_shared_scorer=true"):
        dispatch(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
