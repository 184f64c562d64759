# breast-workup: the two commands are `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "breast-workup needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install, start the embedded PostgreSQL, migrate, load the demo, print the worklist, then serve
## (web app on http://127.0.0.1:8000 with the embedded scheduler firing the flows; Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/workup db upgrade
	$(BIN)/workup demo
	$(BIN)/workup worklist
	$(BIN)/workup serve

## test: install and run the whole suite (real PostgreSQL; see tests/conftest.py)
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no tests" >&2; exit 1; fi; exit $$status

## bench: 100k open cases / 1M steps, benchmarks (a)-(e), written to bench/RESULTS.md (about 10 minutes)
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
