# The project's two commands (README): `make demo` and `make test`. Everything they need is set up
# here from python3, a C compiler, CMake and git: a virtual environment in .venv with the package
# installed (not editable: the tests import the installed package, never the source tree).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= out/demo
# Never let the current directory shadow the installed packages.
export PYTHONSAFEPATH := 1

SOURCES := pyproject.toml CMakeLists.txt $(shell find native flight hil ground -type f \
	\( -name '*.py' -o -name '*.c' -o -name '*.h' -o -name '*.toml' \) 2>/dev/null)

.PHONY: all install lint test test-c test-py demo bench clean

all: install

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) $(SOURCES)
	$(PY) -m pip install --quiet --disable-pip-version-check '.[test]'
	touch $@

install: $(VENV)/.installed

test-c:
	cmake -S . -B build/ctest -DPAYLOAD_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build/ctest --parallel
	ctest --test-dir build/ctest --output-on-failure

test-py: install
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check native flight hil ground tests
	$(VENV)/bin/ruff format --check native flight hil ground tests

test: lint test-c test-py

demo: install
	$(PY) -m hil run --out $(DEMO_OUT)

# The checksum peers need the newest fastcrc, which spacepackets' pin forbids in .venv.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: $(VENV)/.installed
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '.[bench]'
	touch $@

bench: $(BENCH_VENV)/.installed
	$(PY) bench/native.py --checksum-python $(BENCH_VENV)/bin/python --json out/bench/native.json

clean:
	rm -rf build out $(VENV) $(BENCH_VENV)
