# Two commands for users: `make demo` and `make test`. Both run `make setup` first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi gdb-multiarch cmake make mosquitto \
	gcc mosquitto-dev libmosquitto-dev libssl-dev softhsm2 chromium
TOOLCHAIN := sdk/cmake/arm-none-eabi.cmake

.PHONY: setup apt venv bytecode examples demo demo-factory test bench lint clean

setup: apt venv bytecode

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The project's bytecode, written once here: each command starts without compiling our source again,
# even where PYTHONDONTWRITEBYTECODE keeps Python from writing it (compileall skips what is up to date).
bytecode: venv
	$(PY) -m compileall -q src

examples: setup
	cmake -S sdk/examples -B $(BUILD)/examples -DCMAKE_TOOLCHAIN_FILE=$(TOOLCHAIN) >/dev/null
	cmake --build $(BUILD)/examples

# A server in a temporary folder, two devices, blinky v1 then v2 over the air (scripts/demo.py).
demo: examples
	$(PY) scripts/demo.py --examples $(BUILD)/examples

# The factory: an SFI card on a SoftHSM2 token, an SPI image, three blank chips through the station.
demo-factory: examples
	$(PY) scripts/demo_factory.py --examples $(BUILD)/examples

test: setup
	$(PY) -m pytest -q

# The CPU benchmark also runs the workload on QEMU's mps2-an505 (left out of the figures if missing).
BENCH_APT_PACKAGES := qemu-system-arm

.PHONY: bench-apt bench-startup
bench-apt:
	@missing=""; for p in $(BENCH_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

bench: examples bench-apt
	$(PY) bench/cpu.py

bench-startup: examples
	$(PY) bench/startup.py

.PHONY: bench-fleet bench-debug bench-factory bench-channels bench-deltas
bench-fleet: examples
	$(PY) bench/fleet.py

bench-debug: examples
	$(PY) bench/debug.py

bench-factory: examples
	$(PY) bench/factory.py

bench-channels: setup
	$(PY) bench/channels.py

# The bytes an update ships: whole layers, our patch (detools) and bsdiff4 for a one-function change and
# a change that moves code.
bench-deltas: setup
	$(PY) bench/deltas.py

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts

clean:
	rm -rf $(BUILD)
