# edgekit developer commands. `make demo` and `make test` set up what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.edgekit-setup
NPM_STAMP := node_modules/.edgekit-setup
DEMO_OUT := edgekit-out

.PHONY: setup chromium demo web-demo test test-pure test-fast wheel clean

## setup: .venv with the pinned lock (installed --no-deps), edgekit editable, TF.js npm
## packages, and Debian's Chromium for the browser tests (when missing and running as root)
setup: $(SETUP_STAMP) $(NPM_STAMP) chromium

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing and cannot be installed here (needs root + apt-get): browser tests will be skipped"; \
	  fi; }

$(SETUP_STAMP): requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/lock.txt
	@# a venv made before the rename still holds the old distribution name `edgekit`
	$(BIN)/python -m pip uninstall --quiet --yes edgekit 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## demo: convert the sample digit model for android, web and server-cpu, print the results
demo: setup
	@for target in android web server-cpu; do \
	  echo "== edgekit convert sample_models/digits_keras.keras --target $$target"; \
	  $(BIN)/edgekit convert sample_models/digits_keras.keras --target $$target \
	    --eval sample_models/digits_eval.npz --out $(DEMO_OUT)/digits-$$target || exit $$?; \
	  echo; \
	done

## web-demo: serve the browser demo with the sample digit model on http://127.0.0.1:8000
web-demo: setup
	$(BIN)/edgekit demo

## test: every test tier: pure (seconds, frameworks blocked), then framework and
## end-to-end on the sample models
test: test-pure
	@# one worker per core (pytest-xdist); an idle worker takes tests queued for the other
	@# (worksteal): the end-to-end file alone holds ~15 minutes of conversions
	$(BIN)/python -m pytest -q --durations=25 -n auto --dist worksteal -m "not pure or framework or slow"

## test-pure: the tests that need no framework, runtime or Node, run with those blocked
test-pure: setup
	$(BIN)/python -m pytest -q -m "pure and not framework and not slow" --without-frameworks

## test-fast: skip the end-to-end tier
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

## wheel: dist/edgekit_toolkit-*.whl (with the lock's setuptools: no download)
wheel: setup
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .
	rm -rf build

clean:
	rm -rf $(DEMO_OUT) .pytest_cache dist build
