# Two commands do all set-up on a fresh machine:
#   make demo   train the Banking77 specialist on the bundled base model and show its card
#   make test   install the Debian packages the tests need, then run the test suite
# The venv installs the exact versions of requirements.lock (every extra), then the project
# itself with --no-deps; `make lock` recompiles the lock from pyproject.toml's ranges.
# llama-cpp-python is installed by scripts/llama-cpp-wheel.sh from a wheel it builds once and caches
# outside the checkout (no binary wheel exists on PyPI; compiling takes minutes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RIGHTMODEL_HOME ?= $(CURDIR)/.rightmodel

.PHONY: demo test venv bench clean lock wheel system-packages

$(VENV)/.installed: requirements.lock pyproject.toml setup.py scripts/llama-cpp-wheel.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	bash scripts/llama-cpp-wheel.sh $(PY)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

system-packages:
	@bash scripts/system-packages.sh

demo: venv
	$(PY) -m rightmodel.demo

test: venv system-packages
	$(PY) -m pytest -q -p no:cacheprovider --timeout 900 --durations=15 tests

bench: venv
	$(PY) bench/specialists.py

# Exact versions for make and CI. torch is held at 2.13.0, the CPU build (lock-pins.txt).
lock: venv
	$(PY) -m piptools compile --quiet --all-extras --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links -c lock-pins.txt -o requirements.lock pyproject.toml

# The wheel users install; built without isolation so setup.py finds the base weights in the venv.
wheel: venv
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) .rightmodel dist build
