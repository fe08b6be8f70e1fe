#!/bin/bash
# Entrypoint of the MariaDB stand-in for the official mysql image. It reads
# the same variables: MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD,
# MYSQL_ROOT_HOST (default %), MYSQL_DATABASE, MYSQL_USER and MYSQL_PASSWORD,
# each except MYSQL_ALLOW_EMPTY_PASSWORD also as a *_FILE variable naming a
# file that contains the value. Files in /docker-entrypoint-initdb.d (*.sh,
# *.sql, *.sql.gz) run once, on the first start.
#
# It starts as root, so that it can read secret files of mode 0600 and take
# ownership of a new volume, and then execs mariadbd --user=mysql, which
# drops root itself. The first start on an empty data directory initialises
# it on a temporary server with networking off, so no TCP client can log in
# before the users and passwords exist.
set -euo pipefail

DATADIR=/var/lib/mysql
# The temporary server uses the usual socket, so that the mysql client in
# initdb.d scripts finds it without options.
SOCKET=/run/mysqld/mysqld.sock
INITDB_DIR=/docker-entrypoint-initdb.d
# Present only while an initialisation runs. Finding it at start-up means
# that the previous initialisation stopped half-way, so it starts again.
UNFINISHED_MARKER="$DATADIR/.initialisation-unfinished"

init_server_pid=

log() { printf '%s [entrypoint] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Set NAME from the file that NAME_FILE names, if NAME_FILE is set.
read_file_variable() {
  local name=$1
  local file_name="${name}_FILE"
  [ -n "${!file_name:-}" ] || return 0
  [ -z "${!name:-}" ] || die "both $name and $file_name are set: set only one"
  [ -r "${!file_name}" ] || die "$file_name=${!file_name} is not a readable file"
  export "$name=$(<"${!file_name}")"
}

# Print VALUE as an SQL string literal.
sql_string() {
  local value=$1
  value=${value//\\/\\\\}
  value=${value//\'/\'\'}
  printf "'%s'" "$value"
}

# Print NAME as an SQL identifier in backquotes.
sql_identifier() {
  local name=$1
  printf '`%s`' "${name//\`/\`\`}"
}

validate_variables() {
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    die "MYSQL_RANDOM_ROOT_PASSWORD is not supported by this stand-in:" \
      "set MYSQL_ROOT_PASSWORD or MYSQL_ROOT_PASSWORD_FILE"
  fi
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
    die "the data directory $DATADIR is empty and MYSQL_ROOT_PASSWORD is not set:" \
      "set MYSQL_ROOT_PASSWORD, MYSQL_ROOT_PASSWORD_FILE or MYSQL_ALLOW_EMPTY_PASSWORD=yes"
  fi
  if [ -n "${MYSQL_USER:-}" ]; then
    [ "$MYSQL_USER" != root ] \
      || die "MYSQL_USER=root is not allowed: root is set up by MYSQL_ROOT_PASSWORD"
    [ -n "${MYSQL_PASSWORD:-}" ] \
      || die "MYSQL_USER is set but MYSQL_PASSWORD and MYSQL_PASSWORD_FILE are not"
  elif [ -n "${MYSQL_PASSWORD:-}" ]; then
    log "warning: MYSQL_PASSWORD is set without MYSQL_USER and is ignored"
  fi
}

# Stop the temporary server if it runs, e.g. when initialisation fails or
# docker stop sends SIGTERM to this script.
stop_init_server() {
  [ -n "$init_server_pid" ] || return 0
  kill -TERM "$init_server_pid" 2>/dev/null || true
  wait "$init_server_pid" || true
  init_server_pid=
}

# Run on any exit during initialisation.
abandon_initialisation() {
  stop_init_server
  log "error: initialisation did not finish; the next start of a container" \
    "on this data directory starts it again"
}

# Start a server that only listens on the socket, with the server options
# given to the container.
start_init_server() {
  mariadbd "$@" --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" &
  init_server_pid=$!
  for _ in $(seq 120); do
    if mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$init_server_pid" 2>/dev/null || die "the temporary server exited during start-up"
    sleep 0.5
  done
  die "timed out after 60 s waiting for the temporary server to respond to ping"
}

# Run SQL from stdin on the temporary server as root with PASSWORD, then
# the mariadb client's own arguments (a database name, options).
run_sql() {
  local password=$1
  shift
  MYSQL_PWD=$password mariadb --socket="$SOCKET" -uroot "$@"
}

# Print the statements that set up the accounts and the database.
# mariadb-install-db also creates root@127.0.0.1, root@::1 and root@HOSTNAME
# without a password, and these are dropped with any anonymous account, so
# that root@localhost and root@MYSQL_ROOT_HOST are the only root accounts.
account_statements() {
  run_sql "" --skip-column-names --batch --execute \
    "SELECT CONCAT('DROP USER ', QUOTE(User), '@', QUOTE(Host), ';') FROM mysql.global_priv
     WHERE User = '' OR (User = 'root' AND Host <> 'localhost')"
  echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "${MYSQL_ROOT_PASSWORD:-}");"

  local root_host=${MYSQL_ROOT_HOST:-%}
  if [ "$root_host" != localhost ]; then
    local root_account
    root_account="'root'@$(sql_string "$root_host")"
    echo "CREATE USER $root_account IDENTIFIED BY $(sql_string "${MYSQL_ROOT_PASSWORD:-}");"
    echo "GRANT ALL ON *.* TO $root_account WITH GRANT OPTION;"
  fi

  if [ -n "${MYSQL_DATABASE:-}" ]; then
    echo "CREATE DATABASE IF NOT EXISTS $(sql_identifier "$MYSQL_DATABASE");"
  fi
  if [ -n "${MYSQL_USER:-}" ]; then
    local user_account
    user_account="$(sql_string "$MYSQL_USER")@'%'"
    echo "CREATE USER $user_account IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "GRANT ALL ON $(sql_identifier "$MYSQL_DATABASE").* TO $user_account;"
    fi
  fi
}

run_initdb_files() {
  local file
  local database=()
  [ -z "${MYSQL_DATABASE:-}" ] || database=("$MYSQL_DATABASE")
  for file in "$INITDB_DIR"/*; do
    [ -f "$file" ] || continue
    case $file in
      *.sh)
        log "running $file"
        if [ -x "$file" ]; then
          "$file"
        else
          # Sourced scripts may use unset variables, as they can with
          # the official image.
          set +u
          # shellcheck disable=SC1090
          . "$file"
          set -u
        fi
        ;;
      *.sql)
        log "running $file"
        run_sql "${MYSQL_ROOT_PASSWORD:-}" "${database[@]}" <"$file"
        ;;
      *.sql.gz)
        log "running $file"
        gunzip -c "$file" | run_sql "${MYSQL_ROOT_PASSWORD:-}" "${database[@]}"
        ;;
      *) log "ignoring $file: only *.sh, *.sql and *.sql.gz files are run" ;;
    esac
  done
}

# Remove what an interrupted initialisation left behind. Initialisation
# starts only on an empty directory, so everything but lost+found in it
# comes from that run.
remove_unfinished_initialisation() {
  log "the previous initialisation of $DATADIR did not finish: starting it again"
  find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name "${UNFINISHED_MARKER##*/}" \
    -exec rm -rf {} +
}

initialise() {
  validate_variables
  touch "$UNFINISHED_MARKER"
  trap 'exit 143' TERM INT
  trap abandon_initialisation EXIT

  log "initialising a new database in $DATADIR"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  start_init_server "$@"

  account_statements | run_sql ""
  if [ -d "$INITDB_DIR" ]; then
    run_initdb_files
  fi

  local server_pid=$init_server_pid
  init_server_pid=
  kill -TERM "$server_pid"
  wait "$server_pid" || die "the temporary server did not shut down cleanly"
  trap - TERM INT EXIT
  rm -f "$UNFINISHED_MARKER"
  log "initialisation finished"
}

# True when DATADIR contains nothing but lost+found (which a new ext4
# volume has).
datadir_is_empty() {
  [ -z "$(find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit)" ]
}

prepare_datadir() {
  local name
  for name in MYSQL_ROOT_PASSWORD MYSQL_ROOT_HOST MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD; do
    read_file_variable "$name"
  done

  mkdir -p /run/mysqld
  if [ "$(id -u)" = 0 ]; then
    chown mysql:mysql /run/mysqld "$DATADIR"
  fi

  if [ -e "$UNFINISHED_MARKER" ]; then
    remove_unfinished_initialisation
    initialise "$@"
  elif [ ! -d "$DATADIR/mysql" ]; then
    datadir_is_empty \
      || die "$DATADIR has no mysql system database but is not empty: use an empty volume"
    initialise "$@"
  fi
}

# Arguments that start with a dash are options for the server, as in the
# official image (docker run IMAGE --character-set-server=utf8mb4).
if [ $# -eq 0 ] || [ "${1:0:1}" = - ]; then
  set -- mariadbd "$@"
fi
if [ "$1" = mysqld ]; then
  set -- mariadbd "${@:2}"
fi

if [ "$1" = mariadbd ]; then
  prepare_datadir "${@:2}"
  if [ "$(id -u)" = 0 ]; then
    set -- "$@" --user=mysql
  fi
  exec "$@"
fi
exec "$@"
