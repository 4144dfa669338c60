# The two commands a newcomer needs: `make demo` and `make test`. Both create
# .venv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# Test databases for the scaled-out pass (`make test-scaled`).
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: demo test test-scaled lint check

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/bulksms demo $(if $(CONTACTS),--contacts $(CONTACTS))

test: $(INSTALLED)
	$(BIN)/pytest -m "not postgresql" $(PYTEST_ARGS)

test-scaled: $(INSTALLED)
	BULKSMS_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) BULKSMS_TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest -m "scaled or postgresql" $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bulksms

check: lint test test-scaled
