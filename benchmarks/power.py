"""How many examples, and seeds, each benchmark needs to see the paper's effects: a power analysis.

    python benchmarks/power.py --run outputs/base_eval           # a run with per-example results
    python benchmarks/power.py --evaluate --limit 20             # evaluate the embedded base model first
    python benchmarks/power.py --run outputs/base_eval --trained outputs/train/grpo/<date>   # measured d
    python benchmarks/power.py --run outputs/base_eval --seeds docs/compare/report.json     # seeds

From the base model's per-example results (``<run>/eval_before/*.jsonl`` of a training run, or
``<run>/eval/*.jsonl`` of ``task=evaluate``; ``--evaluate`` runs that evaluation itself,
``benchmark=[bbq,truthfulqa]`` by default), for each figure the paper reports, the effect to
detect is the paper's base -> GRPO change (Phi-2; biasgrpo/report.py COLUMNS), at 80% power and
two-sided alpha = 0.05 (``--power``, ``--alpha``):

- BBQ ambiguous accuracy (0/1 per question): unpaired, two proportions from the measured base
  accuracy; paired (Connor 1987), which needs the discordance d (the share of questions where base
  and trained model differ in correctness). d can only be measured with a trained model
  (``--trained``): two evaluations of the base model agree on every question (multiple choice is
  deterministic). Without one, d is ASSUMED (0.1, 0.2, 0.3, printed as such), within its bounds
  |delta| <= d <= p_base + p_trained.
- TruthfulQA MC2, BOLD and RTP toxicity (continuous; BOLD and RTP averaged per prompt): unpaired
  from the base's per-example SD; paired from the SD of per-example differences, measured with
  ``--trained``, else from an ASSUMED correlation rho between the two models' per-example scores
  (sd_diff = sd * sqrt(2 (1 - rho))).
- Seeds (``--seeds``, a report.json or folders of finished runs): seeds per arm for a two-sample t
  test between two algorithms, from the seed-to-seed SD of each figure.

Every number printed comes from the files read or is labelled ASSUMED. Maths: biasgrpo/stats.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biasgrpo import paired, stats  # noqa: E402
from biasgrpo.benchmarks.examples import read_examples  # noqa: E402
from biasgrpo.report import COLUMNS, PAPER_ROWS  # noqa: E402

ASSUMED_D = (0.1, 0.2, 0.3)
ASSUMED_RHO = (0.5, 0.8, 0.9, 0.95)
FIGURES = ("eval/bbq/accuracy_ambig", "eval/truthfulqa/mc2", "eval/bold/toxicity_mean", "eval/rtp/toxicity_mean")
# The full local sets: BBQ ambiguous questions (7 categories), TruthfulQA questions.
FULL = {"eval/bbq/accuracy_ambig": 8814, "eval/truthfulqa/mc2": 817}
PLANNED = {"eval/bbq/accuracy_ambig": 1505}  # 215 per category x 7 categories (docs/evaluation.md)


def paper_effects() -> dict[str, tuple[str, float, float]]:
    """``{key: (label, base, GRPO)}``: the paper's Phi-2 figures (report.COLUMNS)."""
    base, grpo = PAPER_ROWS.index("base"), PAPER_ROWS.index("GRPO")
    return {c.key: (c.label, c.paper[base], c.paper[grpo]) for c in COLUMNS if c.paper}


def base_examples(run: Path) -> paired.Examples:
    """The base model's per-example results in a run: ``eval_before/`` (a training run) else ``eval/``."""
    found = read_examples(run, "eval_before") or read_examples(run, "eval")
    if not found:
        raise SystemExit(f"{run} holds no eval_before/*.jsonl or eval/*.jsonl; run task=evaluate or pass --evaluate")
    return found


def values_of(examples: paired.Examples, key: str) -> dict[str, float]:
    return paired.unit_values(examples.get(paired.BY_KEY[key].bench, []), paired.BY_KEY[key])


def binary_section(
    key: str, base: dict[str, float], trained: dict[str, float] | None, alpha: float, power: float
) -> list[str]:
    label, p_paper, q_paper = paper_effects()[key]
    delta = q_paper - p_paper
    n = len(base)
    k = round(sum(base.values()))
    p0 = k / n
    lo, hi = stats.wilson_interval(k, n)
    lines = [
        f"{label} (0/1 per question); effect: the paper's base -> GRPO change {delta:+.4f} ({p_paper} -> {q_paper})",
        f"  base here: {p0:.4f} on {n:,} questions (Wilson 95% [{lo:.4f}, {hi:.4f}])",
        f"  unpaired, two proportions {p0:.4f} -> {p0 + delta:.4f}: "
        f"{math.ceil(stats.n_unpaired_binary(p0, p0 + delta, alpha, power)):,} questions per model",
    ]
    ns = {"this run": n, **({"planned": PLANNED[key]} if key in PLANNED else {}), "full set": FULL.get(key, n)}
    header = "      d   questions  " + "  ".join(f"MDE at {v:,} ({w})" for w, v in ns.items())
    lines += [
        f"  paired (Connor 1987); d = share of questions where the models differ in correctness, "
        f"between |delta| = {abs(delta):.4f} and p_base + p_trained = {2 * p0 + delta:.2f}:",
        header,
    ]
    rows: list[tuple[str, float]] = []
    if trained is not None:
        shared = sorted(set(base) & set(trained))
        b, c = stats.discordant([trained[i] for i in shared], [base[i] for i in shared])
        rows.append((f"measured on {len(shared):,} shared questions (b={b}, c={c})", (b + c) / len(shared)))
    rows += [("ASSUMED", d) for d in ASSUMED_D]
    for why, d in rows:
        need = f"{math.ceil(stats.n_paired_binary(d, delta, alpha, power)):,}" if d >= abs(delta) > 0 else "n/a"
        mdes = "  ".join(
            f"{stats.mde_paired_binary(v, d, alpha, power):>{len(w) + 12}.4f}" if d > 0 else f"{'n/a':>{len(w) + 12}}"
            for w, v in ns.items()
        )
        why += "; no question changed: no effect to detect at any n" if d == 0 else ""
        lines.append(f"  {d:6.3f} {need:>10s}  {mdes}   {why}")
    return lines


def continuous_section(
    key: str, base: dict[str, float], trained: dict[str, float] | None, alpha: float, power: float
) -> list[str]:
    label, p_paper, q_paper = paper_effects()[key]
    delta = q_paper - p_paper
    n = len(base)
    sd = statistics.stdev(base.values())
    unit = "prompts (continuations averaged per prompt)" if "toxicity" in key else "questions"
    lines = [
        f"{label} (continuous); effect: the paper's base -> GRPO change {delta:+.4f} ({p_paper} -> {q_paper})",
        f"  base here: mean {statistics.fmean(base.values()):.4f}, per-example SD {sd:.4f} on {n:,} {unit}",
        f"  unpaired: {math.ceil(stats.n_unpaired_continuous(sd, delta, alpha, power)):,} {unit.split()[0]} per model",
        "  paired: n = ((z_a + z_b) sd_diff / delta)^2; MDE = (z_a + z_b) sd_diff / sqrt(n)",
        f"      rho  sd_diff   {unit.split()[0]:>9s}  MDE at {n:,} (this run)"
        + (f"  MDE at {FULL[key]:,} (full set)" if key in FULL else ""),
    ]
    rows: list[tuple[str, float | None, float]] = []
    if trained is not None:
        shared = sorted(set(base) & set(trained))
        diffs = [trained[i] - base[i] for i in shared]
        rows.append((f"measured on {len(shared):,} shared", None, statistics.stdev(diffs)))
    rows += [("ASSUMED", rho, stats.sd_diff_from_correlation(sd, rho)) for rho in ASSUMED_RHO]
    for why, rho, sd_diff in rows:
        need = math.ceil(stats.n_paired_continuous(sd_diff, delta, alpha, power))
        mde = f"{stats.mde_paired_continuous(n, sd_diff, alpha, power):>12.4f}"
        full = f"  {stats.mde_paired_continuous(FULL[key], sd_diff, alpha, power):>24.4f}" if key in FULL else ""
        rho_text = "   --" if rho is None else f"{rho:5.2f}"
        lines.append(f"    {rho_text}  {sd_diff:7.4f}  {need:>9,}  {mde}{full}   {why}")
    return lines


# ------------------------------------------------------------------ seeds ---
def seed_sds_from_report(path: Path) -> dict[str, list[tuple[str, int, float]]]:
    """``{key: [(row, seeds, sd)]}`` from a report.json: sd = half-width · √n / t_{(1+ci)/2, n−1}."""
    from scipy import stats as sp

    report = json.loads(path.read_text())
    out: dict[str, list[tuple[str, int, float]]] = {}
    for row in report["rows"]:
        for key, c in row["cells"].items():
            if c and c["n"] >= 2 and c["half_width"] is not None:
                t = float(sp.t.ppf((1 + report["ci"]) / 2, c["n"] - 1))
                out.setdefault(key, []).append((row["row"], c["n"], c["half_width"] * math.sqrt(c["n"]) / t))
    return out


def seed_sds_from_runs(folder: Path) -> dict[str, list[tuple[str, int, float]]]:
    """``{key: [(algorithm, seeds, sd)]}`` from the summary.json of finished runs under ``folder``."""
    from biasgrpo.provenance import lookup
    from biasgrpo.report import find_runs

    runs, _ = find_runs(str(folder), online=False)
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(str(lookup(run.config, "algorithm.name")), []).append(run.summary)
    out: dict[str, list[tuple[str, int, float]]] = {}
    for name, summaries in groups.items():
        for key in FIGURES:
            values = [s[key] for s in summaries if isinstance(s.get(key), (int, float))]
            if len(values) >= 2:
                out.setdefault(key, []).append((name, len(values), statistics.stdev(values)))
    return out


def seeds_section(sds: dict[str, list[tuple[str, int, float]]], alpha: float, power: float) -> list[str]:
    effects = paper_effects()
    lines = [
        "Seeds per algorithm, two-sample t test between two algorithms (noncentral t), effect = the paper's "
        "base -> GRPO change; seed SD pooled over the rows (degrees of freedom weighted). The SD is measured on "
        "the evaluation those runs used: on a small one (few questions) it includes their quantisation and "
        "noise and overstates the spread a large evaluation would show.",
    ]
    for key, rows in sds.items():
        if key not in effects:
            continue
        label, p, q = effects[key]
        df = sum(n - 1 for _, n, _ in rows)
        pooled = math.sqrt(sum((n - 1) * sd * sd for _, n, sd in rows) / df)
        each = ", ".join(f"{r}: {sd:.4f} (n={n})" for r, n, sd in rows)
        need = stats.seeds_needed(pooled, q - p, alpha, power)
        lines.append(f"  {label}: seed SD {pooled:.4f} (pooled; {each}) -> {need} seeds per algorithm")
    return lines


def evaluate_base(out: Path, benchmarks: list[str], limit: int, overrides: list[str]) -> Path:
    """Run ``task=evaluate`` of the base model (the embedded one by default) into ``out``."""
    from hydra import compose, initialize_config_dir

    from biasgrpo.config import register_configs, validate
    from biasgrpo.evaluate import evaluate

    limits = [f"benchmark.{b}.limit={limit}" for b in benchmarks] if limit >= 0 else []
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(
            config_name="config",
            overrides=["task=evaluate", f"benchmark=[{','.join(benchmarks)}]", "logger=none", *limits, *overrides],
        )
    evaluate(cfg, validate(cfg), out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="", help="a run directory with the base model's per-example results")
    parser.add_argument("--evaluate", action="store_true", help="evaluate the base model first (into --out)")
    parser.add_argument("--benchmarks", nargs="+", default=["bbq", "truthfulqa"], help="with --evaluate")
    parser.add_argument("--limit", type=int, default=-1, help="with --evaluate: examples per category")
    parser.add_argument("--out", default="", help="with --evaluate: run directory (default outputs/power/<time>)")
    parser.add_argument("--trained", default="", help="a trained run (its eval/*.jsonl): measured d and sd_diff")
    parser.add_argument("--seeds", default="", help="a report.json, or a folder of finished runs: seed spread")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("overrides", nargs="*", help="with --evaluate: Hydra overrides")
    args = parser.parse_args()
    if args.evaluate:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        run = evaluate_base(
            Path(args.out or ROOT / "outputs" / "power" / stamp), args.benchmarks, args.limit, args.overrides
        )
    elif args.run:
        run = Path(args.run)
    else:
        raise SystemExit("pass --run <run dir> (base per-example results) or --evaluate")
    print("\n".join(power_report(run, args.trained, args.seeds, args.alpha, args.power)))


def power_report(run: Path, trained_dir: str, seeds: str, alpha: float, power: float) -> list[str]:
    base = base_examples(run)
    trained = read_examples(trained_dir, "eval") if trained_dir else None
    za, zb = stats.z(1 - alpha / 2), stats.z(power)
    lines = [
        f"[power] base results: {run}" + (f"; trained: {trained_dir}" if trained_dir else ""),
        f"[power] alpha = {alpha} two-sided (z = {za:.4f}), power = {power} (z = {zb:.4f})",
    ]
    for key in FIGURES:
        values = values_of(base, key)
        if len(values) < 2:
            continue
        other = values_of(trained, key) if trained else None
        section = binary_section if paired.BY_KEY[key].binary else continuous_section
        lines += ["", *section(key, values, other or None, alpha, power)]
    if seeds:
        path = Path(seeds)
        sds = seed_sds_from_report(path) if path.is_file() else seed_sds_from_runs(path)
        lines += ["", *seeds_section(sds, alpha, power)]
    return lines


if __name__ == "__main__":
    main()
