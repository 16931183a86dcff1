#!/usr/bin/env bash
# Build a local PostgreSQL 15 image WITHOUT any image registry, for the
# testcontainers-based tests.
#
#   scripts/build_postgres_image.sh [TAG]        (default tag: ec-local/postgres:15)
#
# debootstraps Debian bookworm (minbase + postgresql-15) from the Debian mirror
# apt on this machine already uses, adds a docker-entrypoint.sh written from
# scratch that behaves like the official image's (POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD,
# POSTGRES_INITDB_ARGS, *_FILE variants, /docker-entrypoint-initdb.d), and
# imports it with `docker import`.  Idempotent: does nothing when the tag
# already exists, and reuses a complete rootfs from an earlier run.
# Needs root and a running Docker daemon (scripts/start_dockerd.sh).
#
# Environment:
#   EC_IMAGE_WORKDIR    work dir, inside the clone  (default <repo>/.cache/pg-image)
#   EC_DEBIAN_MIRROR    Debian mirror URL           (default: the one apt uses here)
#   EC_IMAGE_REBUILD=1  re-import even when the tag exists (the rootfs is reused)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TAG="${1:-ec-local/postgres:15}"
WORKDIR="${EC_IMAGE_WORKDIR:-$SCRIPT_DIR/../.cache/pg-image}"
SUITE=bookworm
PG_MAJOR=15
ROOTFS_STAMP_CONTENT="suite=$SUITE variant=minbase include=postgresql-$PG_MAJOR v1"

log() { printf 'build_postgres_image: %s\n' "$*" >&2; }
die() { printf 'build_postgres_image: ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source-path=SCRIPTDIR source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

# Prints the URI of the first configured `deb` source for $SUITE (both the
# one-line sources.list format and deb822 *.sources files), e.g.
# http://deb.debian.org/debian.  Other hosts are not reachable from CI.
apt_mirror() {
    local f files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] && files+=("$f")
    done
    (( ${#files[@]} )) || return 0
    awk -v suite="$SUITE" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && !found) {
                split(uris, u, " "); print u[1]; found = 1
            }
            types = ""; uris = ""; suites = ""
        }
        FNR == 1 { flush() }
        /^[ \t]*#/ { next }
        # one-line format: deb [options] URI suite components...
        /^[ \t]*deb[ \t]/ {
            line = $0; sub(/\[[^]]*\]/, "", line); n = split(line, w, /[ \t]+/)
            i = (w[1] == "") ? 2 : 1
            if (w[i] == "deb" && w[i + 2] == suite && !found) { print w[i + 1]; found = 1 }
            next
        }
        # deb822 format
        /^[ \t]*$/ { flush(); next }
        tolower($1) == "types:"  { $1 = ""; types = $0 }
        tolower($1) == "uris:"   { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
        tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
        END { flush() }
    ' "${files[@]}"
}

# Unmounts anything debootstrap left mounted below $1 (e.g. after an
# interrupted run), so that `rm -rf` can never descend into /proc or /sys.
umount_below() {
    local root="$1" mnt
    while read -r mnt; do
        log "unmounting leftover $mnt"
        umount -l "$mnt" || die "could not unmount $mnt; remove $root by hand"
    done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
}

write_entrypoint() {
    local dest="$1"
    mkdir -p "$(dirname "$dest")"
    cat >"$dest" <<'ENTRYPOINT'
#!/usr/bin/env bash
# docker-entrypoint.sh of the registry-free ec-local/postgres image.
# Behaves like the official postgres image's entrypoint for what tests need:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default $POSTGRES_USER),
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), POSTGRES_INITDB_ARGS,
#   POSTGRES_*_FILE variants, /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh.
# `docker run IMAGE -c fsync=off` and `docker run IMAGE postgres -c ...` both work.
set -Eeuo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
export PATH="$PG_BIN:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
SOCKET_DIR=/var/run/postgresql

log() { printf 'docker-entrypoint: %s\n' "$*"; }
die() { printf 'docker-entrypoint: ERROR: %s\n' "$*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from $VAR, or from the file named by $VAR_FILE.
file_env() {
    local var="$1" def="${2:-}" fvar="${1}_FILE" val
    if [[ -n "${!var:-}" && -n "${!fvar:-}" ]]; then
        die "both $var and $fvar are set (but are exclusive)"
    fi
    val="$def"
    if [[ -n "${!var:-}" ]]; then
        val="${!var}"
    elif [[ -n "${!fvar:-}" ]]; then
        val="$(<"${!fvar}")"
    fi
    export "$var"="$val"
    unset "$fvar"
}

# First argument is an option: run postgres with it.
if [[ $# -eq 0 || "${1:0:1}" == "-" ]]; then
    set -- postgres "$@"
fi

if [[ "$1" != "postgres" ]]; then
    exec "$@"
fi

if [[ "$(id -u)" -eq 0 ]]; then
    mkdir -p "$PGDATA" "$SOCKET_DIR"
    chown postgres:postgres "$PGDATA" "$SOCKET_DIR"
    chmod 700 "$PGDATA"
    chmod 2775 "$SOCKET_DIR"
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        env HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres "$0" "$@"
fi

# From here on we run as the postgres user (or whatever --user gave us).
mkdir -p "$PGDATA" 2>/dev/null || true
chmod 700 "$PGDATA" 2>/dev/null || true

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    file_env POSTGRES_USER postgres
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

    if [[ -z "$POSTGRES_PASSWORD" && "$auth" != "trust" ]]; then
        die "POSTGRES_PASSWORD is not set: set it, or POSTGRES_HOST_AUTH_METHOD=trust"
    fi

    log "initdb (user $POSTGRES_USER, host auth $auth)"
    initdb_cmd=(initdb --username="$POSTGRES_USER" --auth-local=trust --auth-host="$auth")
    if [[ -n "$POSTGRES_PASSWORD" ]]; then
        initdb_cmd+=(--pwfile=/dev/stdin)   # the password never hits argv or disk
    fi
    # POSTGRES_INITDB_ARGS is a shell word list, as in the official image.
    eval '"${initdb_cmd[@]}"' "$POSTGRES_INITDB_ARGS" <<<"$POSTGRES_PASSWORD"

    {
        printf '\n# added by docker-entrypoint.sh\n'
        printf 'host all all all %s\n' "$auth"
    } >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # Temporary server on the unix socket only, to create the database and
    # run the init scripts; then stop it and exec the real one below.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR" -w start

    psql_cmd=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER" --host "$SOCKET_DIR")
    if [[ "$POSTGRES_DB" != "postgres" ]]; then
        log "creating database $POSTGRES_DB"
        printf '%s\n' "SELECT 'CREATE DATABASE ' || quote_ident(:'db')" \
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec" |
            "${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB"
    fi

    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)
                if [[ -x "$f" ]]; then
                    log "running $f"
                    "$f"
                else
                    log "sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql)    log "running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql_cmd[@]}" --dbname "$POSTGRES_DB" ;;
            *)        log "ignoring $f" ;;
        esac
    done
    shopt -u nullglob

    pg_ctl -D "$PGDATA" -m fast -w stop
    unset POSTGRES_PASSWORD
    log "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
ENTRYPOINT
    chmod 755 "$dest"
}

# ---------------------------------------------------------------------------

command -v docker >/dev/null 2>&1 || die "docker CLI not found; run scripts/start_dockerd.sh first"
docker info >/dev/null 2>&1 || die "Docker daemon not reachable; run scripts/start_dockerd.sh first"

if [[ "${EC_IMAGE_REBUILD:-0}" != "1" ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
    log "image $TAG already exists; nothing to do (EC_IMAGE_REBUILD=1 forces a re-import)"
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root (debootstrap needs it)"

mkdir -p "$WORKDIR"
WORKDIR="$(cd "$WORKDIR" && pwd -P)"
[[ "$WORKDIR" != "/" ]] || die "EC_IMAGE_WORKDIR must not be /"
# The rootfs must never end up in a commit.
[[ -f "$WORKDIR/.gitignore" ]] || printf '# generated by scripts/build_postgres_image.sh\n*\n' >"$WORKDIR/.gitignore"
ROOTFS="$WORKDIR/rootfs"
OVERLAY="$WORKDIR/overlay"
STAMP="$WORKDIR/rootfs.complete"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$ROOTFS_STAMP_CONTENT" \
      && -x "$ROOTFS/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ]]; then
    log "reusing complete rootfs $ROOTFS"
else
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    mirror="${EC_DEBIAN_MIRROR:-$(apt_mirror)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    if [[ -e "$ROOTFS" ]]; then
        log "removing incomplete rootfs $ROOTFS"
        umount_below "$ROOTFS"
        rm -rf --one-file-system "$ROOTFS"
    fi
    rm -f "$STAMP"
    log "debootstrap $SUITE (minbase + postgresql-$PG_MAJOR) from $mirror into $ROOTFS"
    start=$SECONDS
    if ! debootstrap --variant=minbase --include="postgresql-$PG_MAJOR" \
            "$SUITE" "$ROOTFS" "$mirror" >"$WORKDIR/debootstrap.log" 2>&1; then
        umount_below "$ROOTFS"
        tail -n 30 "$WORKDIR/debootstrap.log" >&2 || true
        [[ -f "$ROOTFS/debootstrap/debootstrap.log" ]] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log: $WORKDIR/debootstrap.log)"
    fi
    umount_below "$ROOTFS"
    [[ -x "$ROOTFS/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ]] \
        || die "debootstrap finished but $ROOTFS has no postgres $PG_MAJOR binary"
    printf '%s\n' "$ROOTFS_STAMP_CONTENT" >"$STAMP"
    log "debootstrap done in $(( SECONDS - start ))s"
fi

rm -rf "$OVERLAY"
write_entrypoint "$OVERLAY/usr/local/bin/docker-entrypoint.sh"

log "importing $TAG"
start=$SECONDS
# Slim: no docs, man pages, translations, apt lists/caches, nor the cluster
# Debian's postinst created in var/lib/postgresql/15 (the entrypoint makes
# its own in $PGDATA).  The excludes are anchored to the rootfs tar only.
tar -c --numeric-owner -C "$ROOTFS" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./debootstrap' --exclude='./tmp/*' \
    --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' \
    --exclude='./usr/share/info/*' --exclude='./usr/share/locale/*' \
    --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' \
    --exclude="./var/lib/postgresql/$PG_MAJOR" \
    . \
    -C "$OVERLAY" ./usr/local/bin/docker-entrypoint.sh |
docker import \
    --change "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'EXPOSE 5432' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --message "ec-local postgres $PG_MAJOR (debootstrap $SUITE, registry-free)" \
    - "$TAG" >/dev/null
log "imported $TAG in $(( SECONDS - start ))s ($(docker image inspect --format '{{.Size}}' "$TAG" | awk '{ printf "%d MB", $1 / 1e6 }'))"
