"""task=report: runs read from local files and from W&B offline logs, seeds aggregated with a t interval."""

from __future__ import annotations

import json
import math
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

from biasgrpo import stats
from biasgrpo.benchmarks.examples import write_examples
from biasgrpo.errors import ConfigError, ReportError
from biasgrpo.logging import RunLogger, run_names
from biasgrpo.report import MISSING_CELL, cell, find_runs, format_cell, mean_ci, metric_range, read_wandb_offline
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
    # The same means; the intervals differ where the files hold per-example results (a bootstrap
    # over examples) that a W&B log alone does not.
    means = [
        [{k: c and (c["mean"], c["n"]) for k, c in r["cells"].items()} for r in rep["rows"]]
        for rep in (from_wandb, from_files)
    ]
    assert means[0] == means[1]
    assert from_files["rows"][0]["examples"] == 2 and from_wandb["rows"][0]["examples"] == 0
    assert (tmp_path / "wandb" / "reward_curves.png").read_bytes().startswith(PNG_MAGIC)


def wandb_logger(run_dir: Path) -> RunLogger:
    cfg = compose_config([*TINY, "logger=wandb", "algorithm.name=x"])
    conf = OmegaConf.to_object(cfg)
    return RunLogger(run_dir, conf.logger, 0, conf, run_names(conf))


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
    with pytest.raises(ConfigError, match=re.escape("report.alpha=0.0")):
        validate(compose_config(["task=report", "report.runs=outputs", "report.alpha=0"]))
    with pytest.raises(ConfigError, match=re.escape("report.resamples=10")):
        validate(compose_config(["task=report", "report.runs=outputs", "report.resamples=10"]))
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


# ------------------------------------------------------- paired statistics ---
def fake_run(
    root: Path, name: str, algorithm: str, ambig: list[int], base_ambig: list[int], extra: bool, seed: int = 0
) -> Path:
    """A finished training run with known per-example BBQ results (40 ambiguous, 4 disambiguated
    questions), written where a real run writes them; its rows are shuffled, and ``extra`` adds a
    question the base never saw: pairing must join on ids."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"task: train\nseed: {seed}\nalgorithm:\n  name: {algorithm}\n")

    def rows(correct: list[int]) -> list[dict]:
        amb = [{"id": f"Age/{i}", "context_condition": "ambig", "category": "Age", "correct": float(c)}
               for i, c in enumerate(correct)]  # fmt: skip
        dis = [
            {"id": f"Age/d{i}", "context_condition": "disambig", "category": "Age", "correct": 1.0} for i in range(4)
        ]
        return amb + dis

    trained = rows(ambig)[::-1] + ([{"id": "Age/new", "context_condition": "ambig", "correct": 1.0}] if extra else [])
    write_examples(run, "eval", "bbq", trained)
    write_examples(run, "eval_before", "bbq", rows(base_ambig))
    summary = {
        "reward/mean": 0.5,
        "eval/bbq/accuracy_ambig": sum(ambig) / len(ambig),
        "eval_before/bbq/accuracy_ambig": sum(base_ambig) / len(base_ambig),
        "eval/bbq/accuracy_disambig": 1.0,
        "eval_before/bbq/accuracy_disambig": 1.0,
        "eval/bbq/diag/refusal_share": 0.25,
        "eval_before/bbq/diag/refusal_share": 0.5,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run


BASE_AMBIG = [1] * 10 + [0] * 30  # base: right on questions 0-9
GRPO_AMBIG = [1] * 20 + [0] * 20  # right on 0-19: 10 discordant pairs, all in GRPO's favour
PPO_AMBIG = [1] * 9 + [0] + [1] * 2 + [0] * 28  # loses question 9, gains 10 and 11: b = 2, c = 1
ORDER = sorted(range(40), key=lambda i: f"Age/{i}")  # the order of the ids the report joins on


def test_report_pairs_examples_by_id_with_bootstrap_mcnemar_and_primary_endpoint(tmp_path: Path) -> None:
    fake_run(tmp_path / "runs", "grpo", "grpo", GRPO_AMBIG, BASE_AMBIG, extra=True)
    fake_run(tmp_path / "runs", "ppo", "ppo", PPO_AMBIG, BASE_AMBIG, extra=False)
    report = make_report(str(tmp_path / "runs"), tmp_path / "out", "logger=none", "report.resamples=2000")
    found = {(c["row"], c["against"], c["key"]): c for c in report["paired"]}
    assert set(found) == {
        (row, against, f"eval/bbq/accuracy_{cond}")
        for row, against in (("grpo", "base"), ("ppo", "base"), ("ppo", "grpo"))
        for cond in ("ambig", "disambig")
    }
    grpo = found[("grpo", "base", "eval/bbq/accuracy_ambig")]
    assert grpo["n_examples"] == 40  # the extra question is not the base's: left out
    assert grpo["difference"] == pytest.approx(0.25)
    assert (grpo["b"], grpo["c"]) == (10, 0)
    assert grpo["p"] == pytest.approx(2 / 2**10)  # McNemar: 2 · 0.5^10
    assert grpo["significant"]
    # The bootstrap of the same values in id order (Age/0, Age/1, Age/10, ...): the join kept the pairs.
    again = stats.paired_bootstrap([GRPO_AMBIG[i] for i in ORDER], [BASE_AMBIG[i] for i in ORDER], 0.95, 2000)
    assert (grpo["lo"], grpo["hi"]) == pytest.approx((again.lo, again.hi))
    assert 0.1 < grpo["lo"] < 0.25 < grpo["hi"] < 0.4
    ppo = found[("ppo", "base", "eval/bbq/accuracy_ambig")]
    assert (ppo["b"], ppo["c"], ppo["p"]) == (2, 1, 1.0) and not ppo["significant"]
    vs_grpo = found[("ppo", "grpo", "eval/bbq/accuracy_ambig")]
    assert vs_grpo["difference"] == pytest.approx(-0.225) and (vs_grpo["b"], vs_grpo["c"]) == (0, 9)
    same = found[("grpo", "base", "eval/bbq/accuracy_disambig")]
    assert same["difference"] == 0 and same["p"] == 1.0 and not same["significant"]

    md = (tmp_path / "out" / "report.md").read_text()
    top = md.split("Rows:")[0]
    assert "**Primary endpoint** (`report.primary=eval/bbq/accuracy_ambig`, against `base`)" in top
    assert (
        f"`grpo` − `base`: +0.2500, 95% paired bootstrap interval [{grpo['lo']:+.4f}, {grpo['hi']:+.4f}] over 40 "
        "shared examples and 1 and 1 evaluation(s); McNemar exact p = 0.001953 (b = 10, c = 0); "
        "significant at α = 0.05."
    ) in top
    assert "`ppo` − `base`: +0.0250" in top and "not significant" in top
    assert "| grpo − base | BBQ ambiguous accuracy | 40 | 1 / 1 | +0.2500 |" in md

    # Cells: bootstrap intervals over the examples, inside [0, 1]; the diagnostic gets a column.
    rows = by_row(report)
    assert rows["base"]["n"] == 1  # the two runs' identical base evaluations count once
    acc = rows["grpo"]["cells"]["eval/bbq/accuracy_ambig"]
    assert acc["interval"] == "bootstrap" and 0 <= acc["lo"] < 0.5 < acc["hi"] <= 1
    assert rows["base"]["cells"]["eval/bbq/accuracy_disambig"]["lo"] == 1.0  # every answer right: [1, 1]
    assert "eval/bbq/diag/refusal_share" in [c["key"] for c in report["columns"]]
    assert rows["base"]["cells"]["eval/bbq/diag/refusal_share"]["mean"] == 0.5
    header = next(line for line in md.splitlines() if line.startswith("| row | n | seeds |"))
    assert "| BBQ ambiguous accuracy ↑ | BBQ disambiguated accuracy ↑ |" in header
    assert header.endswith("| std over steps of the step's mean reward | bbq diag/refusal_share |")


def test_primary_endpoint_without_per_example_results_says_why(runs: Path, tmp_path: Path) -> None:
    report = make_report(str(runs), tmp_path, "logger=none", "report.resamples=200")
    md = (tmp_path / "report.md").read_text()
    assert report["paired"] == [] or all(c["key"] != "eval/bbq/accuracy_ambig" for c in report["paired"])
    assert md.startswith("# BiasGRPO report\n\n**Primary endpoint**")
    assert "Not available: no row shares per-example bbq results with `base`" in md


def test_unknown_primary_endpoint_names_the_choices(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"report.primary='eval/bbq/nope'.*eval/bbq/accuracy_ambig"):
        make_report(str(runs), tmp_path, "logger=none", "report.primary=eval/bbq/nope")


def test_intervals_stay_inside_the_figures_range() -> None:
    # Two seeds at 0 and 1: the Student-t interval is 0.5 ± 6.35; an accuracy's is cut to [0, 1].
    c = cell([0.0, 1.0], 0.95, metric_range("eval/bbq/accuracy_ambig"))
    assert c["half_width"] == pytest.approx(6.353, abs=1e-3) and (c["lo"], c["hi"]) == (0.0, 1.0)
    assert format_cell(c, 2, bounded=True) == "0.5000 [0.0000, 1.0000]"
    assert metric_range("eval/truthfulqa/mc2") == metric_range("eval/bold/diag/refusal_share") == (0.0, 1.0)
    assert metric_range("eval/bbq/bias_score_ambig") == (-1.0, 1.0)
    assert metric_range("eval/bold/diag/mean_words")[0] == 0.0
    assert metric_range("reward/mean") == (-math.inf, math.inf)
    assert cell([2.0, 3.0], 0.95)["lo"] == pytest.approx(2.5 - 6.353, abs=1e-3)  # unbounded: not cut


def test_seeds_of_a_row_are_resampled_and_mcnemar_keeps_the_largest_p(tmp_path: Path) -> None:
    fake_run(tmp_path / "runs", "grpo-s0", "grpo", GRPO_AMBIG, BASE_AMBIG, extra=False, seed=0)
    fake_run(tmp_path / "runs", "grpo-s1", "grpo", PPO_AMBIG, BASE_AMBIG, extra=False, seed=1)
    report = make_report(str(tmp_path / "runs"), tmp_path / "out", "logger=none", "report.resamples=2000")
    (c,) = [c for c in report["paired"] if c["key"] == "eval/bbq/accuracy_ambig"]
    assert c["seeds"] == [2, 1] and c["pairs"] == 2
    assert c["difference"] == pytest.approx((0.25 + 0.025) / 2)
    assert (c["b"], c["c"], c["p"]) == (2, 1, 1.0) and not c["significant"]  # seed 1's pair decides
    expected = stats.paired_bootstrap(
        [[GRPO_AMBIG[i] for i in ORDER], [PPO_AMBIG[i] for i in ORDER]], [BASE_AMBIG[i] for i in ORDER], 0.95, 2000
    )
    assert (c["lo"], c["hi"]) == pytest.approx((expected.lo, expected.hi))
    assert "the largest p of 2 seed pairs" in (tmp_path / "out" / "report.md").read_text()


def test_runs_beneath_a_report_directory_are_read_but_not_the_report(runs: Path, tmp_path: Path) -> None:
    # docs/compare: the report's own files (report.json, its summary.json) beside a folder per job
    make_report(str(runs), tmp_path, "logger=none")
    shutil.copytree(runs / "grpo-s0", tmp_path / "grpo-s0")
    found, _ = find_runs(str(tmp_path), online=False)
    assert [Path(r.where).name for r in found] == ["grpo-s0"]
