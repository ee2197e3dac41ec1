#!/bin/bash
# Run by the postgres image once, when its data directory is empty (and by `make k8s-check` on
# its private server): two login roles from the Secret postgres-credentials and one database per
# service that lives on PostgreSQL. The app role (CINEMA_DB_USER) owns movie, reservation and
# viewpage; payment's role (PAYMENT_DB_USER) owns payment. Nobody else may connect to a database
# (CONNECT is taken from PUBLIC), so no other service's credentials can read or move money.
# message keeps its messages in SQLite on a volume of its own (k8s/base/message.yaml).
# Names and passwords reach SQL as psql variables, quoted by psql, never pasted in.
set -euo pipefail
psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=app_user="$CINEMA_DB_USER" --set=app_password="$CINEMA_DB_PASSWORD" \
    --set=payment_user="$PAYMENT_DB_USER" --set=payment_password="$PAYMENT_DB_PASSWORD" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE ROLE :"payment_user" LOGIN PASSWORD :'payment_password';
CREATE DATABASE payment OWNER :"payment_user";
CREATE DATABASE reservation OWNER :"app_user";
CREATE DATABASE movie OWNER :"app_user";
CREATE DATABASE viewpage OWNER :"app_user";
REVOKE CONNECT, TEMPORARY ON DATABASE payment, reservation, movie, viewpage FROM PUBLIC;
SQL
