# live2d-pose: `make run` sets everything up and runs it; `make test` runs the tests.
# `make check` is the quick one (lint, types, the unit tests: under a minute); run it before committing.
# Both work on a fresh clone: they create .venv, install the Python package,
# build the viewer with npm, and (for tests, as root) install Debian's chromium.
# `make test-docker` builds and runs docker-compose.yml for real (as root it
# installs and starts Docker where it is missing).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP  := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed
WEB_BUILD := web/dist/index.html
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run check format merge-formatted test test-unit test-python test-web test-docker soak bench web system-deps clean

setup: $(PY_STAMP) $(WEB_BUILD)

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[landmarker,test,bench,fast,check]"
	touch $@

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): $(WEB_STAMP) web/build.mjs web/tools/build-vrm.mjs $(wildcard web/src/*)
	cd web && npm run build

web: $(WEB_BUILD)

run: setup
	$(BIN)/live2d-pose up $(ARGS)

# Lint and format (ruff, Biome), types (mypy) and tests/unit, in seconds; needs `make setup` once (it
# never installs anything itself, so it stays quick). The pre-commit hooks (.pre-commit-config.yaml) run
# the lint and format checks. `make format` rewrites what the format check would refuse.
check:
	@test -x $(BIN)/ruff -a -x web/node_modules/.bin/biome || { echo "make check: run make setup first"; exit 2; }
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/typecheck.py
	cd web && node_modules/.bin/biome lint --error-on-warnings . && node_modules/.bin/biome format .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

format:
	$(BIN)/ruff format .
	cd web && node_modules/.bin/biome format --write .

# Merge a branch whose Python was written before the tree was formatted (make merge-formatted REF=main):
# git formats both sides and their common base (ruff as a clean filter, -X renormalize) before it
# compares them, so only real changes conflict, and what it writes is formatted.
merge-formatted:
	@test -n "$(REF)" || { echo "usage: make merge-formatted REF=branch"; exit 2; }
	printf '*.py filter=ruff-format\n' > $(VENV)/merge.attributes
	git -c core.attributesFile=$(CURDIR)/$(VENV)/merge.attributes \
	    -c filter.ruff-format.clean='$(BIN)/ruff format --quiet --stdin-filename %f -' merge -X renormalize $(REF)

# The tiers: tests/unit (pure, seconds), tests/system (real processes and MediaPipe), tests/browser
# (Chromium); `make test` runs them all, and the viewer's own tests.
test-unit:
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

system-deps:
	scripts/install-system-deps.sh

test: setup system-deps test-web test-python

test-web: $(WEB_STAMP)
	cd web && npm test

test-python: $(PY_STAMP) $(WEB_BUILD)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The base images are pulled, or built as stand-ins where no registry answers
# (scripts/docker-base-images.sh); without a usable engine the tests skip.
test-docker: $(PY_STAMP)
	scripts/install-system-deps.sh --docker
	@if docker info >/dev/null 2>&1; then scripts/docker-base-images.sh; fi
	$(BIN)/python -m pytest -m docker -x -s tests/system/test_docker.py $(PYTEST_ARGS)

soak: setup system-deps
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

bench: setup
	$(BIN)/live2d-pose bench $(ARGS)

clean:
	rm -rf $(VENV) web/node_modules web/dist .cache bench/results .pytest_cache
