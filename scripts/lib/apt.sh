# shellcheck shell=bash
# Shared by scripts/*.sh; the caller defines log() and die().

# Installs the given Debian packages.  Runs `apt-get update` only when a
# package has no install candidate, or when the install from the current
# lists fails (stale lists pointing at versions the mirror no longer has).
apt_install() {
    local pkg policy_out need_update=0
    for pkg in "$@"; do
        # No `| grep -q` here: with pipefail, grep's early exit would make
        # apt-cache die of SIGPIPE and the test fail at random.
        policy_out="$(apt-cache policy "$pkg" 2>/dev/null || true)"
        if [[ "$policy_out" != *"Candidate: "[!\(]* ]]; then
            need_update=1
        fi
    done
    export DEBIAN_FRONTEND=noninteractive
    if (( need_update )); then
        log "apt-get update (no install candidate for: $*)"
        apt-get update -qq
    fi
    log "apt-get install $*"
    if ! apt-get install -y -qq --no-install-recommends "$@"; then
        (( need_update )) && die "apt-get install $* failed"
        log "install failed with the current package lists; apt-get update and retry"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" || die "apt-get install $* failed"
    fi
}
