# The platform's commands. `make up` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(PYTHON) -m uv
ENV_FILE ?= .env
STACK_CLI := $(PY) -m stack --env-file $(ENV_FILE)

.DEFAULT_GOAL := help
.PHONY: help install browser redis up down status logs clean test test-unit test-integration test-compose \
        lint demo demo-drift new-project ids-offer bench bench-against requirements worker worker-env

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The environment comes from the committed lock file; uv is installed when missing. Bytecode is
# compiled at install: with PYTHONDONTWRITEBYTECODE set, every process would compile it anew.
$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --compile-bytecode --python $(PYTHON) --quiet
	@touch $@

install: $(VENV)/.synced ## create or update the Python environment from uv.lock

up: install ## start the platform (Compose when a Docker engine answers, else native) and wait until ready
	@$(STACK_CLI) up

down: install ## stop every service, keep the data
	@$(STACK_CLI) down

status: install ## show each service's state and readiness
	@$(STACK_CLI) status

logs: install ## follow the logs (SERVICE=name for one service)
	@$(STACK_CLI) logs $(SERVICE)

clean: install ## stop the platform and delete all its data (asks first)
	@$(STACK_CLI) clean

lint: install ## ruff over the whole repository
	@$(PY) -m ruff check .

# The browser tests drive Debian's Chromium (never a browser that downloads itself). Installed
# when root with apt-get; elsewhere the browser tests report skipped, saying how to enable them.
browser: install
	@$(PY) -m stack.system_packages --optional chromium=chromium chromedriver=chromium-driver

redis: install
	@$(PY) -m stack.native.debian_redis

test: install browser redis ## unit tests, then integration tests against a stack of their own
	@$(PY) -m pytest

test-unit: install redis ## the tests that need no running stack
	@$(PY) -m pytest -m "not integration"

test-integration: install browser ## the tests that drive a live stack
	@$(PY) -m pytest -m integration

# The same integration suite against the unchanged docker-compose.yml: on your Docker engine, or
# where none runs, on a private one from Debian's packages with stand-in base images (tests/compose/).
# Tests that drive the native runner itself (supervisord, its processes) are marked `native`.
test-compose: install browser ## the integration suite against a private Compose stack (see tests/compose/README.md)
	@STACK=compose $(PY) -m pytest

# Scale-out (AIRFLOW_EXECUTOR=celery): on the stack's machine `make worker-env SERVER=address`
# prints a worker machine's .env; there, `make worker` starts one more worker (README).
worker-env: install ## print the .env of a Celery worker machine: make worker-env SERVER=address-of-this-machine
	@test -n "$(SERVER)" || { echo "usage: make worker-env SERVER=address-other-machines-reach-this-one-at"; exit 2; }
	@$(STACK_CLI) worker-env "$(SERVER)"

worker: install ## start one more Celery worker of a stack on another machine (NAME=worker name)
	@$(STACK_CLI) worker $(if $(NAME),--name "$(NAME)")

requirements: install ## export each image's requirements.txt from uv.lock (with hashes)
	@$(PY) -m stack.image_requirements

ids-offer: install ## offer a file in the IDS edge's catalog: make ids-offer FILE=path TITLE=title
	@test -n "$(FILE)" -a -n "$(TITLE)" || { echo "usage: make ids-offer FILE=path/to/file TITLE='resource title'"; exit 2; }
	@set -a; . ./$(ENV_FILE); set +a; PYTHONPATH=ids-mock $(PY) -m ids_mock offer --file "$(FILE)" --title "$(TITLE)"

demo: install ## run the example pipeline on the running stack and show its tasks, links and a prediction
	@$(PY) -m stack.demo

demo-drift: install ## the monitoring loop on the running stack: served traffic, then shifted traffic, drift, retraining, decision
	@$(PY) -m stack.demo_drift

new-project: install ## a new project in projects/NAME (TASK=classification for the wine example)
	@test -n "$(NAME)" || { echo "usage: make new-project NAME=my-project [TASK=classification]"; exit 2; }
	@$(PY) -m stack.new_project --env-file $(ENV_FILE) --task "$(or $(TASK),regression)" "$(NAME)"

bench: install ## measure start-up, pipeline, memory, IDS transfer and serving beside their baselines (bench/README.md)
	@$(PY) -m bench

bench-against: install ## the benchmarks before (REV) and after (this checkout), turn by turn: make bench-against REV=main
	@test -n "$(REV)" || { echo "usage: make bench-against REV=commit-or-branch [ONLY=pipeline,memory]"; exit 2; }
	@$(PY) -m bench.against "$(REV)" $(if $(ONLY),--only $(ONLY))
