# The project's contract. `make demo` runs the reference mesh end to end on the
# embedded emulator; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV := .venv
REQUIREMENTS := platform/mesh-local/emulator/requirements.txt
GLUE_VENV := .venv-glue
GLUE_REQUIREMENTS := platform/mesh-local/emulator/requirements-glue.txt
LINT_VENV := .venv-lint
LINT_REQUIREMENTS := tools/requirements-lint.txt
CHECKOV_VENV := .venv-checkov
CHECKOV_REQUIREMENTS := tools/requirements-checkov.txt
DEPLOY_VENV := .venv-deploy
DEPLOY_REQUIREMENTS := tools/requirements-deploy.txt
MESH = $(CARGO) run --quiet -p mesh-cli --bin mesh --
# The function crates the descriptors deploy (`mesh infra functions`), as
# cargo's -p flags, for a recipe line: a new domain's handlers are built
# without a list here, and a descriptor that does not load stops the build.
FUNCTION_PACKAGES = packages="$$($(MESH) infra functions)" && packages="$$(printf -- '-p %s ' $$packages)" &&
CARGO ?= cargo

.PHONY: setup demo soak test test-localstack lint contracts infra cfn-lint checkov fmt functions clean up down build deploy bench

## setup: the pinned emulators (MiniStack; moto for Glue) in project-local virtualenvs
setup: $(VENV)/.installed $(GLUE_VENV)/.installed

# One virtualenv per pinned requirements file.
define venv
$(1)/.installed: $(2)
	python3 -m venv $(1)
	$(1)/bin/pip install --quiet --disable-pip-version-check -r $(2)
	touch $$@
endef
$(eval $(call venv,$(VENV),$(REQUIREMENTS)))
$(eval $(call venv,$(GLUE_VENV),$(GLUE_REQUIREMENTS)))
$(eval $(call venv,$(LINT_VENV),$(LINT_REQUIREMENTS)))
$(eval $(call venv,$(CHECKOV_VENV),$(CHECKOV_REQUIREMENTS)))
$(eval $(call venv,$(DEPLOY_VENV),$(DEPLOY_REQUIREMENTS)))

## functions: the Lambda binaries the emulator runs (debug, host architecture)
functions:
	$(FUNCTION_PACKAGES) $(CARGO) build $$packages

## demo: the reference mesh, end to end, on the embedded emulator
demo: setup functions
	$(CARGO) run --quiet -p mesh-tests --bin mesh-demo

## soak: 10,000 orders with 10 % of the functions' AWS calls faulted and
## function processes killed at crash points, then every event checked by id
## (SOAK_ORDERS=..., SOAK_FAULT_RATE=..., MESH_SUMMARY=path.json)
soak: setup functions
	$(CARGO) run --quiet -p mesh-tests --bin mesh-soak

## up: deploy the mesh (prefix `mesh`) to the embedded emulator and leave it
## running for the AWS CLI; prints the endpoint and commands to paste
up: setup functions
	$(CARGO) run --quiet -p mesh-tests --bin mesh-up

## build: release zips for AWS with cargo-lambda (ARCH=arm64 or x86_64)
ARCH ?= arm64
build: $(DEPLOY_VENV)/.installed
	$(if $(filter arm64,$(ARCH)),rustup target add aarch64-unknown-linux-gnu,rustup target add x86_64-unknown-linux-gnu)
	$(FUNCTION_PACKAGES) PATH="$(CURDIR)/$(DEPLOY_VENV)/bin:$$PATH" $(CARGO) lambda build --release \
		--$(subst _,-,$(ARCH)) --output-format zip $$packages

## deploy: upload the zips and deploy every stack to the AWS account of the
## current AWS CLI credentials (ARTIFACT_BUCKET=... required; see tools/deploy.sh)
deploy: $(DEPLOY_VENV)/.installed
	AWS="$(CURDIR)/$(DEPLOY_VENV)/bin/aws" ARCHITECTURE=$(ARCH) tools/deploy.sh

## down: stop what `make up` started
down:
	$(CARGO) run --quiet -p mesh-local --bin mesh-local -- down

## test: unit, handler, integration and end-to-end tests on the embedded emulator
test: setup functions
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

## bench: the cost of field encryption, µs per event against the same event
## unprotected, and key service calls per 1000 events (PII_BENCH_EVENTS=...)
bench:
	$(CARGO) bench -p mesh --bench pii

## test-localstack: the integration and end-to-end suite against LocalStack
## 4.8.1 (installed and started here, no Docker: the harness runs the
## functions), or against AWS_ENDPOINT_URL when set
test-localstack: functions
	tools/test-localstack.sh

## lint: formatting, clippy with warnings denied, the data contracts and the templates
lint: contracts cfn-lint checkov
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## contracts: descriptors valid, no breaking schema change without a new major
## version, every template and the README's mesh graph generated from the
## descriptors (no drift), the Guard rules and the cross-stack check hold on
## every template
contracts:
	$(MESH) validate
	$(MESH) compat
	$(MESH) infra generate --check
	$(MESH) infra check
	$(MESH) graph --check README.md

## checkov: the pinned checkov over every template; a failed check fails, and a
## check the design does not follow is skipped only where the resource's
## Metadata says why (platform/mesh-infra/src/templates/checkov.rs). Offline:
## nothing is downloaded from its vendor's service.
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --directory infra --framework cloudformation --skip-download --compact --quiet

## infra: regenerate infra/*.yaml from the descriptors
infra:
	$(MESH) infra generate

## cfn-lint: the pinned cfn-lint over every template (warnings fail too)
cfn-lint: $(LINT_VENV)/.installed
	$(LINT_VENV)/bin/cfn-lint -- infra/*.yaml

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) $(GLUE_VENV) $(LINT_VENV) $(CHECKOV_VENV) $(DEPLOY_VENV) target/mesh-local
