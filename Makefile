# breast-workup: the two commands are `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck bench bench-worklist bench-hl7 clean chromium pango

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

## chromium: Debian's Chromium for the browser tests (installed with apt when missing and we are root)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "make test: the browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)" >&2; fi; }

## pango: Debian's Pango for WeasyPrint (letters as PDF) and poppler-utils (pdftotext, read back by the letter tests),
## installed with apt when missing and we are root
PANGO_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils
pango:
	@{ command -v pdftotext >/dev/null 2>&1 && dpkg -s $(PANGO_PACKAGES) >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PANGO_PACKAGES); \
	  else echo "make test: letters need Pango and their tests pdftotext (apt-get install $(PANGO_PACKAGES))" >&2; fi; }

## test: install and run the whole suite (real PostgreSQL; see tests/conftest.py)
test: $(STAMP) chromium pango
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no tests" >&2; exit 1; fi; exit $$status

## bench: 100k then 1M open cases (1M, 10M steps), benchmarks (a)-(f) at each, written to bench/RESULTS.md
##        and bench/results.json (about 25 minutes; loading 1M cases with COPY takes about 5)
bench: $(STAMP)
	$(BIN)/python -m bench.run

## bench-worklist: the patient worklist at 100k cases, each filter a navigator uses, p50/p95 (about 2 minutes;
##                 `python -m bench.worklist --cases N` for another size)
bench-worklist: $(STAMP)
	$(BIN)/python -m bench.worklist

## bench-hl7: HL7 messages per second through the MLLP listener with 1, 4 and 16 senders, p50/p95 ACK latency
bench-hl7: $(STAMP)
	$(BIN)/python -m bench.hl7

## lint: ruff check and ruff format --check over the whole tree
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## typecheck: mypy, strict on tracking/pathway (configured in pyproject.toml)
typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
