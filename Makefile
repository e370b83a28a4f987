# Two commands on a fresh machine: `make up` runs Kairan embedded, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := app.py core lists mailer tracking automations surveys webhooks templates
CATALOG := core/translations/messages.pot
PO_FILES := $(wildcard core/translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: up test lint translations translations-update clean

up: $(VENV)/.runtime $(MO_FILES) node_modules/.installed
	$(BIN)/flask --app app up

test: $(VENV)/.dev $(MO_FILES) node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest --numprocesses 2 --dist worksteal

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# The UI's third-party browser code (the visual editor, the code editor), exactly as package-lock.json pins it.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Compiled catalogs are build output (not committed): rebuilt whenever a .po file changes.
%.mo: %.po $(VENV)/.runtime
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(MO_FILES)

# After changing UI strings: refresh the catalog and merge new strings into each language.
translations-update: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o $(CATALOG) $(SOURCES)
	$(BIN)/pybabel update --no-fuzzy-matching -i $(CATALOG) -d core/translations

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
