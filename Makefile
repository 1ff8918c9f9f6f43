# Two commands do all set-up on a fresh machine:
#   make demo   train the Banking77 specialist on the bundled base model and show its card
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RIGHTMODEL_HOME ?= $(CURDIR)/.rightmodel

.PHONY: demo test venv bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m rightmodel.demo

test: venv
	$(PY) -m pytest -q -p no:cacheprovider --timeout 900 tests

bench: venv
	$(PY) bench/specialists.py

clean:
	rm -rf $(VENV) .rightmodel
