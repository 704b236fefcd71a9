# hwgen developer targets.  `make test` is the test command (also run by .ci/run).
SHELL := /bin/bash
VENV  := .venv
STAMP := $(VENV)/.setup-stamp
EXAMPLE := examples/ptb-gru128-exponential.pt

.PHONY: setup test test-release demo
.DEFAULT_GOAL := test

setup: $(STAMP)

# Re-run set-up when pyproject.toml or the script change, or iverilog or g++ has gone missing.
ifeq ($(and $(shell command -v iverilog),$(shell command -v g++)),)
.PHONY: $(STAMP)
endif
$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

# The quick set (CI). Tests marked `slow` (more seeds, bigger models) run in `make test-release`.
test: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-release: setup
	$(VENV)/bin/python -m pytest -q

# The main job: the shipped trained example to Verilog for an iCE40 UP5K, with its report.
demo: setup
	$(VENV)/bin/hwgen build $(EXAMPLE) --target ice40 -o build/example
