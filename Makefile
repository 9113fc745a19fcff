# Two commands do all the set-up on a fresh machine:
#   make demo   interpolate a real sample clip with the default model (fetches clip and weights)
#   make test   run the test suite
# Both create .venv with Python 3.12+ and install everything they need into it. vsrife is installed as a
# regular (non-editable) package, because its native plugin must land in site-packages/vapoursynth/plugins/
# for VapourSynth to autoload it; the install is redone whenever a source file changes.

PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps
STAMP := $(VENV)/.installed
SOURCES := $(shell find vsrife training native -name '*.py' -o -name '*.c') models/manifest.toml $(wildcard vsrife/data/*.npz)
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean

$(DEPS): setup.py constraints.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.12 or newer is needed (VapourSynth R74+ wheels are cp312 abi3)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt '.[dev]'
	$(VENV)/bin/vapoursynth config >/dev/null
	@touch $@

$(STAMP): $(DEPS) $(SOURCES)
	@# venvs made before the distribution was renamed hold it as "vsrife", the name vs-rife has on the registry
	@$(PY) -I -c "import importlib.metadata as m; m.version('vsrife') == '0.1.0' or exit(1)" 2>/dev/null \
		&& $(PY) -m pip uninstall --quiet --yes vsrife || true
	$(PY) -m pip install --quiet --no-deps --force-reinstall .
	@# the checkout's vsrife/ is what `python -m pytest` and `python -m training` import: give it the same kernels
	@# (through a new file: copying over the old one in place crashes any process that has it loaded)
	for so in "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/vsrife/_kernels*.so; do \
		cp "$$so" "vsrife/.$${so##*/}.part" && mv -f "vsrife/.$${so##*/}.part" "vsrife/$${so##*/}"; done
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py --out output

test: $(STAMP)
	$(VENV)/bin/ruff check vsrife training tests examples tools
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check vsrife training tests examples tools
	$(VENV)/bin/ruff format --check vsrife training tests examples tools

clean:
	rm -rf $(VENV) build *.egg-info output
