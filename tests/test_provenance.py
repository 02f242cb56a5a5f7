"""Known vs assumed: the paper's stated settings against a run's, in every summary and in the README."""

from __future__ import annotations

from pathlib import Path

from biasgrpo.compare import compose_job
from biasgrpo.config import validate
from biasgrpo.provenance import ASSUMED, KNOWN, markdown_table, provenance
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]


def test_paper_preset_uses_every_stated_setting_and_lists_the_assumed_ones() -> None:
    for algorithm in ("grpo", "ppo", "dpo"):
        record = provenance(compose_job(ROOT / "sweeps", "paper", [f"algorithm={algorithm}"]))
        assert record["known"] and all(s["same"] for s in record["known"]), record["known"]
        assert {s["key"] for s in record["assumed"]} >= {"model.lora.enabled", "train.batch_size"}
    dpo = {s["key"]: s for s in provenance(compose_job(ROOT / "sweeps", "paper", ["algorithm=dpo"]))["known"]}
    assert dpo["algorithm.loss_type"]["run"] == "ipo" and "algorithm.num_generations" not in dpo


def test_a_run_off_the_paper_says_which_stated_settings_differ() -> None:
    record = provenance(validate(compose_config(["experiment=smoke"])))
    known = {s["key"]: s for s in record["known"]}
    assert known["train.lr"] == {
        "setting": "learning rate",
        "key": "train.lr",
        "paper": 1e-6,
        "run": 3e-4,
        "same": False,
    }
    assert known["algorithm.num_generations"]["same"]  # G = 4, as the paper
    assert "algorithm.loss_type" not in known  # IPO is the DPO baseline's: not a GRPO setting
    assert {s["key"] for s in record["assumed"]} == {s.key for s in ASSUMED if s.applies("grpo")}


def test_readme_shows_the_paper_presets_table() -> None:
    presets = {a: compose_job(ROOT / "sweeps", "paper", [f"algorithm={a}"]) for a in ("grpo", "ppo", "dpo")}
    table = markdown_table(presets)
    assert table in (ROOT / "README.md").read_text(), "README's known-vs-assumed table is out of date:\n" + table
    assert len(table.splitlines()) == 2 + len(KNOWN) + len(ASSUMED)
