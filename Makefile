# The course's commands. On a fresh machine with Python 3.11:
#   make lab    set up what is missing, open JupyterLab on notebooks/   (HEADLESS=1: no browser;
#               LAB_DIR=. for TAs, so formgrader sees the whole course; PORT=..., LAB_ARGS=...)
#   make test   set up what is missing, run every check
#   make outputs  re-execute solutions/, store their outputs: homework the cells nbval compares, lectures a
#                 full run on the real data under COURSE_DATA_DIR (NAMES=... for some; CONTRIBUTING.md)
#   make release  regenerate notebooks/ from solutions/ (after editing a solution)
#   make publish DEST=folder [VERSION=v0.1.0]  write and tag the students' repository (CONTRIBUTING.md, "Releasing and publishing")
#   make lint     ruff check and ruff format --check (make test runs it first; rules in pyproject.toml)

SHELL    := /bin/bash
VENV     ?= .venv
PYTHON   ?= $(shell command -v python3.11 || command -v python3)
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.course-installed
PORT     ?= 8888
HEADLESS ?=
LAB_ARGS ?=
LAB_DIR  ?= notebooks
JOBS     ?= 3
TEST_THREADS ?= 1
PYTEST_ARGS ?=

# nbgrader runs commands of its own environment (alembic): the venv comes first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install lab test release outputs kernel clean-course

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else print(f"Python 3.11 is needed, found {v[0]}.{v[1]} at $(PYTHON); set PYTHON=/path/to/python3.11") or 1)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

kernel: $(STAMP)
	@$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dl-course)" >/dev/null
	@echo "Jupyter kernel 'Python 3 (dl-course)' installed in $(VENV)"

lab: kernel
	jupyter lab --config=$(CURDIR)/autograde/jupyter_server_config.py --ServerApp.root_dir=$(LAB_DIR) --ServerApp.port=$(PORT) --ServerApp.ip=127.0.0.1 \
	  $(if $(HEADLESS),--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# System packages some checks use, from Debian's archive: installed with apt-get when possible (root
# and apt-get); otherwise a message says what is missing and what runs without it.
#   chromium   -- the browser test (tests/test_browser.py) drives it; skipped, with the reason, without it
#   bubblewrap -- the grading sandbox (make grade); without it (and without Podman) make grade refuses
#   postgresql -- the server tests/test_grade_postgres.py starts (a private one, in a temporary folder)
#                 to grade into PostgreSQL; skipped, with the reason, without it
# $(call apt_install,COMMAND,PACKAGE,WHAT HAPPENS WITHOUT IT)
define apt_install
	@if command -v $(1) >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's $(2) (apt-get install $(2)) ..."; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } \
	    || echo "Could not install $(2) with apt-get: $(3)."; \
	else \
	  echo "$(2) is not installed and cannot be installed here (needs root and apt-get; try:" \
	       "sudo apt-get install $(2)): $(3)."; \
	fi
endef

.PHONY: chromium bubblewrap postgresql
chromium:
	$(call apt_install,chromium,chromium,the browser test will be skipped)

bubblewrap:
	$(call apt_install,bwrap,bubblewrap,make grade needs it or Podman with the grading image (docs/grading.md))

# Debian keeps the server programs off PATH (/usr/lib/postgresql/N/bin); pg_ctlcluster comes with them.
postgresql:
	$(call apt_install,pg_ctlcluster,postgresql,the PostgreSQL gradebook test will be skipped)

# JOBS pytest workers share the cores; one torch thread each (more threads per worker oversubscribe
# the cores, and the small convolutions of quick mode then run several times slower). Three on two
# cores: a third of a worker's time is spent waiting on a server, a kernel or a sandbox starting.
test: $(STAMP) lint chromium bubblewrap postgresql
	COURSE_QUICK=1 MPLBACKEND=Agg OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -n $(JOBS) --dist loadfile $(PYTEST_ARGS)

release: $(STAMP)
	$(PY) -m autograde.release

# ruff's rules are in pyproject.toml ([tool.ruff]); `ruff format` and `ruff check --fix` apply them.
.PHONY: lint
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The students' repository: notebooks/ (checked against solutions/ first), course_utils and the students'
# README, Makefile and environment files, committed in DEST and tagged VERSION (default: v + pyproject's version).
.PHONY: publish
publish: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make publish DEST=<folder> [VERSION=v0.1.0]"; exit 2; }
	$(PY) -m autograde.release --check
	$(PY) -m autograde.publish $(DEST) $(if $(VERSION),--version $(VERSION))

# After editing a solution: store its outputs (NAMES=... for some assignments), then release.
outputs: $(STAMP)
	$(PY) -m autograde.outputs $(NAMES)

clean-course:
	rm -rf autograde/gradebook.db autograde/submitted autograde/autograded autograde/feedback

# Grade a batch of submissions (docs/grading.md):
#   make grade ASSIGNMENT=01_hw0_warmup SUBMISSIONS=path/to/folder [WORKERS=2] [GRADE_ARGS="--db URL --data PATH"]
# The sandbox is bubblewrap (see apt_install above), else Podman; python -m autograde.grade --help lists every option.
.PHONY: grade
grade: $(STAMP) bubblewrap
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade ASSIGNMENT=<name> SUBMISSIONS=<folder>"; exit 2; }
	$(PY) -m autograde.grade $(ASSIGNMENT) $(SUBMISSIONS) $(if $(WORKERS),--workers $(WORKERS)) $(GRADE_ARGS)

# Which submissions share code or written answers (docs/grading.md, "Similarity report"); changes no grade:
#   make similarity ASSIGNMENT=04_hw1_layer_sizes SUBMISSIONS=path/to/folder [SIMILARITY_ARGS="--roster roster.csv"]
.PHONY: similarity
similarity: $(STAMP)
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || { echo "usage: make similarity ASSIGNMENT=<name> SUBMISSIONS=<folder>"; exit 2; }
	$(PY) -m autograde.similarity_page $(ASSIGNMENT) $(SUBMISSIONS) $(SIMILARITY_ARGS)

# After hand grading in formgrader (docs/grading.md, "After hand grading"), from nbgrader's gradebook:
#   make export ASSIGNMENT=... [FORMAT=plain|canvas|moodle] [EXPORT_ARGS="--roster roster.csv --db URL"]
#   make feedback ASSIGNMENT=... [EXPORT_ARGS="--db URL"]     feedback pages with the manual scores, LMS zips
FORMAT ?= plain
.PHONY: export feedback
feedback export: $(STAMP)
	@test -n "$(ASSIGNMENT)" || { echo "usage: make $@ ASSIGNMENT=<name>$(if $(filter export,$@), [FORMAT=plain|canvas|moodle]) [EXPORT_ARGS=\"--roster roster.csv --db URL\"]"; exit 2; }
	$(PY) -m autograde.export $(if $(filter export,$@),grades --format $(FORMAT),feedback) $(ASSIGNMENT) $(EXPORT_ARGS)
