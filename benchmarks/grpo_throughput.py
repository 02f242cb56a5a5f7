"""GRPO throughput: BiasGRPO against TRL's GRPOTrainer on one identical workload.

    python benchmarks/grpo_throughput.py                      # both, default workload
    python benchmarks/grpo_throughput.py --repeats 3            # alternating, median ratio
    python benchmarks/grpo_throughput.py --which ours --G 4 --max-new-tokens 128
    python benchmarks/grpo_throughput.py --which ours --profile   # torch.profiler's top entries
    python benchmarks/grpo_throughput.py --scaling             # ours: s/step for G x length
    python benchmarks/grpo_throughput.py --device cuda --autocast bfloat16 --arch DIR  # a GPU
    python benchmarks/grpo_throughput.py --device cuda --autocast bfloat16 --vllm     # both sample with vLLM

Each framework runs in its own child process (so peak RSS is its own) on the same
prompts, model, LoRA, sampling settings, β and reward. Printed per framework: seconds
per step (median of the steps after the first), completion tokens per second, peak RSS,
CPU seconds per step (less sensitive than wall time to other jobs on a shared machine),
and ours/TRL ratios, under a line that names the machine (CPU, ISA, torch build, threads).
TRL is a benchmark-only extra (`pip install trl`), never a runtime dependency of BiasGRPO.

Precision: both train in fp32. Ours samples the rollouts with ``sampler.dtype=auto`` (a bf16
copy of the merged weights on a CPU with avx512_bf16 or AMX; the log-probs of the loss are
recomputed in fp32), TRL with its fp32 weights; ``--sampler-dtype float32`` samples ours in
fp32 too.

Default workload: the embedded SmolLM2-135M-Instruct in fp32 on CPU, LoRA r=16,
alpha=32 on all linear layers, 2 prompts x G=8 completions per step, at most 48 new
tokens, temperature 1.0, beta=0.04 (reference pass on), one optimisation epoch, the
lexicon reward, 8 steps. TRL runs without gradient checkpointing (its default is on,
which only slows it on this workload).

``--arch DIR`` gives both frameworks the architecture in DIR/config.json with random
weights (and DIR's tokenizer): a throughput figure for a model whose weights are not at
hand, e.g. Phi-2's architecture on a machine without the hub. Random weights rarely emit
EOS, so every completion runs to the token limit, in both frameworks alike.

``--vllm`` (a CUDA machine with vLLM installed) makes both sample with vLLM colocated on the
training GPU, at the same memory share: ours ``sampler=vllm``, TRL ``use_vllm=True,
vllm_mode="colocate"``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's biasgrpo, not an installed one (the machine line too)
VLLM_MEMORY_SHARE = 0.3  # --vllm: the GPU memory share each framework's colocated engine takes


def workload_prompts(n: int) -> list[str]:
    from biasgrpo.data import fill
    from biasgrpo.data.templates import TRAIN_TEMPLATES

    return [r["prompt"] for r in fill(TRAIN_TEMPLATES)][:: max(1, 792 // n)][:n]


def peak_memory_gb(device: str) -> float:
    """Peak RSS on CPU; peak allocated GPU memory on CUDA."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 1024**3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def run_ours(args: argparse.Namespace) -> dict:
    from hydra import compose, initialize_config_dir

    from biasgrpo.config import register_configs, validate
    from biasgrpo.trainer import Trainer

    register_configs()
    overrides = [
        f"model={args.model}",
        "model.lora.r=16",
        "model.lora.alpha=32",
        f"algorithm.num_generations={args.G}",
        f"algorithm.kl_coef={args.beta}",
        "algorithm.update_epochs=1",
        f"train.batch_size={args.prompts}",
        f"train.max_steps={args.steps}",
        "train.lr=1e-5",
        "train.save_every=0",
        "train.sample_every=0",
        f"sampler.max_new_tokens={args.max_new_tokens}",
        "sampler.temperature=1.0",
        "logger=none",
        "eval.before=false",
        "eval.after=false",
        f"device={args.device}",
        f"model.autocast={args.autocast}",
        f"sampler={'vllm' if args.vllm else 'hf'}",
        f"sampler.vllm.gpu_memory_utilization={VLLM_MEMORY_SHARE}",
        f"sampler.dtype={args.sampler_dtype}",
        f"sampler.prepack_weights={not args.no_prepack}",
    ]
    if args.arch:
        overrides += ["model.loader=config", f"model.path={args.arch}", f"model.name={Path(args.arch).name}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=overrides)
    trainer = Trainer(validate(cfg), cfg, Path(tempfile.mkdtemp(prefix="bench-ours-")))
    prompts = workload_prompts(args.prompts * args.steps)
    trainer.batch_rows = lambda step: [{"prompt": p} for p in prompts[step * args.prompts : (step + 1) * args.prompts]]
    times, cpu_times, tokens, losses = [], [], [], []
    for step in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        stats = profiled_step(trainer, step, args.device) if args.profile and step == 1 else trainer.step(step)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        tokens.append(float(stats["completions/mean_length"]) * args.prompts * args.G)
        losses.append(float(stats["policy/loss"]))
    return {
        "times": times,
        "cpu_times": cpu_times,
        "tokens": tokens,
        "losses": losses,
        "rss_gb": peak_memory_gb(args.device),
        "sampling": sampling_settings(trainer.sampler),
    }


def sampling_settings(sampler: object) -> dict:
    """What ours sampled with: the weights' dtype (sampler.dtype resolved) and, per dtype and batch,
    whether the prepacking probe chose prepacked weights."""
    from biasgrpo import kernels

    packed = {
        f"{str(dtype).removeprefix('torch.')}, {rows} rows": won
        for (dtype, rows, _), won in kernels._prepack_wins.items()
    }
    dtype = getattr(sampler, "dtype", None)
    return {"dtype": str(dtype).removeprefix("torch.") if dtype else "vllm", "prepacked": packed}


def profiled_step(trainer: object, step: int, device: str) -> dict:
    """One step under torch.profiler; prints the operators that took the most time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        stats = trainer.step(step)
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15), file=sys.stderr, flush=True)
    return stats


def run_trl(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from biasgrpo.models import smollm2_folder
    from biasgrpo.rewards.lexicon import LexiconReward

    folder = args.arch or (smollm2_folder() if args.model == "smollm2_135m" else args.model)
    lexicon = LexiconReward("lexicon", 0.5, 0.25, 0.25)

    def reward(prompts: list, completions: list, **kwargs: object) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return lexicon.score([], texts).tolist()

    prompts = workload_prompts(args.prompts * args.steps)
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in prompts]})
    n = args.prompts * args.G
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"),
        per_device_train_batch_size=n,
        num_generations=args.G,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        beta=args.beta,
        loss_type="grpo",
        num_iterations=1,
        learning_rate=1e-5,
        max_steps=args.steps,
        logging_steps=1,
        report_to="none",
        use_cpu=args.device == "cpu",
        bf16=args.autocast == "bfloat16",
        gradient_checkpointing=False,
        use_vllm=args.vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=VLLM_MEMORY_SHARE,
        save_strategy="no",
        shuffle_dataset=False,
        seed=0,
    )
    times: list[float] = []
    cpu_times: list[float] = []
    tokens: list[float] = []
    losses: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a: object, **k: object) -> None:
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, *a: object, **k: object) -> None:
            times.append(time.perf_counter() - self.t0)
            cpu_times.append(time.process_time() - self.c0)

        def on_log(self, _args: object, state: object, control: object, logs: dict | None = None, **k: object) -> None:
            if logs and "completions/mean_length" in logs:
                tokens.append(logs["completions/mean_length"] * n)
                losses.append(logs.get("loss", float("nan")))

    if args.arch:
        from transformers import AutoConfig

        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=torch.float32)
        if args.vllm:  # TRL's engine loads model.name_or_path: a folder holding these random weights
            saved = tempfile.mkdtemp(prefix="bench-trl-weights-")
            model.save_pretrained(saved)
            AutoTokenizer.from_pretrained(folder).save_pretrained(saved)
            folder = saved
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
        callbacks=[Clock()],
    )
    trainer.train()
    return {
        "times": times,
        "cpu_times": cpu_times,
        "tokens": tokens,
        "losses": losses,
        "rss_gb": peak_memory_gb(args.device),
    }


def summarise(name: str, result: dict) -> dict:
    later = result["times"][1:] or result["times"]
    step_s = statistics.median(later)
    tok_s = sum(result["tokens"][1:]) / sum(later) if len(result["times"]) > 1 else result["tokens"][0] / step_s
    return {
        "name": name,
        "s_per_step": step_s,
        "completion_tok_s": tok_s,
        "peak_rss_gb": result["rss_gb"],
        # CPU seconds of the process per step (median after the first): on a machine shared with
        # other jobs, less sensitive to them than wall time; with one thread, about the wall time
        # of a quiet machine.
        "cpu_s_per_step": statistics.median(result["cpu_times"][1:] or result["cpu_times"]),
        "times": result["times"],
        **({"sampling": result["sampling"]} if "sampling" in result else {}),
    }


def run_child(name: str, args: argparse.Namespace, extra: list[str]) -> dict | None:
    """Run one framework in its own process; None (with its stderr shown) if it failed."""
    cmd = [sys.executable, __file__, "--child", name, *sys.argv[1:], *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if args.profile:
        print(out.stderr[-6000:], file=sys.stderr)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print(f"{name} failed (rc {out.returncode}):\n{out.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(line[len("RESULT ") :])


def workload(args: argparse.Namespace) -> str:
    model = f"random-weight {Path(args.arch).name} architecture" if args.arch else args.model
    precision = "fp32" if args.autocast == "none" else f"fp32 weights, {args.autocast} autocast"
    threads = f", {args.threads} threads" if args.threads else ""
    threads += ", vLLM sampling" if args.vllm else f", ours sampler.dtype={args.sampler_dtype}"
    threads += ", no prepacking" if args.no_prepack else ""
    return (
        f"{model}, {args.prompts} prompts x G={args.G}, max {args.max_new_tokens} new tokens, beta={args.beta}, "
        f"{args.steps} steps, LoRA r=16 all linear, {precision}, {args.device}{threads}"
    )


def compare(args: argparse.Namespace) -> None:
    """Each framework in turn on the workload, ``--repeats`` times; the table and the ratios.

    Repeats alternate the frameworks (ours, TRL, ours, TRL, ...), so that a slow spell of a
    shared machine falls on both; the ratio is the median of the repeats' ratios.
    """
    from biasgrpo.machine import describe, summary_line

    names = args.which.split(",")
    runs = [[summarise(n, r) for n in names if (r := run_child(n, args, [])) is not None] for _ in range(args.repeats)]
    memory = "peak GPU GB" if args.device == "cuda" else "peak RSS GB"
    machine = describe()
    if args.threads:  # the children ran with these, the parent with torch's default
        machine["torch_threads"] = args.threads
    print(f"\n{summary_line(machine)}")
    print(f"workload: {workload(args)}")
    sampling = next((r["sampling"] for rows in runs for r in rows if r.get("sampling")), None)
    if sampling:
        print(f"ours sampled with {sampling['dtype']} weights, prepacked: {sampling['prepacked'] or 'no'}")
    print(f"{'':6s} {'s/step':>8s} {'compl tok/s':>12s} {memory:>12s} {'CPU s/step':>11s}")
    for i, rows in enumerate(runs):
        tag = f" (repeat {i + 1})" if args.repeats > 1 else ""
        for r in rows:
            print(
                f"{r['name']:6s} {r['s_per_step']:8.2f} {r['completion_tok_s']:12.1f} {r['peak_rss_gb']:12.2f} "
                f"{r['cpu_s_per_step']:11.2f}{tag}"
            )
    for rows in runs:
        for r in rows:
            print(f"{r['name']} s per step: " + " ".join(f"{t:.2f}" for t in r["times"]))
    pairs = [rows for rows in runs if len(rows) == 2]
    if pairs:
        a, b = pairs[0][0]["name"], pairs[0][1]["name"]
        ratios = {
            key: statistics.median(x[key] / y[key] for x, y in pairs)
            for key in ("completion_tok_s", "s_per_step", "peak_rss_gb")
        }
        each = " ".join(f"{x['completion_tok_s'] / y['completion_tok_s']:.2f}" for x, y in pairs)
        print(
            f"ratio {a}/{b}: tokens/s x{ratios['completion_tok_s']:.2f}, s/step x{ratios['s_per_step']:.2f}, "
            f"memory x{ratios['peak_rss_gb']:.2f}"
            + (f" (median of {len(pairs)}; tokens/s per repeat: {each})" if len(pairs) > 1 else "")
        )
    if args.json:
        flags = {"sampler_dtype": args.sampler_dtype, "prepack_weights": not args.no_prepack, "threads": args.threads}
        record = {
            "machine": machine,
            "workload": workload(args),
            "flags": flags,
            "ours_sampling": sampling,
            "runs": runs,
            "ratios": ratios if pairs else {},
        }
        Path(args.json).write_text(json.dumps(record, indent=1))
        print(f"written: {args.json}")


def scaling(args: argparse.Namespace) -> None:
    """Ours alone: seconds per step over G x completion length (how cost grows with work)."""
    lengths = (32, 64, 128)
    from biasgrpo.machine import describe, summary_line

    print(f"\n{summary_line(describe())}")
    print(f"scaling, ours: s/step (completion tok/s); {workload(args)} otherwise")
    print(f"{'G':>4s} " + " ".join(f"{f'T={t}':>16s}" for t in lengths))
    for G in (2, 4, 8):
        cells = []
        for T in lengths:
            r = run_child("ours", args, ["--G", str(G), "--max-new-tokens", str(T)])
            cells.append(
                "failed" if r is None else "{s_per_step:6.2f} ({completion_tok_s:5.1f})".format(**summarise("", r))
            )
        print(f"{G:4d} " + " ".join(f"{c:>16s}" for c in cells), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--which", default="ours,trl", help="comma-separated: ours, trl")
    p.add_argument("--model", default="smollm2_135m", help="a conf/model option (ours); TRL gets its folder or hub id")
    p.add_argument("--arch", default="", help="a folder with config.json and a tokenizer: random weights, both")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--autocast", default="none", choices=["none", "bfloat16"])
    p.add_argument("--vllm", action="store_true", help="both sample with vLLM on the GPU (needs vllm)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument(
        "--sampler-dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="ours: sampler.dtype (auto: bf16 on a CPU with avx512_bf16 or AMX; TRL samples in fp32)",
    )
    p.add_argument("--no-prepack", action="store_true", help="ours: sampler.prepack_weights=false")
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--G", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--beta", type=float, default=0.04)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=1, help="run the comparison this many times, alternating")
    p.add_argument("--profile", action="store_true", help="ours: print torch.profiler's top entries of step 2")
    p.add_argument("--scaling", action="store_true", help="ours: s/step for G = 2, 4, 8 x lengths 32, 64, 128")
    p.add_argument("--json", default="", help="also write the machine, workload, runs and ratios to this file")
    p.add_argument("--child", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        result = run_ours(args) if args.child == "ours" else run_trl(args)
        print("RESULT " + json.dumps(result), flush=True)
    elif args.scaling:
        scaling(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
