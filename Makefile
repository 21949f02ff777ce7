# The two commands of the README: `make run` and `make test`. Everything else serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
STAMP  := $(VENV)/.installed

.PHONY: run test lint install migrate demo clean wheelhouse bench

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

# Every benchmark, each printing its figures beside the ceiling it measured in the same run
# (a minimal app, the same SQL sent raw, the plain library, the network's floor). SIZE cases
# are seeded once (benchmarks/seed.py) into a scratch database: a SQLite file in a temporary
# folder, or with BENCH_DATABASE_URL (any database on a PostgreSQL server, e.g.
# postgresql+psycopg://postgres@127.0.0.1:5432/postgres) a database of its own there,
# dropped at the end. Not part of `make test`; CI never runs it; nothing asserts.
# One line a benchmark: `seeded` hands it the seeded database (--database-url, --cases) when
# it takes one, `alone` runs it as it is; both pass over a file that is not there.
SIZE ?= 100000
BENCH_DATABASE_URL ?=

bench: $(STAMP)
	@folder=$$(mktemp -d) && export INSTANCE_PATH=$$folder && trap 'rm -rf "$$folder"' EXIT && \
	url=$$($(BIN)/python benchmarks/scratch.py create "$(BENCH_DATABASE_URL)" "$$folder") && \
	trap '$(BIN)/python benchmarks/scratch.py drop "$$url"; rm -rf "$$folder"' EXIT && \
	failed="" && \
	run() { printf '\n== %s ==\n' "$$*"; began=$$(date +%s); \
		$(BIN)/python "$$@" || failed="$$failed $${1#benchmarks/}"; \
		printf '== %s: %s s ==\n' "$${1#benchmarks/}" $$(( $$(date +%s) - began )); } && \
	seeded() { test -f "$$1" || return 0; \
		if grep -q -- --database-url "$$1"; then run "$$@" --database-url "$$url" --cases $(SIZE); \
		else run "$$@"; fi; } && \
	alone() { test -f "$$1" && run "$$@" || true; } && \
	run benchmarks/seed.py --cases $(SIZE) --database-url "$$url" && test -z "$$failed" && \
	seeded benchmarks/bench_queue.py && \
	seeded benchmarks/bench_figures.py && \
	seeded benchmarks/bench_search.py --handler && \
	seeded benchmarks/bench_lists.py && \
	alone benchmarks/bench_sweep.py --sizes $$(( $(SIZE) / 10 )),$(SIZE) --runs 3 \
		--server-url "$(BENCH_DATABASE_URL)" && \
	seeded benchmarks/bench_workbench.py && \
	seeded benchmarks/bench_qr.py && \
	alone benchmarks/bench_reports.py --floor && \
	alone benchmarks/bench_new_rows.py && \
	alone benchmarks/bench_memory.py && \
	alone benchmarks/bench_photo.py && \
	if test -n "$$failed"; then printf '\nfailed:%s\n' "$$failed"; exit 1; fi

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
