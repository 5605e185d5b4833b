# wbs-accel — the two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv if missing and installs the project with the pinned constraints.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PARAMS ?= notebooks/params/demo.yaml

.PHONY: install demo smoke test format lab bench strip clean-runs screenshots

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,cpu-fast]'
	touch $(STAMP)

install: $(STAMP)

demo: install            ## whole pipeline on the synthetic demo cohort → reports/demo/index.html
	$(VENV)/bin/wbs run --params $(PARAMS)

smoke: install           ## the same pipeline, tiny (what CI runs inside the tests)
	$(VENV)/bin/wbs run --params notebooks/params/smoke.yaml

test: install            ## lint, layer contracts, unit, oracle, property and notebook smoke tests (CPU)
	$(VENV)/bin/ruff check wbslib tests benchmarks
	$(VENV)/bin/ruff format --check wbslib tests benchmarks
	MPLBACKEND=Agg $(VENV)/bin/pytest -q -p no:cacheprovider

format: install          ## apply the code style (ruff: lint fixes, then format)
	$(VENV)/bin/ruff check --fix wbslib tests benchmarks
	$(VENV)/bin/ruff format wbslib tests benchmarks

lab: install             ## JupyterLab on notebooks/ with this environment as the kernel
	$(VENV)/bin/jupyter lab notebooks/

bench: install           ## benchmark tables (CPU; on a GPU machine they add CUDA rows)
	$(PY) benchmarks/bench_simulation.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_infer.py

screenshots: install     ## top of 05 and of the index at 1366/412 px → reports/<run>/screenshots/ (Chromium)
	$(PY) -m wbslib.report.screenshots --params $(PARAMS)

strip: install           ## remove outputs from notebooks before committing
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean-runs:              ## delete run folders and rendered reports (never data or manifests)
	rm -rf runs reports/*/
