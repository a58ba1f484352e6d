# The project's contract. `make demo` runs the reference mesh end to end on the
# embedded emulator; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV := .venv
REQUIREMENTS := platform/mesh-local/emulator/requirements.txt
FUNCTIONS := orders-api customers-api customers-credit orders-saga outbox-relay analytics-sales
CARGO ?= cargo

.PHONY: setup demo test lint fmt functions clean

## setup: the pinned emulator in a project-local virtualenv
setup: $(VENV)/.installed

$(VENV)/.installed: $(REQUIREMENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
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

## lint: formatting and clippy with warnings denied
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) target/mesh-local
