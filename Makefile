# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PY) -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])")

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch 2.13.0 is pinned before anything that could pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,torch,tensorflow]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

.PHONY: setup demo test lint bench fuzz fuzz-readers mxnet-oracle mxnet-fixtures
setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m compiler.demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q tests

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# A longer random run of the differential fuzzer than the seeded one in `make test` (tests/fuzz/):
# counts printed, failures shrunk into tests/fuzz/regressions/.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seed random --count 500

# A larger random hostile-input run than the seeded one in `make test` (tests/hostile/).
fuzz-readers: $(STAMP)
	$(BIN)/python -m tests.hostile.runner --seed random --scale 4

# MXNet 1.9.1 (numpy<1.24, Python <= 3.11) in its own virtualenv, the oracle of the MXNet tests
# (~/.cache/ovcc/mxnet-venv, or $$OVCC_MXNET_VENV); they make the default one on first use too.
mxnet-oracle: $(STAMP)
	$(BIN)/python -m tests.compiler.mxnet_oracle

# Rewrite the committed MXNet test models, tests/data/mxnet (see its README.md), with that MXNet.
mxnet-fixtures: $(STAMP)
	$(BIN)/python -m tests.compiler.mxnet_oracle --fixtures tests/data/mxnet
