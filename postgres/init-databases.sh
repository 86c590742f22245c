#!/usr/bin/env bash
# Create (or update) the users and databases of Airflow and MLflow; safe to run again.
# Both runners run it: Compose in the postgres image, the native runner with the system's psql.
# Connection from libpq's variables: PGHOST, PGPORT, PGUSER, PGPASSWORD.
# Passwords reach psql on its standard input, never as arguments: those show in `ps`.
set -euo pipefail

for app in AIRFLOW MLFLOW; do
  user_var="${app}_DB_USER" password_var="${app}_DB_PASSWORD" db_var="${app}_DB_NAME"
  user="${!user_var:?}" password="${!password_var:?}" db="${!db_var:?}"
  {
    # printf is a shell builtin: no process of its own, no command line. In psql's quotes a
    # backslash escapes and a quote is doubled.
    quoted="${password//\\/\\\\}"
    printf "\\\\set password '%s'\n" "${quoted//\'/\'\'}"
    cat <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
-- Keep the password in step with .env, so a changed .env takes effect on the next start.
ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"user";
SQL
  } | psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet -d postgres -v user="$user" -v db="$db"
  echo "database ${db} ready for user ${user}"
done
