# Communa — two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export COMMUNA_DATA_DIR ?= $(CURDIR)/var
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run test install lint test-sqlite test-pg test-deps demo bench clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependency lists change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,train]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/communa migrate --no-input
	$(BIN)/communa demo --if-empty
	$(BIN)/communa run

demo: install
	$(BIN)/communa demo --if-empty

lint: install
	$(BIN)/ruff check communa tests bench
	$(BIN)/ruff format --check communa tests bench
	$(BIN)/mypy communa
	$(BIN)/lint-imports

# System packages the browser tests need (Debian's Chromium; never a downloaded browser).
test-deps:
	@bash scripts/install-test-deps.sh

test: install lint test-deps
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-pg

test-sqlite: install
	@echo "=== Test suite on SQLite with the database task backend ==="
	COMMUNA_DATABASE_URL= COMMUNA_REDIS_URL= $(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-pg: install
	@if $(BIN)/python scripts/check_services.py "$(PG_URL)" "$(REDIS_URL)"; then \
		echo "=== Test suite on PostgreSQL with the Redis (RQ) task backend ==="; \
		COMMUNA_DATABASE_URL="$(PG_URL)" COMMUNA_REDIS_URL="$(REDIS_URL)" $(BIN)/pytest -n 2 $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "!!! PostgreSQL or Redis is unreachable and CI=true: failing." >&2; exit 1; \
	else \
		echo ""; echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!!! SKIPPED: the PostgreSQL + Redis leg (services unreachable, see above)."; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

bench: install
	$(BIN)/python bench/ingest.py

# Apps with a locale/ folder of their own (inbox, moderation, ...) keep their strings there; the rest share
# communa/locale. compilemessages walks every locale/ folder under communa/.
APP_LOCALES := $(patsubst communa/%/locale,%,$(wildcard communa/*/locale))
messages: install
	cd communa && ../$(BIN)/communa makemessages -l it -l es -l ru --ignore=migrations $(foreach app,$(APP_LOCALES),--ignore=$(app)/*)
	for app in $(APP_LOCALES); do (cd communa/$$app && ../../$(BIN)/communa makemessages -l it -l es -l ru --ignore=migrations) || exit 1; done
	cd communa && ../$(BIN)/communa compilemessages

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
