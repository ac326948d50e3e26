# The project's two commands (README): `make demo` and `make test`. Everything they need is set up
# here from python3, a C compiler, CMake and git: a virtual environment in .venv with the package
# installed (not editable: the tests import the installed package, never the source tree).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= out/demo
# Never let the current directory shadow the installed packages.
export PYTHONSAFEPATH := 1

SOURCES := pyproject.toml CMakeLists.txt $(shell find native flight hil ground -type f \
	\( -name '*.py' -o -name '*.c' -o -name '*.h' -o -name '*.toml' -o -name '*.js' -o -name '*.html' \
	-o -name '*.css' \) 2>/dev/null)

.PHONY: all install icd lint test test-realtime test-vm bench-vm test-c test-sanitize test-aarch64 test-py fuzz ensure-clang ensure-aarch64 ensure-socat ensure-tmux ensure-chromium ensure-postgresql ensure-vm-tools ensure-vm-aarch64 vm-disk image-aarch64 demo bench clean

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

# socat joins two ptys into a "cable" for the bench's serial-port tests.
ensure-socat:
	$(call need,socat,socat)

# tmux: the console's test in a real terminal.
ensure-tmux:
	$(call need,tmux,tmux)

# PostgreSQL's server binaries: the archive's tests and bench/ground.py start a throwaway server
# (hil/postgresql.py), on the PATH or in Debian's /usr/lib/postgresql/N/bin.
ensure-postgresql:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  { echo "needs PostgreSQL's server: apt-get install postgresql"; exit 1; }

# Debian's Chromium: the web mission control's tests drive it headless (Playwright).
ensure-chromium:
	$(call need,chromium,chromium)

# The flight computer in a virtual machine (docs/image.md): a disk built from Debian's packages
# by mmdebstrap, partitioned by sfdisk, its file systems written by mke2fs and mtools; booted by
# QEMU.
ensure-vm-tools:
	$(call need,mmdebstrap,mmdebstrap)
	$(call need,sfdisk,fdisk)
	$(call need,mcopy,mtools)
	$(call need,mkfs.vfat,dosfstools)
	$(call need,qemu-system-x86_64,qemu-system-x86)
	$(call need,depmod,kmod)
	$(call need,cpio,cpio)

# An AArch64 disk has its initramfs made here from its own modules (kmod's depmod and modprobe,
# cpio: ensure-vm-tools) and boots under qemu-system-aarch64.
ensure-vm-aarch64: ensure-vm-tools
	$(call need,qemu-system-aarch64,qemu-system-arm)

# A bench's flight disk: keys, this checkout's bundle, the sample jobs, the guest agent; then
# python -m hil run SCENARIO --out OUT --flight-vm $(VM_DIR)/disk.img --keys $(VM_DIR)/keys
# (VM_TARGET=aarch64: the AArch64 disk, in build/vm-aarch64)
VM_TARGET ?= x86_64
VM_DIR ?= build/vm$(if $(filter aarch64,$(VM_TARGET)),-aarch64)
vm-disk: install ensure-vm-tools $(if $(filter aarch64,$(VM_TARGET)),ensure-vm-aarch64 image-aarch64)
	test -f $(VM_DIR)/keys/flight.toml || $(PY) -m ground keys provision $(VM_DIR)/keys
	rm -rf $(VM_DIR)/bundle $(VM_DIR)/jobs
	$(PY) -m flight image build --target $(VM_TARGET) --out $(VM_DIR)/bundle \
		--key $(VM_DIR)/keys/image.toml
	$(PY) -m hil jobs $(VM_DIR)/jobs
	printf 'PAYLOAD_GPU=simulated\n' > $(VM_DIR)/payload.conf
	$(PY) -m flight image disk $(VM_DIR)/bundle/payload-flight-*.tar --target $(VM_TARGET) \
		--out $(VM_DIR)/disk.img --keys $(VM_DIR)/keys/flight.toml \
		--site-config $(VM_DIR)/payload.conf --job-area $(VM_DIR)/jobs --package python3-numpy \
		--state-size 1024 --engineering --cache build/vm-cache

# The flight computer VM's full set (docs/hil.md): systemd's behaviours and the hardware
# watchdog, the watchdog scenario, the A/B update across real restarts, a reboot and a power cut,
# power cuts at random instants (VM_POWER_CUTS, 50), and the AArch64 disk's first boot under
# qemu-system-aarch64. make test runs its boot test only.
test-vm: install ensure-vm-aarch64 image-aarch64
	$(VENV)/bin/pytest -m vm_full -s tests/hil

test-py: install ensure-socat ensure-tmux ensure-chromium ensure-postgresql ensure-vm-tools image-aarch64
	$(VENV)/bin/pytest --durations=15

lint: install
	$(VENV)/bin/ruff check native flight hil ground tests fuzz
	$(VENV)/bin/ruff format --check native flight hil ground tests fuzz

# The C tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize:
	cmake -S . -B build/sanitize -DPAYLOAD_BUILD_TESTS=ON -DPAYLOAD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build/sanitize --parallel
	ctest --test-dir build/sanitize --output-on-failure

# $(call need,COMMAND,DEBIAN PACKAGES): install the packages from Debian when COMMAND is missing
# (as root, as in CI); otherwise say what to install.
need = @command -v $(1) >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } || \
	{ echo "needs $(1): apt-get install $(2)"; exit 1; }

ensure-clang:
	$(call need,clang,clang)

ensure-aarch64:
	$(call need,aarch64-linux-gnu-gcc,gcc-aarch64-linux-gnu)
	$(call need,qemu-aarch64,qemu-user)

# The C core cross-compiled for AArch64 and its tests run under qemu-user: the CRC32 and PMULL
# paths, which no x86-64 machine runs natively.
test-aarch64: ensure-aarch64
	cmake -S . -B build/aarch64 --toolchain cmake/aarch64-linux-gnu.cmake -DPAYLOAD_BUILD_TESTS=ON
	cmake --build build/aarch64 --parallel
	ctest --test-dir build/aarch64 --output-on-failure

# The AArch64 flight image (python -m flight image build --target aarch64) compiles the C core
# against Debian's arm64 Python headers, and its test runs Debian's arm64 Python under qemu-user:
# both come from Debian's arm64 packages, unpacked (not installed) into build/sysroot-aarch64.
AARCH64_SYSROOT := build/sysroot-aarch64
AARCH64_DEBS := libc6 libexpat1 libffi8 libgcc-s1 libpython3.11-dev libpython3.11-minimal \
	libpython3.11-stdlib libsqlite3-0 libssl3 python3.11-minimal zlib1g
$(AARCH64_SYSROOT)/.unpacked:
	@command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || \
	  { echo "needs Debian's arm64 packages, unpacked by root with apt-get: make image-aarch64"; exit 1; }
	dpkg --print-foreign-architectures | grep -qx arm64 || \
	  { dpkg --add-architecture arm64 && apt-get update -qq; }
	rm -rf $(AARCH64_SYSROOT) && mkdir -p $(AARCH64_SYSROOT)/debs
	cd $(AARCH64_SYSROOT)/debs && apt-get download -qq $(AARCH64_DEBS:%=%:arm64) 2>&1 | \
	  { grep -v "unsandboxed" || true; }
	for deb in $(AARCH64_SYSROOT)/debs/*.deb; do dpkg-deb -x $$deb $(AARCH64_SYSROOT); done
	touch $@

image-aarch64: ensure-aarch64 $(AARCH64_SYSROOT)/.unpacked

# Each fuzz target for SECONDS (or FUZZ_SECONDS) seconds: the C decoders under the sanitizers
# (libFuzzer), then the Python decoders (atheris, fuzz/run.py); new inputs go to
# build/fuzz/corpus-*, the seeds stay in native/fuzz/corpus and fuzz/corpus.
SECONDS ?= 60
FUZZ_SECONDS ?= $(SECONDS)
FUZZ_TARGETS := cobs packets crc uslp cltu cfdp_data cfdp_receive
$(VENV)/.fuzz-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check '.[fuzz]'
	touch $@

fuzz: ensure-clang $(VENV)/.fuzz-installed
	CC=clang cmake -S . -B build/fuzz -DPAYLOAD_FUZZ=ON -DPAYLOAD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug
	cmake --build build/fuzz --parallel
	@set -o pipefail; for t in $(FUZZ_TARGETS); do mkdir -p build/fuzz/corpus-$$t; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build/fuzz/corpus-$$t native/fuzz/corpus/$$t 2>&1 | \
	    grep -E "^stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" | sed "s/^/fuzz_$$t: /" \
	    || exit 1; done
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS) --out build/fuzz

test: lint test-c test-sanitize test-aarch64 test-py
	$(MAKE) fuzz FUZZ_SECONDS=5

# Every shipped scenario in real time x20, and passes and the nominal day's first four hours at
# x5, four runs at once (about an hour on two cores): tests/realtime_runs.py, docs/hil.md.
test-realtime: install
	$(PY) tests/realtime_runs.py --out out/realtime

demo: install
	$(PY) -m hil run --out $(DEMO_OUT)

# Regenerate the dictionary section of the ICD after changing flight/dictionary/.
icd: install
	$(PY) -m flight icd --write docs/icd.md

# The checksum peers need the newest fastcrc, which spacepackets' pin forbids in .venv.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: $(VENV)/.installed
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '.[bench]'
	touch $@

bench: $(BENCH_VENV)/.installed ensure-chromium ensure-postgresql
	@# every bench runs; the target fails at the end if any missed a target it states
	@failed=""; for run in \
	  "native.py --checksum-python $(BENCH_VENV)/bin/python --json out/bench/native.json" \
	  "hil_link.py --json out/bench/hil_link.json" \
	  "scheduling.py --json out/bench/scheduling.json" \
	  "downlink.py --json out/bench/downlink.json" \
	  "ground.py --json out/bench/ground.json" \
	  "console.py --json out/bench/console.json" \
	  "lockstep.py --json out/bench/lockstep.json" \
	  "replay_writes.py --json out/bench/replay_writes.json" \
	  "auth.py --json out/bench/auth.json" \
	  "web.py --json out/bench/web.json" \
	  "uslp.py --json out/bench/uslp.json" \
	  "cop1.py --json out/bench/cop1.json" \
	  "fleet.py --json out/bench/fleet.json" \
	  "integrity.py --json out/bench/integrity.json" \
	  ; do echo "== bench/$$run"; $(PY) bench/$$run || failed="$$failed $${run%% *}"; done; \
	if [ -n "$$failed" ]; then echo "MISSED in:$$failed"; exit 1; fi

# The flight computer VM's boot and restart times (docs/performance.md): needs make vm-disk's disk.
bench-vm: vm-disk
	$(PY) bench/flight_vm.py $(VM_DIR)/disk.img --json out/bench/flight_vm.json

clean:
	rm -rf build out $(VENV) $(BENCH_VENV)
