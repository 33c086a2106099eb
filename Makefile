# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BROWSER := $(VENV)/.browser

.PHONY: demo test lint soak bench schemas dashboards clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The experience-map test drives a real headless browser: Debian's chromium.
$(BROWSER):
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  (echo "The browser test needs Debian's chromium: apt-get install chromium" >&2; exit 1)
	touch $(BROWSER)

demo: $(STAMP)
	$(BIN)/journeys demo

test: $(STAMP) $(BROWSER)
	$(BIN)/ruff check .
	$(BIN)/mypy journeys foundation schemas producers streams clickhouse grafana
	$(BIN)/pytest -q -m "not soak" --durations=20

soak: $(STAMP)
	$(BIN)/pytest -q -m soak

bench: $(STAMP)
	$(BIN)/python -m bench

schemas: $(STAMP)
	$(BIN)/journeys schemas export schemas/json

dashboards: $(STAMP)
	$(BIN)/journeys grafana build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
