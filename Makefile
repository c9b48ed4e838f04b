# The two commands: `make demo` (install + run the main job on samples/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo keeps its store, archive and the demo translation packages in .demo/, away from
# your real data (~/.local/share/ingest) and your real translation packages.
DEMO_HOME ?= .demo

.PHONY: setup system-deps demo test lint lock clean-demo bench bench-full

setup: $(VENV)/.installed

# torch must come first and exactly as torch==2.13.0 (CPU build); any other spec pulls a
# multi-GB CUDA build through argostranslate -> stanza -> torch. Every install goes through
# constraints.txt: the exact versions the test suite passed with (regenerate: `make lock`).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	# Bytecode halves Prefect's start time (PYTHONDONTWRITEBYTECODE may be set on the machine);
	# ingest's own modules too (an editable install compiles nothing): ~0.1 s per command.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib ingest flows > /dev/null || true
	touch $@

demo: setup
	INGEST_HOME=$(DEMO_HOME) $(BIN)/ingest models install tests/fixtures/argos/*.argosmodel
	INGEST_HOME=$(DEMO_HOME) $(BIN)/ingest run samples/

# Debian packages the tests drive for real: chromium (Prefect UI test) and postgresql (the
# store tests run on SQLite and on a throwaway PostgreSQL cluster). Needs root or sudo.
system-deps:
	bash scripts/install-system-deps.sh

test: setup system-deps
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Benchmarks: every figure README quotes comes from here. `make bench` runs them all in quick
# mode (about 15-20 minutes on 2 cores), writes benchmarks/RESULTS.md (date, commit, machine,
# each figure with its target) and rewrites README's quoted figures from it; `make bench-full`
# uses the benchmarks' full sizes (an hour or more). ONLY=translation,fetch runs a subset and
# keeps the other rows.
bench: setup
	$(BIN)/python benchmarks/collect.py $(if $(ONLY),--only $(ONLY))

bench-full: setup
	$(BIN)/python benchmarks/collect.py --full $(if $(ONLY),--only $(ONLY))

# After a green `make test`: record the venv's exact versions in constraints.txt (commit it).
lock:
	bash scripts/lock.sh $(VENV)

clean-demo:
	rm -rf $(DEMO_HOME)
