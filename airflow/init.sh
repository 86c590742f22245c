#!/usr/bin/env bash
# Migrate Airflow's database and write the admin's login: the one-shot both runners run before
# any other Airflow component starts. Safe to run again.
set -euo pipefail

# The native runner forks `airflow` from its Airflow fork server (airflow/forkserver.py), which
# has imported Airflow already; in Compose this runs in the image.
if [[ -n "${AIRFLOW_FORKSERVER_SOCKET:-}" ]]; then
  python -S "$(dirname "$0")/forked.py" db migrate
else
  airflow db migrate
fi

# SimpleAuthManager reads users' passwords from this JSON file; it comes from .env, never from code.
python - <<'PY'
import json, os, tempfile

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
os.makedirs(os.path.dirname(path), exist_ok=True)
handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
with os.fdopen(handle, "w") as out:
    json.dump({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, out)
os.chmod(tmp, 0o600)
os.replace(tmp, path)
print(f"admin login written to {path}")
PY
