# avbench: `make run` sets up and runs the whole pipeline on the embedded synthetic dataset;
# `make test` sets up and runs the test suite. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.avbench-installed
CORES ?= all

.PHONY: setup run report test test-quick lint dryrun bench bench-gpu clean

setup: $(STAMP)

# torch, torchvision and torchaudio are pinned together (2.9.1 / 0.24.1 / 2.9.1); torch and
# torchvision first, then torchaudio, then the package itself with its other dependencies.
# Every other package comes pinned from envs/requirements.lock (same commit, same environment, same
# numbers); the package itself is installed without resolving anything more.
$(STAMP): pyproject.toml envs/requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install pip==26.3
	$(BIN)/python -m pip install torch==2.9.1 torchvision==0.24.1
	$(BIN)/python -m pip install torch==2.9.1 torchaudio==2.9.1
	$(BIN)/python -m pip install -r envs/requirements.lock
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python -c "import avbench.media.ffmpeg as f; print('ffmpeg binary:', f.ffmpeg_binary())"
	touch $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) all
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) all --report results/report.html

report: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 1 all --report results/report.html

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q tests

test-quick: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "not slow" tests

# ruff lint and ruff format --check (pyproject's [tool.ruff]), snakefmt --check over the Snakefile and the
# .smk rules ([tool.snakefmt]) and Snakemake's own lint; tests/test_lint.py runs the same four. Nothing is
# rewritten: `ruff format avbench tests benchmarks` and `snakefmt Snakefile workflow/` fix the layout.
lint: $(STAMP)
	$(BIN)/ruff check avbench tests benchmarks
	$(BIN)/ruff format --check avbench tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

# Throughput benchmarks (benchmarks/README.md): writes benchmarks/results.json. video2dataset is
# installed in its own venv under benchmarks/work/ (gitignored); without network it is skipped.
bench: $(STAMP)
	bash benchmarks/setup_video2dataset.sh || echo "video2dataset could not be set up: its comparison is skipped"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench.py

# The GPU path (benchmarks/README.md, "GPU"): training and loader throughput, data wait, and a
# torchrun (NCCL) pretrain + evaluate; writes benchmarks/gpu.json. Without CUDA: a CPU dry run.
GPU_BUDGET_S ?= 420
bench-gpu: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/gpu.py --out benchmarks/gpu.json --budget-s $(GPU_BUDGET_S)

dryrun: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -n all

clean:
	rm -rf results/data results/manifests results/shards results/models results/eval results/cache results/logs results/benchmarks .snakemake
