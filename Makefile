# Everything runs inside .venv, made here from the repository's own files.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PLUGINS := $(sort $(dir $(wildcard plugins/*/*/pyproject.toml)))
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench bench-dvs clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' $(addprefix -e ,$(PLUGINS)) -r requirements-dev.txt
	# torch is test-only (ONNX export); the pin takes the CPU wheel, never a CUDA build
	$(PY) -m pip install --quiet torch==2.13.0 onnxruntime onnxscript
	touch $@

demo: setup
	$(PY) examples/mnist/train.py
	$(VENV)/bin/snn run examples/mnist/experiment.toml --set output.overwrite=true

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest tests plugins

bench: setup
	$(PY) benchmarks/run.py

bench-dvs: setup
	$(PY) benchmarks/dvs.py

clean:
	rm -rf $(VENV) .cache
