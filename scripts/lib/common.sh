# Shared helpers for the project's scripts. Source it: . "$(dirname "$0")/lib/common.sh"

# say MESSAGE...: a progress line on stderr.
say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# die MESSAGE...: an error on stderr, exit 1.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_apt PACKAGE...: installs the Debian packages that are missing (runs apt-get update
# once, only when something must be installed).
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
    say "installing with apt: ${missing[*]}"
    if [ -z "${IHOS_APT_UPDATED:-}" ]; then
        apt-get update -qq >&2
        export IHOS_APT_UPDATED=1
    fi
    # Packages like nginx would start their service on install; the tests start what they
    # need themselves, so keep services from starting (policy-rc.d 101 = "not allowed").
    local policy=/usr/sbin/policy-rc.d created=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
        [ -n "$created" ] && rm -f "$policy"
        die "apt-get install failed: ${missing[*]}"
    }
    [ -n "$created" ] && rm -f "$policy"
    return 0
}
