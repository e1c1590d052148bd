# AudioTricks backend. `make run` serves the API and runs a job worker; `make test` runs every
# test; `make lint` runs the linter and the type checker. All set up first.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := audiotricks:create_app

.PHONY: help install run worker dev migrate test lint bench clean

help:
	@echo "make run      install, migrate, serve the API on $(HOST):$(PORT) and run a job worker"
	@echo "make worker   run a job worker only (WORKER_ARGS=--threads N)"
	@echo "make dev      the same with Flask's debug server (auto-reload, console logs)"
	@echo "make migrate  apply database migrations (DATABASE_URL, or the SQLite default)"
	@echo "make test     install and run the whole test suite"
	@echo "make lint     install, then ruff on the whole tree and mypy on audiotricks/"
	@echo "make bench    benchmark under gunicorn on PostgreSQL (see bench/README.md)"

# The virtualenv is rebuilt whenever a requirements file changes.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/flask db upgrade

# gunicorn and `flask worker` together; Ctrl-C stops both (audiotricks/serve.py).
run: migrate
	@echo "AudioTricks API listening on http://$(HOST):$(PORT), with a job worker (Ctrl-C stops both)"
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m audiotricks.serve

# One more worker process (on this host or another sharing the database, UPLOAD_DIR and QUEUE_URL).
worker: migrate
	$(BIN)/flask worker $(WORKER_ARGS)

dev: migrate
	LOG_FORMAT=$${LOG_FORMAT:-console} $(BIN)/flask run --debug --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint only: the tree is not auto-formatted. Settings in ruff.toml and setup.cfg [mypy].
lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy audiotricks

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
