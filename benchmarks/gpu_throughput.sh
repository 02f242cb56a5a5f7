#!/usr/bin/env bash
# The GPU figures of docs/performance.md: ours vs TRL, bf16 autocast, on the architectures of
# SmolLM2-135M and Phi-2 with random weights (the GPU machine has no hub access and the embedded
# GGUF is too large to send there). Needs trl installed; OUT (optional) collects the logs.
#   bash benchmarks/gpu_throughput.sh
set -u
OUT=${OUT:-/tmp}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
bench="python3 benchmarks/grpo_throughput.py --device cuda --autocast bfloat16"
timeout 170 $bench --arch .bench/smollm2_135m 2>&1 | grep -v -i warn | tee "$OUT/smollm2.txt"
timeout 230 $bench --arch .bench/phi2 2>&1 | grep -v -i warn | tee "$OUT/phi2.txt"
timeout 150 $bench --arch .bench/smollm2_135m --which ours --steps 3 --profile 2>&1 | grep -v -i warn | tail -45 \
  | tee "$OUT/profile_smollm2.txt"
if python3 -c "import vllm" 2>/dev/null; then  # sampler=vllm against TRL's colocated vLLM
  timeout 300 $bench --arch .bench/smollm2_135m --vllm 2>&1 | grep -v -i warn | tee "$OUT/smollm2_vllm.txt"
else
  echo "vllm is not installed here: the --vllm comparison was not run" | tee "$OUT/smollm2_vllm.txt"
fi
