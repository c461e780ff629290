# The two commands README promises: `make demo` and `make test`. Both create .venv when absent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch pinned: 2.13.0 is the CPU wheel these machines hold; an unpinned torch pulls a CUDA build.
	# torchvision 0.28.0 is its pair (Qwen-VL processors need it; tests load it without its C ops).
	$(BIN)/python -m pip install -q torch==2.13.0 torchvision==0.28.0
	$(BIN)/python -m pip install -q -e '.[dev,qwen]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/vrb-agent demo

lint: $(STAMP)
	$(BIN)/ruff check vrb_agent tests perf

clean:
	rm -rf $(VENV) .pytest_cache
