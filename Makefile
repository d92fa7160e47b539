# One command each: `make demo`, `make test`, `make lint`, `make bench`, `make docs`. Every target creates the venv it needs.
# AIRFLOW_VERSION=2.11.2 make test runs the same suite on Airflow 2.11 in its own venv.

AIRFLOW_VERSION ?= 3.3.2
PYTHON ?= $(shell command -v python3.11 || command -v python3)
ifeq ($(AIRFLOW_VERSION),3.3.2)
VENV ?= .venv
else
VENV ?= .venv-af$(AIRFLOW_VERSION)
endif
CONSTRAINTS := requirements/constraints-af$(AIRFLOW_VERSION)-py3.11.txt
STAMP := $(VENV)/.installed-af$(AIRFLOW_VERSION)
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=

.PHONY: venv test lint demo bench bench-smoke docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -f $(CONSTRAINTS) || { echo "No lock file $(CONSTRAINTS) for Airflow $(AIRFLOW_VERSION)"; exit 2; }
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	UV_COMPILE_BYTECODE=1 $(UV) pip install --quiet --python $(VENV)/bin/python \
		-c $(CONSTRAINTS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev]"
	@touch $@

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: $(STAMP)
	$(VENV)/bin/python scripts/run_demo.py

bench: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/python -m bench.run

# Every benchmark at tiny sizes, only to prove each still runs (CI); exits 1 when one crashes.
bench-smoke: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/python -m bench.run --smoke

# The documentation site (docs/), warnings as errors; the HTML lands in docs/_build/html.
docs: $(STAMP)
	$(VENV)/bin/python -m sphinx -b html -W --keep-going -n -q docs docs/_build/html

clean:
	rm -rf .venv .venv-af* .demo docs/_build
