"""Time ``task=evaluate`` per benchmark on the embedded model and project the cost of the full sets.

    python benchmarks/eval_speed.py                              # the defaults of conf/benchmark/*.yaml
    python benchmarks/eval_speed.py --limit 2                    # 2 examples per category in each benchmark
    python benchmarks/eval_speed.py --benchmarks bbq truthfulqa --limit 5 benchmark.bbq.batch_size=64
    python benchmarks/eval_speed.py --backends benchmark.bbq.limit=3 benchmark.truthfulqa.limit=20
    python benchmarks/eval_speed.py --check benchmark.bbq.limit=15 benchmark.truthfulqa.limit=100

``--backends`` times BBQ and TruthfulQA (those of ``--benchmarks``) under both ``lm_backend``s,
lm-eval's HFLM and the prefix backend (docs/evaluation.md), on the same rows with one model load,
and prints wall and CPU seconds side by side with their ratio. ``--check`` does the same and also
compares what the two give: every figure, every answer, and every request's log-likelihood.
(BBQ's limit counts questions per category and context, 14 cells in the local copy; TruthfulQA's,
questions.)

Runs the evaluation that ``python run.py task=evaluate benchmark=[...]`` runs (same code, W&B off,
any further ``key=value`` arguments are Hydra overrides) and prints, per benchmark: seconds,
examples evaluated (BBQ and TruthfulQA: questions; BOLD and RTP: prompts, each continued
``num_samples`` times), seconds per example, the full set's size and its projected time
(seconds per example x full size), then the figure table. Setup (reading the data, loading the
model and the toxicity scorers) is timed apart. The run directory, with its summary.json, is kept
(``--out``). Needs BIASGRPO_DATA_DIR (the offline data) and the trained toxicity scorer.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def speed_table(summary: dict[str, Any], names: list[str]) -> str:
    """Seconds, examples, seconds per example and projected full-set seconds of each benchmark."""
    columns = ("limit", "seconds", "examples", "s/example", "full set", "full (h)")
    head = f"{'benchmark':12s} " + " ".join(f"{c:>9s}" for c in columns)
    lines, total, total_full = [head], 0.0, 0.0
    for name in names:
        seconds = summary[f"perf/eval/{name}_s"]
        n, full = summary[f"eval/{name}/n_examples"], summary[f"eval/{name}/n_full"]
        per = seconds / n
        total, total_full = total + seconds, total_full + per * full
        limit = int(summary[f"eval/{name}/limit"])
        lines.append(
            f"{name:12s} {limit or 'full':>9} {seconds:9.1f} {n:9.0f} {per:9.3f} {full:9.0f} {per * full / 3600:9.2f}"
        )
    setup = summary["perf/wall_s"] - total
    lines.append(f"{'setup':12s} {'':9s} {setup:9.1f}   (data, toxicity scorers, model)")
    wall, blank = summary["perf/wall_s"], " " * 9
    lines.append(f"{'total':12s} {blank} {wall:9.1f} {blank} {blank} {blank} {(total_full + setup) / 3600:9.2f}")
    return "\n".join(lines)


MULTIPLE_CHOICE = ("bbq", "truthfulqa")


@contextlib.contextmanager
def recording_lm_eval(modules: list[ModuleType]) -> Iterator[list[dict[str, Any]]]:
    """Every lm-eval output the benchmarks of ``modules`` compute, in order (their run_lm_eval wrapped)."""
    from biasgrpo.benchmarks import harness

    outputs: list[dict[str, Any]] = []

    def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
        outputs.append(harness.run_lm_eval(*args, **kwargs))
        return outputs[-1]

    for module in modules:
        module.run_lm_eval = recording  # type: ignore[attr-defined]
    try:
        yield outputs
    finally:
        for module in modules:
            module.run_lm_eval = harness.run_lm_eval  # type: ignore[attr-defined]


def agreement(name: str, runs: dict[str, dict[str, Any]]) -> list[str]:
    """Lines comparing the hflm and prefix runs of one benchmark: log-likelihoods, answers, figures."""
    from biasgrpo.benchmarks.harness import choice_loglikelihoods

    theirs, ours = runs["hflm"], runs["prefix"]
    lls = [
        [ll for _, choices in choice_loglikelihoods(run["output"], run["task"]) for ll in choices]
        for run in (theirs, ours)
    ]
    diffs = [abs(a - b) for a, b in zip(*lls, strict=True)]
    relative = [d / max(1.0, abs(a)) for d, a in zip(diffs, lls[0])]
    answers = [[row.get("answer") for row in run["rows"]] for run in (theirs, ours)]
    same_answers = sum(a == b for a, b in zip(*answers, strict=True))
    figure_diffs = {k: abs(ours["figures"][k] - v) for k, v in theirs["figures"].items()}
    worst = max(figure_diffs, key=figure_diffs.__getitem__)
    exact = sum(d == 0.0 for d in figure_diffs.values())
    lines = [
        f"{name}: {len(diffs)} requests, log-likelihood |hflm - prefix| max {max(diffs):.2e} "
        f"(relative {max(relative):.2e}), mean {sum(diffs) / len(diffs):.2e}",
        f"{name}: same answer to {same_answers} of {len(answers[0])} questions; figures identical: "
        f"{exact} of {len(figure_diffs)}, largest difference {figure_diffs[worst]:.2e} ({worst})",
    ]
    headline = ("accuracy_ambig", "accuracy_disambig", "bias_score_ambig", "bias_score_disambig", "mc1", "mc2")
    for key in (k for k in headline if k in theirs["figures"]):
        lines.append(f"  {key:22s} hflm {theirs['figures'][key]:.6f}   prefix {ours['figures'][key]:.6f}")
    return lines


def compare_backends(conf: Any, names: list[str], check: bool) -> None:
    """Each multiple-choice benchmark of ``names`` under lm_backend=hflm and =prefix, with one model."""
    import dataclasses

    import torch
    from transformers import set_seed

    from biasgrpo.benchmarks import bbq, truthfulqa
    from biasgrpo.policy import Policy
    from biasgrpo.trainer import pick_device

    modules = {"bbq": (bbq, bbq.BBQ), "truthfulqa": (truthfulqa, truthfulqa.TruthfulQA)}
    chosen = [n for n in names if conf.benchmark[n].kind in MULTIPLE_CHOICE]
    if not chosen:
        raise SystemExit(f"--backends and --check time bbq and truthfulqa; --benchmarks {' '.join(names)} has neither")
    set_seed(conf.seed)
    policy = Policy(conf.model, pick_device(conf.device), needs_reference=False)
    print(f"[eval_speed] model={conf.model.name}, {conf.device}, torch threads {torch.get_num_threads()}")
    table = [
        f"{'benchmark':12s} {'questions':>9s} {'hflm s':>9s} {'prefix s':>9s} {'ratio':>6s} "
        f"{'hflm cpu':>9s} {'prefix cpu':>10s} {'ratio':>6s} {'hflm s/q':>9s} {'prefix s/q':>10s}"
    ]
    checks: list[str] = []
    for name in chosen:
        module, cls = modules[conf.benchmark[name].kind]
        runs: dict[str, dict[str, Any]] = {}
        for backend in ("hflm", "prefix"):
            bench = cls(name, dataclasses.replace(conf.benchmark[name], lm_backend=backend), conf.data_dir)
            with recording_lm_eval([module]) as outputs:
                wall, cpu = time.perf_counter(), time.process_time()
                figures, rows = bench.evaluate(policy)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            runs[backend] = {"figures": figures, "rows": rows, "output": outputs[-1], "task": module.TASK}
            runs[backend] |= {"wall": wall, "cpu": cpu, "n": len(rows)}
            print(
                f"[eval_speed] {name} lm_backend={backend}: {wall:.1f} s wall, {cpu:.1f} s CPU, {len(rows)} questions"
            )
        h, p = runs["hflm"], runs["prefix"]
        table.append(
            f"{name:12s} {h['n']:9d} {h['wall']:9.1f} {p['wall']:9.1f} {h['wall'] / p['wall']:6.2f} "
            f"{h['cpu']:9.1f} {p['cpu']:10.1f} {h['cpu'] / p['cpu']:6.2f} "
            f"{h['wall'] / h['n']:9.3f} {p['wall'] / p['n']:10.3f}"
        )
        if check:  # printed as soon as known, so a long run that is stopped keeps what it found
            lines = agreement(name, runs)
            print("\n".join(["[eval_speed] agreement:", *lines]))
            checks += lines
    print("\n".join(["", *table]))
    if check:
        print("\n".join(["", "[eval_speed] agreement, hflm vs prefix on the same rows:", *checks]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", nargs="+", help="default: all four; bbq and truthfulqa with --backends")
    parser.add_argument("--limit", type=int, default=-1, help="examples per category (0 = full; default: config)")
    parser.add_argument("--out", default="", help="run directory (default outputs/eval_speed/<date>_<time>)")
    parser.add_argument("--backends", action="store_true", help="bbq, truthfulqa: time lm_backend=hflm vs prefix")
    parser.add_argument("--check", action="store_true", help="--backends, and compare their figures")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=tiny benchmark.rtp.num_samples=5")
    args = parser.parse_args()

    args.benchmarks = args.benchmarks or (
        list(MULTIPLE_CHOICE) if args.backends or args.check else ["bold", "rtp", "bbq", "truthfulqa"]
    )
    sys.path.insert(0, str(ROOT))
    from hydra import compose, initialize_config_dir

    from biasgrpo.config import register_configs, validate
    from biasgrpo.evaluate import evaluate

    limits = [f"benchmark.{b}.limit={args.limit}" for b in args.benchmarks] if args.limit >= 0 else []
    overrides = ["task=evaluate", f"benchmark=[{','.join(args.benchmarks)}]", "logger=none", *limits]
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=[*overrides, *args.overrides])
    conf = validate(cfg)
    if args.backends or args.check:
        compare_backends(conf, args.benchmarks, args.check)
        return
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    run_dir = Path(args.out) if args.out else ROOT / "outputs" / "eval_speed" / stamp
    summary = evaluate(cfg, conf, run_dir)
    print(f"\n[eval_speed] model={conf.model.name}, {conf.device}, run directory {run_dir}")
    print(speed_table(summary, args.benchmarks))


if __name__ == "__main__":
    main()
