"""task=report: runs read from local files and from W&B offline logs, seeds aggregated with a t interval."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from biasgrpo.errors import ConfigError, ReportError
from biasgrpo.logging import RunLogger
from biasgrpo.report import MISSING_CELL, mean_ci, read_wandb_offline
from biasgrpo.wandb_log import has_exit_record, wait_for_exit_record, wandb_records
from run import dispatch
from tests.conftest import TINY, compose_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]
JOBS = {"grpo-s0": ["seed=0"], "grpo-s1": ["seed=1"], "ppo-s0": ["algorithm=ppo", "seed=0"]}


@pytest.fixture(scope="module", autouse=True)
def wandb_offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DIR", str(tmp_path_factory.mktemp("wandb")))
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three finished tiny runs, each with summary.json, metrics.jsonl and a W&B offline run."""
    root = tmp_path_factory.mktemp("runs")
    for name, overrides in JOBS.items():
        cfg = compose_config([*TINY, "logger=wandb", "reward=token_fraction", "train.max_steps=2", *overrides])
        dispatch(cfg, root / name)
    return root


def make_report(runs: str, out: Path, *overrides: str) -> dict:
    dispatch(compose_config(["task=report", f"report.runs={runs}", *overrides]), out)
    return json.loads((out / "report.json").read_text())


def by_row(report: dict) -> dict[str, dict]:
    return {r["row"]: r for r in report["rows"]}


def test_mean_ci_is_student_t_half_width() -> None:
    mean, half = mean_ci([1.0, 2.0, 3.0], 0.95)
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(4.303 * 0.5774, abs=1e-3)  # t_{0.975, 2} * s / sqrt(3), s = 1
    assert mean_ci([1.0, 2.0, 3.0], 0.90)[1] == pytest.approx(2.920 * 0.5774, abs=1e-3)
    assert mean_ci([0.3], 0.95) == (0.3, None)


def test_report_of_seeds_writes_table_with_interval_and_plots(runs: Path, tmp_path: Path) -> None:
    # From the command line, as a user runs it.
    args = [sys.executable, "run.py", "task=report", f"report.runs={runs}", f"hydra.run.dir={tmp_path}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    rows = by_row(report)
    assert set(rows) == {"base", "grpo", "ppo"}
    assert rows["grpo"]["n"] == 2 and sorted(rows["grpo"]["seeds"]) == [0, 1]
    rewards = [json.loads((runs / f"grpo-s{s}" / "summary.json").read_text())["reward/mean"] for s in (0, 1)]
    reward = rows["grpo"]["cells"]["reward/mean"]
    assert reward["mean"] == pytest.approx(sum(rewards) / 2)
    assert reward["half_width"] == pytest.approx(mean_ci(rewards)[1])
    assert rows["grpo"]["cells"]["eval/bold/toxicity_mean"] is None  # no BOLD in these runs

    md = (tmp_path / "report.md").read_text()
    grpo_line = next(line for line in md.splitlines() if line.startswith("| grpo |"))
    assert f"{reward['mean']:.4f} ± {reward['half_width']:.4f}" in grpo_line
    assert grpo_line.split("|")[4].strip() == MISSING_CELL  # the BOLD column
    assert "(n=1)" in next(line for line in md.splitlines() if line.startswith("| ppo |"))
    assert "| GRPO | 0.0140 | 0.0198 | 0.3123 | 0.3941 |" in md and "only the direction" in md
    assert report["plots"] == ["reward_curves.png", "reward_std.png", "kl_ref.png", "benchmarks.png"]
    for name in report["plots"]:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
        assert f"]({name})" in md

    # The report is its own W&B run, and a later report over the same folder does not read it.
    (log,) = (tmp_path / "wandb").glob("offline-run-*/*.wandb")
    (run_record,) = [r.run for r in wandb_records(log) if r.WhichOneof("record_type") == "run"]
    assert run_record.job_type == "report"
    shutil.copytree(tmp_path, runs.parent / "with_report" / "report")
    for name in JOBS:
        shutil.copytree(runs / name, runs.parent / "with_report" / name)
    again = make_report(str(runs.parent / "with_report"), tmp_path / "again", "logger=none")
    assert len(again["runs"]) == len(report["runs"]) == 3


def test_wandb_offline_runs_alone_give_the_same_figures(runs: Path, tmp_path: Path) -> None:
    for name in JOBS:  # the W&B offline run directories only: no summary.json, metrics.jsonl or .hydra
        (offline,) = (runs / name / "wandb").glob("offline-run-*")
        shutil.copytree(offline, tmp_path / "wandb_only" / name / offline.name)
    from_files = make_report(str(runs), tmp_path / "files", "logger=none")
    from_wandb = make_report(str(tmp_path / "wandb_only"), tmp_path / "wandb", "logger=none")
    assert {r["source"] for r in from_wandb["runs"]} == {"W&B offline"}
    assert {r["source"] for r in from_files["runs"]} == {"files"}
    assert from_wandb["rows"] == from_files["rows"]
    assert (tmp_path / "wandb" / "reward_curves.png").read_bytes().startswith(PNG_MAGIC)


def wandb_logger(run_dir: Path) -> RunLogger:
    cfg = compose_config([*TINY, "logger=wandb", "algorithm.name=x"])
    return RunLogger(cfg, OmegaConf.to_object(cfg).logger, run_dir, resume_step=0)


def test_wandb_log_read_straight_after_finish_is_whole(tmp_path: Path) -> None:
    logger = wandb_logger(tmp_path)
    for step in range(400):  # > 32 KiB: records cross the log's block boundaries
        logger.log({"reward/mean": step / 7, "note": "padding " * 8}, step=step)
    logger.finish()  # returns once the log holds the exit record W&B's service writes after finish()
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    assert next(offline.glob("*.wandb")).stat().st_size > 2 * 32768
    read, finished = read_wandb_offline([offline])
    assert finished and read.config["algorithm"]["name"] == "x"
    assert [r["step"] for r in read.history] == list(range(400))
    assert all(r["reward/mean"] == pytest.approx(r["step"] / 7) for r in read.history)


def test_wandb_log_without_exit_record_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logger = wandb_logger(tmp_path)
    run = logger._wandb
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    log = next(offline.glob("*.wandb"))
    assert not has_exit_record(log)
    logger._wandb = SimpleNamespace(settings=run.settings, finish=lambda: None)  # a finish that never lands
    logger.finish(close_timeout_s=0.3)
    assert "still has no exit record" in capsys.readouterr().out
    run.finish()
    assert wait_for_exit_record(log, timeout_s=60)
    assert read_wandb_offline([offline])[1]


def test_numeric_row_key_gets_a_plot_against_it(runs: Path, tmp_path: Path) -> None:
    report = make_report(f"[{runs / 'grpo-s0'},{runs / 'grpo-s1'}]", tmp_path, "logger=none", "report.row_key=seed")
    assert [r["row"] for r in report["rows"]] == ["base", "0", "1"]
    assert "ablation.png" in report["plots"]
    assert (tmp_path / "ablation.png").read_bytes().startswith(PNG_MAGIC)


def test_no_runs_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ReportError, match=re.escape(f"no finished runs under '{tmp_path / 'empty'}'")):
        make_report(str(tmp_path / "empty"), tmp_path / "out", "logger=none")


def test_row_key_no_run_has_is_an_error(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=re.escape("report.row_key=algorithm.no_such_key")):
        make_report(str(runs), tmp_path, "logger=none", "report.row_key=algorithm.no_such_key")


def test_wandb_project_offline_says_to_pass_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"needs W&B online \(logger.mode=online.*pass a local folder"):
        make_report("someone/biasgrpo", tmp_path, "logger=none")


def test_report_config_is_validated() -> None:
    from biasgrpo.config import validate

    with pytest.raises(ConfigError, match=r"report.runs=\[\] is invalid"):
        validate(compose_config(["task=report"]))
    with pytest.raises(ConfigError, match=re.escape("report.ci=1.5")):
        validate(compose_config(["task=report", "report.runs=outputs", "report.ci=1.5"]))
    assert validate(compose_config(["task=report", "report.runs=outputs"])).report.runs == ["outputs"]


def test_portable_writes_machine_folders_as_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from biasgrpo.report import portable

    monkeypatch.setenv("BIASGRPO_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    text = f"data: local:{data}/bbq; scorer: local_rm:{tmp_path}/cache/scorer; run {tmp_path}/outputs/x"
    assert portable(text, str(data)) == (
        "data: local:$BIASGRPO_DATA_DIR/bbq; scorer: local_rm:$BIASGRPO_CACHE/scorer; run outputs/x"
    )
