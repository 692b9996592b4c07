# hotline — see README.md. `make demo` and `make test` install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest wheel bench services clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/hotline demo

lint: install
	$(VENV)/bin/ruff check hotline tests benchmarks
	$(VENV)/bin/ruff format --check hotline tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

services:
	bash scripts/ensure-services.sh

pytest: install services
	$(PY) -m pytest --cov --cov-report=term

# The wheel installed (not editable) in a fresh venv runs screen, demo and run (scripts/check-wheel.sh).
wheel: install
	PY=$(PY) bash scripts/check-wheel.sh

test: lint typecheck pytest wheel

bench: install services
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
