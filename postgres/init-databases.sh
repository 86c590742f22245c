#!/usr/bin/env bash
# Create (or update) the users and databases of Airflow, MLflow and the promotion lock; safe to run
# again. Both runners run it: Compose in the postgres image, the native runner with the system's psql.
# Connection from libpq's variables: PGHOST, PGPORT, PGUSER, PGPASSWORD.
# Passwords reach psql on its standard input, never as arguments: those show in `ps`.
set -euo pipefail

for app in AIRFLOW MLFLOW PROMOTION_LOCK; do
  user_var="${app}_DB_USER" password_var="${app}_DB_PASSWORD" db_var="${app}_DB_NAME"
  user="${!user_var:?}" password="${!password_var:?}" db="${!db_var:?}"
  # Airflow and MLflow own their databases. The promotion lock's role only connects to its own and
  # takes advisory locks there: the superuser owns that database, so the role can create nothing.
  owner="$user"
  if [[ "$app" == PROMOTION_LOCK ]]; then owner="${PGUSER:-postgres}"; fi
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
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"owner";
-- A login reaches only the database it is granted (PostgreSQL lets any login connect to any
-- database by default); owners and the superuser keep theirs.
REVOKE CONNECT, TEMPORARY ON DATABASE :"db", postgres, template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"user";
SQL
  } | psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet -d postgres -v user="$user" -v db="$db" \
      -v owner="$owner"
  echo "database ${db} ready for user ${user}"
done
