"""benchmarks/power.py: sample sizes from a base run's per-example results, measured or assumed d."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from biasgrpo import stats
from biasgrpo.benchmarks.examples import write_examples

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("power", ROOT / "benchmarks" / "power.py")
power = importlib.util.module_from_spec(spec)
spec.loader.exec_module(power)  # type: ignore[union-attr]


def test_power_report_from_base_and_trained_runs(tmp_path: Path) -> None:
    base = [1.0] * 30 + [0.0] * 70  # 100 ambiguous questions, base accuracy 0.30
    trained = [0.0] * 10 + [1.0] * 20 + [1.0] * 10 + [0.0] * 60  # loses 10, gains 10: d = 0.2
    rows = lambda c: [{"id": f"Age/{i}", "context_condition": "ambig", "correct": x} for i, x in enumerate(c)]  # noqa: E731
    write_examples(tmp_path / "base", "eval", "bbq", rows(base))
    write_examples(tmp_path / "trained", "eval", "bbq", rows(trained))
    mc2 = [0.2, 0.4, 0.6, 0.8]
    write_examples(tmp_path / "base", "eval", "truthfulqa", [{"id": f"q{i}", "mc2": x} for i, x in enumerate(mc2)])
    text = "\n".join(power.power_report(tmp_path / "base", str(tmp_path / "trained"), "", 0.05, 0.8))

    delta = 0.3123 - 0.2750
    assert "base here: 0.3000 on 100 questions" in text
    unpaired = math.ceil(stats.n_unpaired_binary(0.3, 0.3 + delta))
    assert f"{unpaired:,} questions per model" in text
    measured = next(line for line in text.splitlines() if "measured on 100 shared questions (b=10, c=10)" in line)
    assert measured.split()[:2] == ["0.200", f"{math.ceil(stats.n_paired_binary(0.2, delta)):,}"]
    assert sum("ASSUMED" in line for line in text.splitlines()) == 3 + 4  # d values, then rho values
    sd = 0.2582  # stdev of 0.2, 0.4, 0.6, 0.8
    assert f"per-example SD {sd:.4f} on 4 questions" in text
    assert f"{math.ceil(stats.n_unpaired_continuous(0.25819889, 0.3941 - 0.3843)):,} questions per model" in text


def test_a_trained_model_that_changed_no_answer_is_said_so(tmp_path: Path) -> None:
    rows = [{"id": f"Age/{i}", "context_condition": "ambig", "correct": float(i < 3)} for i in range(10)]
    write_examples(tmp_path / "run", "eval_before", "bbq", rows)
    write_examples(tmp_path / "run", "eval", "bbq", rows)
    text = "\n".join(power.power_report(tmp_path / "run", str(tmp_path / "run"), "", 0.05, 0.8))
    assert "base here: 0.3000 on 10 questions" in text  # eval_before/ is the base of a training run
    assert "(b=0, c=0); no question changed" in text
