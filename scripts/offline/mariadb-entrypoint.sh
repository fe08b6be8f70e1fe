#!/bin/bash
# MariaDB stand-in for the official mysql image's entrypoint. It reads the
# same variables: MYSQL_ROOT_PASSWORD, MYSQL_DATABASE, MYSQL_USER,
# MYSQL_PASSWORD, and *_FILE variants of the passwords.
#
# On an empty data directory it initialises the database with networking
# off, so no TCP client can log in before the user and passwords exist.
# It runs as root to read secret files and to own a new volume; mariadbd
# then drops to the mysql user itself (--user=mysql).
set -euo pipefail

DATADIR=/var/lib/mysql
INIT_SOCKET=/run/mysqld/init.sock

log() { printf '%s [entrypoint] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Set VAR from the file named by VAR_FILE, if that is given.
read_file_variable() {
  local name=$1 file_name="${1}_FILE"
  if [ -n "${!file_name:-}" ]; then
    [ -z "${!name:-}" ] || die "both $name and $file_name are set; use one"
    [ -r "${!file_name}" ] || die "$file_name names ${!file_name}, which is not readable"
    export "$name"="$(<"${!file_name}")"
  fi
}

# Quote a value as an SQL string literal.
sql_string() {
  local quote="'" backslash='\' value=$1
  value=${value//"$backslash"/"$backslash$backslash"}
  printf "'%s'" "${value//"$quote"/"$quote$quote"}"
}

initialise() {
  [ -n "${MYSQL_ROOT_PASSWORD:-}" ] \
    || die "the data directory is empty and MYSQL_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD_FILE) is not set"
  if [ -n "${MYSQL_USER:-}" ]; then
    [ -n "${MYSQL_PASSWORD:-}" ] || die "MYSQL_USER is set but MYSQL_PASSWORD (or MYSQL_PASSWORD_FILE) is not"
    [ "$MYSQL_USER" != root ] || die "MYSQL_USER must not be root; set MYSQL_ROOT_PASSWORD for root"
  fi

  log "initialising a new database in $DATADIR"
  mariadb-install-db --user=mysql --datadir="$DATADIR" \
    --auth-root-authentication-method=normal --skip-test-db >/dev/null

  mariadbd --user=mysql --datadir="$DATADIR" --skip-networking \
    --socket="$INIT_SOCKET" --skip-log-error &
  local pid=$!
  for _ in $(seq 120); do
    mariadb-admin --socket="$INIT_SOCKET" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "the temporary server exited during initialisation"
    sleep 0.5
  done

  {
    echo "DELETE FROM mysql.global_priv WHERE User = '';"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;"
    fi
    if [ -n "${MYSQL_USER:-}" ]; then
      echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON \`${MYSQL_DATABASE//\`/\`\`}\`.* TO $(sql_string "$MYSQL_USER")@'%';"
      fi
    fi
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$INIT_SOCKET" -uroot

  kill -TERM "$pid"
  wait "$pid" || die "the temporary server did not shut down cleanly"
  log "initialisation finished"
}

if [ $# -eq 0 ] || [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
  [ $# -eq 0 ] || shift
  read_file_variable MYSQL_ROOT_PASSWORD
  read_file_variable MYSQL_PASSWORD
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld "$DATADIR"
  if [ ! -d "$DATADIR/mysql" ]; then
    initialise
  fi
  exec mariadbd --user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306 \
    --skip-name-resolve --socket=/run/mysqld/mysqld.sock "$@"
fi
exec "$@"
