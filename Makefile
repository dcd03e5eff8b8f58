# cxjourney: `make run` runs the main job, `make test` runs every check. Both bootstrap
# what they need on a fresh machine (Debian packages, .venv, real components in
# ~/.cache/cxjourney built from the Go module proxy).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cxj-bootstrapped
export CXJ_TEST_LOGS ?= $(CURDIR)/.test-logs

.PHONY: run test lint unit integration bench infra venv clean docs kernels

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh scripts/debian-packages.txt
	scripts/bootstrap.sh
	touch $@

venv: $(STAMP)

## infra: build or reuse the cached real components (control plane, kwok, collector, ...)
infra: venv
	scripts/build-infra.sh >/dev/null

## run: the main job: the standalone demo (a simulated contact center, about two minutes)
run: venv
	$(BIN)/cxj demo --report cxj-demo-report.html

## lint: ruff, formatting, mypy strict and the import-linter contracts
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests/unit

integration: venv infra
	$(BIN)/pytest tests/integration tests/e2e

## test: everything CI runs
test: lint infra kernels
	rm -rf $(CXJ_TEST_LOGS)
	$(BIN)/pytest

## kernels: compile the processor's kernels: numba's JIT cache, then the ahead-of-time module
kernels: venv
	@echo "compiling the numba kernels once (cached for every process the tests start)"
	CXJ_KERNELS=jit $(BIN)/python -c "from cxj_processors.config import ProcessorConfig; from cxj_processors.pipeline import Pipeline; Pipeline(ProcessorConfig()).warm_up()"
	$(BIN)/python -m cxj_processors.compiled.build

## bench: benchmarks, printing ratios against baselines measured in the same run
bench: venv infra
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .test-logs

## docs: regenerate the CRD field reference from crds/
docs: venv
	$(BIN)/python scripts/crd_reference.py > docs/reference/cxjourney.md
