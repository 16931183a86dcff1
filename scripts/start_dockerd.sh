#!/usr/bin/env bash
# Start a Docker daemon for the testcontainers-based tests, without any image
# registry.  Idempotent: exits 0 at once when `docker info` already works.
#
# Otherwise it installs Debian's docker.io (apt-get update only when needed),
# starts `dockerd --storage-driver=vfs` in the background (logs to
# $EC_DOCKERD_LOG) and waits until the daemon answers.  Must run as root.
#
# Environment:
#   EC_DOCKERD_LOG             log file of dockerd      (default /tmp/ec-dockerd.log)
#   EC_DOCKERD_TIMEOUT         seconds to wait for it   (default 60)
#   EC_DOCKERD_STORAGE_DRIVER  storage driver           (default vfs)
#   EC_DOCKERD_EXTRA_ARGS      extra dockerd flags, split on whitespace
#                              (e.g. "--iptables=false")
set -euo pipefail

LOG_FILE="${EC_DOCKERD_LOG:-/tmp/ec-dockerd.log}"
TIMEOUT="${EC_DOCKERD_TIMEOUT:-60}"
STORAGE_DRIVER="${EC_DOCKERD_STORAGE_DRIVER:-vfs}"
PIDFILE=/var/run/docker.pid

log() { printf 'start_dockerd: %s\n' "$*" >&2; }
die() { printf 'start_dockerd: ERROR: %s\n' "$*" >&2; exit 1; }

docker_ok() { docker info >/dev/null 2>&1; }

# True when process $1 exists and is not a zombie (kill -0 succeeds on
# zombies, and a killed dockerd may stay one for a while here).
alive() {
    [[ -n "${1:-}" && -r "/proc/$1/status" ]] \
        && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# True when process $1 is alive and its command name is $2.
alive_named() {
    alive "$1" && [[ "$(cat "/proc/$1/comm" 2>/dev/null || true)" == "$2" ]]
}

# True while the dockerd we started (or the one in $PIDFILE) is alive.
dockerd_alive() {
    alive "$started_pid" && return 0
    [[ -f "$PIDFILE" ]] && alive "$(cat "$PIDFILE" 2>/dev/null || true)"
}

show_log_tail() {
    if [[ -f "$LOG_FILE" ]]; then
        printf -- '----- last 40 lines of %s -----\n' "$LOG_FILE" >&2
        # Only this run's part of the (appended-to) log.
        awk '/^===== .* start_dockerd\.sh: starting dockerd =====$/ { n = 0 } { buf[n++] = $0 }
             END { for (i = (n > 40 ? n - 40 : 0); i < n; i++) print buf[i] }' "$LOG_FILE" >&2 || true
        printf -- '----- end of log -----\n' >&2
    fi
}

# shellcheck source-path=SCRIPTDIR source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

# Installing docker.io runs its init script, which would start a dockerd with
# the default configuration.  Forbid service starts during the install with a
# temporary policy-rc.d, unless the machine already has one.
install_docker() {
    local policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    ( apt_install docker.io ) || rc=$?
    if (( created_policy )); then
        rm -f "$policy"
    fi
    (( rc == 0 )) || exit "$rc"
}

if docker_ok; then
    log "Docker daemon already running; nothing to do."
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root to install and start dockerd"

if ! command -v dockerd >/dev/null 2>&1; then
    install_docker
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"
command -v docker >/dev/null 2>&1 || die "docker CLI not found after installing docker.io"

# A dockerd may be running but still starting, e.g. from a parallel call.
started_pid=""
if [[ -f "$PIDFILE" ]]; then
    old_pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if alive_named "$old_pid" dockerd; then
        log "dockerd (pid $old_pid) is running but not answering yet; waiting for it"
        started_pid="$old_pid"
    else
        # Left behind by a dockerd that was killed; dockerd refuses to start
        # while it exists.
        log "removing stale $PIDFILE"
        rm -f "$PIDFILE"
    fi
fi

if [[ -z "$started_pid" ]]; then
    # After a dockerd was killed (e.g. with SIGKILL when a session ends), the
    # pid file of its managed containerd stays behind.  dockerd trusts any
    # pid in it that kill(0) accepts, zombies included, then times out
    # dialling the dead socket ("failed to start containerd: timeout waiting
    # for containerd to start").  Drop it unless it names a live containerd.
    ctr_pidfile=/var/run/docker/containerd/containerd.pid
    if [[ -f "$ctr_pidfile" ]]; then
        ctr_pid="$(cat "$ctr_pidfile" 2>/dev/null || true)"
        if ! alive_named "$ctr_pid" containerd; then
            log "removing stale $ctr_pidfile"
            rm -f "$ctr_pidfile"
        fi
    fi

    extra_args=()
    if [[ -n "${EC_DOCKERD_EXTRA_ARGS:-}" ]]; then
        read -r -a extra_args <<<"$EC_DOCKERD_EXTRA_ARGS"
    fi
    mkdir -p "$(dirname "$LOG_FILE")"
    printf '===== %s start_dockerd.sh: starting dockerd =====\n' "$(date -u +%FT%TZ)" >>"$LOG_FILE"
    log "starting dockerd --storage-driver=$STORAGE_DRIVER ${extra_args[*]} (log: $LOG_FILE)"
    # setsid + nohup: the daemon must outlive this script and its caller.
    nohup setsid dockerd --storage-driver="$STORAGE_DRIVER" "${extra_args[@]}" \
        >>"$LOG_FILE" 2>&1 </dev/null &
    started_pid=$!
fi

deadline=$(( SECONDS + TIMEOUT ))
until docker_ok; do
    if ! dockerd_alive; then
        show_log_tail
        die "dockerd exited before it answered (see log above: $LOG_FILE)"
    fi
    if (( SECONDS >= deadline )); then
        show_log_tail
        die "dockerd did not answer 'docker info' within ${TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 1
done

log "Docker daemon is up: $(docker info --format 'server {{.ServerVersion}}, storage driver {{.Driver}}' 2>/dev/null || true)"
