# normcli: the two commands of the README's quick start, and the rest.
#   make demo   create .venv, install normcli, run it on sample_data/
#   make test   create/refresh .venv with the test tools, lint, run every test
# Needs nothing but python3 (3.10+). Another Python, in its own venv:
#   make test PYTHON=~/.pyenv/versions/3.12.1/bin/python3 VENV=.venv-3.12
# CONSTRAINTS=FILE installs the test tools under pip constraints (.ci/floors.txt).
# .ci/run lints once and runs the suite with every Python pyproject.toml claims.

PYTHON ?= python3
VENV   ?= .venv
CONSTRAINTS ?=
BIN    := $(VENV)/bin
PY     := $(BIN)/python
DEMO   := demo_out

.PHONY: demo test pytest lint format bench plots fuzz clean help

help:
	@echo "make demo   - install into .venv and run normcli on sample_data/"
	@echo "make test   - install test tools into .venv, lint, and run the test suite"
	@echo "make lint   - ruff check and ruff format --check"
	@echo "make format - ruff format and fix what ruff can"
	@echo "make bench  - benchmarks (writes bench/results.md)"
	@echo "make fuzz   - a random fuzzing campaign, MINUTES=30 (writes fuzz-results/summary.md)"
	@echo "make plots  - redraw the README's figures in docs/ from sample_data/"

# pip -qq: no notes about this machine's package mirrors; the editable-install notice of
# setuptools is not for users either.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -qq

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# Installed state is stamped by the files that define it, so an edit re-installs.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PIP) -e '.[test]' $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	@mkdir -p $(DEMO)
	$(BIN)/normcli ls sample_data/mnist_sample.npz
	$(BIN)/normcli describe sample_data/mnist_sample.npz -k x_test
	$(BIN)/normcli normalize sample_data/mnist_sample.npz $(DEMO)/mnist_zscore.npz -k x_test \
		-m zscore --save-params $(DEMO)/zscore.json --force
	$(BIN)/normcli normalize sample_data/mnist_sample.npz $(DEMO)/mnist_per_image.npz -k x_test \
		-m per-image --force
	$(BIN)/normcli describe sample_data/mnist_digits -k images
	$(BIN)/normcli normalize sample_data/mnist_digits $(DEMO)/digits_per_image.npz -k images \
		-m per-image --force

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint pytest

# The suite alone (.ci/run lints once, then runs this with each Python).
pytest: $(VENV)/.installed-test
	$(BIN)/pytest -q

bench: $(VENV)/.installed-test
	$(PY) bench/run.py

# A long random fuzzing campaign (tests/fuzz/); the in-suite one is short and seeded.
MINUTES ?= 30
FUZZ_WORKERS ?= 2
fuzz: $(VENV)/.installed-test
	PYTHONPATH=tests $(PY) -m fuzz.campaign --minutes $(MINUTES) --workers $(FUZZ_WORKERS) \
		--out fuzz-results

# The README's figures, drawn from sample_data/ (matplotlib comes with the test extra).
plots: $(VENV)/.installed-test
	@mkdir -p $(DEMO) docs
	$(BIN)/normcli normalize sample_data/mnist_sample.npz $(DEMO)/mnist_lp_axis1.npz -k x_test \
		-m lp --axis 1 --plot docs/mnist_lp_axis1.png --force -q
	$(BIN)/normcli normalize sample_data/mnist_sample.npz $(DEMO)/mnist_per_image.npz -k x_test \
		-m per-image --plot docs/mnist_per_image.png --force -q

clean:
	rm -rf $(VENV) .venv-3.* $(DEMO) .pytest_cache .ruff_cache .hypothesis bench/work fuzz-results
