# Two commands for users: `make demo` and `make test`. Both run `make setup` first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi gdb-multiarch cmake make
TOOLCHAIN := sdk/cmake/arm-none-eabi.cmake

.PHONY: setup apt venv examples demo test bench lint clean

setup: apt venv

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

examples: setup
	cmake -S sdk/examples -B $(BUILD)/examples -DCMAKE_TOOLCHAIN_FILE=$(TOOLCHAIN) >/dev/null
	cmake --build $(BUILD)/examples

MV := $(VENV)/bin/microvisor
DEMO := $(BUILD)/demo

demo: examples
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(MV) platform init $(DEMO)/platform
	$(MV) device create $(DEMO)/device --platform $(DEMO)/platform
	$(MV) apps bundle $(BUILD)/examples/blinky/blinky.elf $(DEMO)/blinky.zip --unsigned
	$(MV) device run $(DEMO)/device --app $(DEMO)/blinky.zip --until "LED off" --timeout 10 --trace gpio
	$(MV) device inspect $(DEMO)/device

test: setup
	$(PY) -m pytest -q

bench: examples
	$(PY) bench/cpu.py

lint: setup
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(BUILD)
