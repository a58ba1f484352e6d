# The project's contract. `make demo` runs the reference mesh end to end on the
# embedded emulator; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV := .venv
REQUIREMENTS := platform/mesh-local/emulator/requirements.txt
GLUE_VENV := .venv-glue
GLUE_REQUIREMENTS := platform/mesh-local/emulator/requirements-glue.txt
FUNCTIONS := orders-api customers-api customers-credit orders-saga outbox-relay analytics-sales catalog-registrar
MESH = $(CARGO) run --quiet -p mesh-cli --bin mesh --
CARGO ?= cargo

.PHONY: setup demo test lint contracts fmt functions clean

## setup: the pinned emulators (MiniStack; moto for Glue) in project-local virtualenvs
setup: $(VENV)/.installed $(GLUE_VENV)/.installed

$(VENV)/.installed: $(REQUIREMENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

$(GLUE_VENV)/.installed: $(GLUE_REQUIREMENTS)
	python3 -m venv $(GLUE_VENV)
	$(GLUE_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(GLUE_REQUIREMENTS)
	touch $@

## functions: the Lambda binaries the emulator runs (debug, host architecture)
functions:
	$(CARGO) build $(addprefix -p ,$(FUNCTIONS))

## demo: the reference mesh, end to end, on the embedded emulator
demo: setup functions
	$(CARGO) run --quiet -p mesh-cli --bin mesh-demo

## test: unit, handler, integration and end-to-end tests on the embedded emulator
test: setup functions
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

## lint: formatting, clippy with warnings denied, and the data contracts
lint: contracts
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## contracts: descriptors valid, no breaking schema change without a new major
## version, catalog stacks and the README's mesh graph generated from the descriptors
contracts:
	$(MESH) validate
	$(MESH) compat
	$(MESH) catalog template --check
	$(MESH) graph --check README.md

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) $(GLUE_VENV) target/mesh-local
