#!/usr/bin/env bash
# As the official image's entrypoint: `bash ...` and `python ...` run as given, anything else is an
# Airflow subcommand (`api-server`, `scheduler`, `celery worker`, ...). exec: Airflow is PID 1 and
# gets the container's stop signal.
set -euo pipefail
case "${1:-}" in
  bash|sh|python|python3) exec "$@" ;;
  *) exec airflow "$@" ;;
esac
