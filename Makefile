# mps-verify: `make check` runs the main job, `make test` the project's tests. Both set up .venv.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SRC ?=
FULL ?=
ARGS ?=

.PHONY: setup check test check-specs check-specs-all structural tsa lockgraph runtime report bench \
        bench-specs bench-structural bench-gate bench-hostile bench-scaling corpus gate fuzz rulepages scanner clean

## compat: a plain path in a .pth file; the default path finder costs every command's start ~25 ms
$(STAMP): pyproject.toml Makefile
	@test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[runtime,dev]' \
	  --config-settings editable_mode=compat
	@touch $(STAMP)

setup: $(STAMP)

## the main job on the embedded default: fast spec tier + analyzers on the torch wheel's MPS headers.
## Its exit code goes through (make itself then reports "Error N" and exits 2), with what N means.
check: $(STAMP)
	@rc=0; $(PYTHON) -m checks.check $(ARGS) || rc=$$?; \
	case $$rc in \
	  1) echo "make check: exit 1 = findings: the checks ran and found the problems listed above (not a crash); see docs/rules/ for each rule id";; \
	  2) echo "make check: exit 2 = a usage or input error (the error line above says which)";; \
	  3) echo "make check: exit 3 = a required tool is missing (the error line above says how to install it)";; \
	esac; exit $$rc

## the project's tests (CPU-sized runtime tests included)
test: $(STAMP) corpus
	MPS_VERIFY_REQUIRE_CORPUS=1 $(PYTHON) -m pytest -q tests runtime_tests -m "not slow and not full" $(ARGS)

check-specs: $(STAMP)
	$(PYTHON) -m checks.specs --tier fast $(ARGS)

check-specs-all: $(STAMP)
	$(PYTHON) -m checks.specs --tier all $(ARGS)

structural: $(STAMP)
	$(PYTHON) -m checks.structural $(or $(SRC),--torch-headers) $(ARGS)

tsa: $(STAMP)
	$(PYTHON) -m checks.tsa $(or $(SRC),--torch-headers) $(ARGS)

lockgraph: $(STAMP)
	$(PYTHON) -m checks.lockgraph $(or $(SRC),--torch-headers) $(ARGS)

gate: $(STAMP)
	$(PYTHON) -m checks.gate $(ARGS)

## docs/rules/: one page per ST rule, generated from analyzers/catalogue.yaml and the rules' fixtures
rulepages: $(STAMP)
	$(PYTHON) -m checks.rulepages $(ARGS)

## analyzers/grammar.scanner, the lexer's scanner made from grammar.lark (after changing the grammar)
scanner: $(STAMP)
	$(PYTHON) -m checks.scanner $(ARGS)

runtime: $(STAMP)
	$(PYTHON) -m runtime_tests run $(if $(FULL),--full,--quick) $(ARGS)

report: $(STAMP)
	$(PYTHON) -m runtime_tests report $(ARGS)

bench: bench-specs bench-structural bench-gate bench-hostile bench-scaling

bench-specs: $(STAMP)
	$(PYTHON) -m checks.bench_specs

bench-structural: $(STAMP) corpus
	$(PYTHON) -m checks.bench_structural

bench-gate: $(STAMP) corpus
	$(PYTHON) -m checks.bench_gate

## structural, lockgraph and tsa on the MPS tree and nested 5/10/20 MB subsets of the 2.6.0 source,
## next to the design before issue #19 (PREVIOUS=rev to choose another; see docs/structural.md)
bench-scaling: $(STAMP) corpus
	$(PYTHON) -m checks.corpus --scaling
	$(PYTHON) -m checks.bench_scaling $(if $(PREVIOUS),--previous $(PREVIOUS)) $(ARGS)

## issue #15's pathological inputs at 64 KB, 256 KB and 1 MB (CPU seconds; linear is x16)
bench-hostile: $(STAMP)
	$(PYTHON) -m checks.bench_hostile

## mutation fuzzing of every analysis stage on the corpus (SECONDS, SEED; see docs/hardening.md)
fuzz: $(STAMP) corpus
	$(PYTHON) -m checks.fuzz --seconds $(or $(SECONDS),60) --seed $(or $(SEED),0) $(ARGS)

corpus: $(STAMP)
	$(PYTHON) -m checks.corpus

clean:
	rm -rf .mps-verify/specs .mps-verify/cache .pytest_cache
