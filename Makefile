# The two commands of the README. `make demo` runs one node on the embedded default
# (SQLite + local files + in-process bus) streaming a MIT-BIH record; `make test` installs
# what the tests need and runs the whole suite (CI runs exactly this: .ci/run).
PYTHON ?= python3
PORT ?= 8080
# WFDB record the demo streams (default: ../shared/data/mitdb/101 beside this checkout)
DEMO_RECORD ?=

.PHONY: demo test bench

demo:
	$(PYTHON) -m pip install -q --disable-pip-version-check -e .
	$(PYTHON) -m teleconsult serve --demo --port $(PORT) --data-dir ./teleconsult-data \
		$(if $(DEMO_RECORD),--demo-record $(DEMO_RECORD),)

test:
	PYTHON=$(PYTHON) ./scripts/install-test-deps.sh
	$(PYTHON) -m pytest -q -p no:cacheprovider

bench:
	$(PYTHON) -m loadtest --steps 50,100,150,200 --duration-s 20
