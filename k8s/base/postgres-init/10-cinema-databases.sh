#!/bin/bash
# Run by the postgres image once, when its data directory is empty: the role the services log in
# with (from the Secret postgres-credentials) and one database per service, owned by that role.
# The role's name and password reach SQL as psql variables, quoted by psql, never pasted in.
set -euo pipefail
psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=app_user="$CINEMA_DB_USER" --set=app_password="$CINEMA_DB_PASSWORD" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE payment OWNER :"app_user";
CREATE DATABASE reservation OWNER :"app_user";
CREATE DATABASE movie OWNER :"app_user";
CREATE DATABASE message OWNER :"app_user";
CREATE DATABASE viewpage OWNER :"app_user";
SQL
