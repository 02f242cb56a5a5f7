"""Time ``task=evaluate`` per benchmark on the embedded model and project the cost of the full sets.

    python benchmarks/eval_speed.py                              # the defaults of conf/benchmark/*.yaml
    python benchmarks/eval_speed.py --limit 2                    # 2 examples per category in each benchmark
    python benchmarks/eval_speed.py --benchmarks bbq truthfulqa --limit 5 benchmark.bbq.batch_size=64

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
import datetime
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def speed_table(summary: dict[str, Any], names: list[str]) -> str:
    """Seconds, examples, seconds per example and projected full-set seconds of each benchmark."""
    columns = ("limit", "seconds", "examples", "s/example", "full set", "full (h)")
    head = f"{'benchmark':12s} " + " ".join(f"{c:>9s}" for c in columns)
    lines, total, total_full = [head], 0.0, 0.0
    for name in names:
        seconds = summary[f"perf/{name}_s"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", nargs="+", default=["bold", "rtp", "bbq", "truthfulqa"])
    parser.add_argument("--limit", type=int, default=-1, help="examples per category (0 = full; default: config)")
    parser.add_argument("--out", default="", help="run directory (default outputs/eval_speed/<date>_<time>)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=tiny benchmark.rtp.num_samples=5")
    args = parser.parse_args()

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
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    run_dir = Path(args.out) if args.out else ROOT / "outputs" / "eval_speed" / stamp
    summary = evaluate(cfg, conf, run_dir)
    print(f"\n[eval_speed] model={conf.model.name}, {conf.device}, run directory {run_dir}")
    print(speed_table(summary, args.benchmarks))


if __name__ == "__main__":
    main()
