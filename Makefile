# Research Lab: every target creates .venv and installs requirements.txt when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
PORT ?= 8501

.PHONY: venv run test lint bench eval e2e browser postgres clean

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: venv
	$(VENV)/bin/streamlit run streamlit_app.py --server.port $(PORT)

lint: venv
	$(VENV)/bin/ruff check research pages tests bench streamlit_app.py
	$(VENV)/bin/ruff format --check research pages tests bench streamlit_app.py
	$(VENV)/bin/mypy research

# Debian's chromium for the browser tests; in CI a missing browser fails the run.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium"; \
	fi
	@if [ ! -x /usr/bin/chromium ] && [ "$$CI" = "true" ]; then \
	  echo "error: /usr/bin/chromium is missing; browser tests cannot run in CI"; exit 1; fi

# Debian's PostgreSQL server for the store and queue tests (they start a throwaway cluster);
# in CI a missing server fails the run.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "Installing Debian's postgresql for the store and queue tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	    || echo "warning: could not install postgresql"; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$$CI" = "true" ]; then \
	  echo "error: PostgreSQL's initdb is missing; the PostgreSQL tests cannot run in CI"; exit 1; fi

# Two pytest workers (most slow tests wait on subprocesses and servers, not on the CPU); the
# browser tests, which run whole dashboards and workers, then run alone.
test: venv lint browser postgres
	$(PY) -m pytest -n 2 --dist loadgroup -m "not browser"
	$(PY) -m pytest -m browser

e2e: venv browser
	$(PY) -m pytest tests/test_e2e_browser.py

bench: venv postgres
	@for module in $$(ls bench/bench_*.py | sed 's#/#.#; s#\.py$$##'); do \
	  echo "== $$module"; $(PY) -m $$module || exit 1; done

eval: venv
	$(PY) -m bench.eval

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
