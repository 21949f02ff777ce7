# The two commands of the README: `make run` and `make test`. Everything else serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
STAMP  := $(VENV)/.installed

.PHONY: run test lint install migrate demo clean wheelhouse

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/grid-report db upgrade

demo: migrate
	$(BIN)/grid-report seed-demo --if-empty

# The demo town lives: beside the server, the sweep and the sender run every minute
# (systemd timers do it in production) and stop with it.
run: demo
	@$(BIN)/grid-report schedule --every 60 & schedule=$$!; \
	trap 'kill $$schedule 2>/dev/null' EXIT INT TERM; \
	PORT=$(PORT) $(BIN)/gunicorn --config python:server.gunicorn_conf 'server:create_app()'

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info

# Every wheel the app needs, for an install without internet: copy the folder beside
# deploy/install.sh on the town's machine (it takes ./wheelhouse when present). Built with
# Debian's own Python, which install.sh makes the venv with: a dependency's markers pick by
# its exact version (redis needs async-timeout below Python 3.11.3; Debian 12 has 3.11.2).
WHEEL_PYTHON ?= /usr/bin/python3
WHEELHOUSE   ?= wheelhouse
# setuptools reuses ./build: a module deleted since the last build would ship again.
wheelhouse:
	rm -rf $(WHEELHOUSE) build
	builder=$$(mktemp -d) && trap 'rm -rf $$builder' EXIT && \
	$(WHEEL_PYTHON) -m venv $$builder && \
	$$builder/bin/python -m pip install --quiet --upgrade pip && \
	$$builder/bin/python -m pip wheel --quiet --wheel-dir $(WHEELHOUSE) . && \
	rm -rf build
