#!/usr/bin/env bash
# sshd-hosts.sh — test SSH "hosts": one private sshd per loopback address, all on port 2222.
#
# Usage:
#   scripts/lib/sshd-hosts.sh up DIR ADDR...   e.g. up .sandbox/ssh 127.0.0.11 127.0.0.12 127.0.0.13
#   scripts/lib/sshd-hosts.sh status DIR       exit 0 if every recorded sshd runs and accepts
#   scripts/lib/sshd-hosts.sh down DIR         stop the sshds recorded in DIR (only those PIDs)
#   scripts/lib/sshd-hosts.sh prove            up 3 hosts in a temp dir, check keys/sudo/host-key
#                                              refusal, down
#
# `up` installs openssh-server and sudo via apt if missing; creates users `deploy` (passwordless
# sudo, /etc/sudoers.d/ihos-deploy) and `deploypw` (sudo needs a password, so `sudo -n` fails,
# /etc/sudoers.d/ihos-deploypw), both with password field `*` (sshd with UsePAM no refuses
# `!`-locked accounts) and key logins only; and `deploypass` (passwordless sudo), who logs in
# with a password only: a random one made once in /run/ihos-sshd/deploypass.password (0600).
# Settings: IHOS_SSHD_FORWARDING=no (AllowTcpForwarding no: a jump host that refuses),
# IHOS_SSHD_LOGLEVEL (default VERBOSE; DEBUG1 logs each forwarded connection). It (re)starts one `/usr/sbin/sshd -D -f DIR/sshd_config.ADDR` per ADDR
# (stopping the ones DIR recorded before) and waits until each accepts. Port: $IHOS_SSH_PORT
# (default 2222).
#
# Files in DIR (keys are kept across `up` runs, so known_hosts stays valid):
#   id_ed25519, id_ed25519.pub   client key pair (no passphrase) for both users
#   authorized_keys              the client public key (sshd reads a root-owned copy under
#                                /run/ihos-sshd/, because StrictModes yes rejects keys files below
#                                group/world-writable dirs such as /tmp)
#   known_hosts                  "[ADDR]:PORT ssh-ed25519 ..." for every host (real served keys)
#   ssh_config                   Host ADDR entries: Port, User deploy, IdentityFile, known_hosts
#   hostkeys/ADDR_ed25519{,.pub} one host key per host
#   sshd_config.ADDR, sshd.ADDR.log, sshd.ADDR.pid (sshd's), sshd.ADDR.harness-pid (ours), hosts
#
# Then:  ssh -i DIR/id_ed25519 -o UserKnownHostsFile=DIR/known_hosts -o StrictHostKeyChecking=yes \
#            -p 2222 deploy@127.0.0.11 sudo -n id          (or: ssh -F DIR/ssh_config 127.0.0.11 ...)
set -euo pipefail

PORT=${IHOS_SSH_PORT:-2222}
SSHD=/usr/sbin/sshd
USERS=(deploy deploypw deploypass)
# The password of `deploypass` (the one user sshd lets in by password): made once per machine,
# readable by root only, never printed.
PASSWORD_FILE=/run/ihos-sshd/deploypass.password

log() { printf 'sshd-hosts.sh: %s\n' "$*" >&2; }
die() { printf 'sshd-hosts.sh: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

valid_addr() {
    [[ $1 =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
    local o
    for o in "${BASH_REMATCH[@]:1}"; do [ "$o" -le 255 ] || return 1; done
}

ensure_packages() {
    local missing=()
    [ -x "$SSHD" ] || missing+=(openssh-server)
    command -v ssh-keygen >/dev/null && command -v ssh-keyscan >/dev/null && command -v ssh >/dev/null \
        || missing+=(openssh-client)
    command -v sudo >/dev/null && command -v visudo >/dev/null || missing+=(sudo)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} via apt"
    # Installing openssh-server must not start the system sshd on port 22.
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    } || rc=$?
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed"
}

install_sudoers() {
    local name=$1 line=$2 tmp
    tmp=$(mktemp)
    printf '# written by ihos scripts/lib/sshd-hosts.sh (test users only)\n%s\n' "$line" >"$tmp"
    visudo -cqf "$tmp" || { rm -f "$tmp"; die "visudo rejected the sudoers line: $line"; }
    if ! cmp -s "$tmp" "/etc/sudoers.d/$name"; then
        install -m 0440 -o root -g root "$tmp" "/etc/sudoers.d/$name"
    fi
    rm -f "$tmp"
    chmod 0440 "/etc/sudoers.d/$name"
    visudo -cqf "/etc/sudoers.d/$name" || die "/etc/sudoers.d/$name does not validate"
}

ensure_users() {
    local u
    for u in "${USERS[@]}"; do
        if ! id "$u" >/dev/null 2>&1; then
            useradd --create-home --home-dir "/home/$u" --shell /bin/bash "$u"
            log "created user $u"
        fi
        mkdir -p "/home/$u"
        chown "$u:" "/home/$u"
        chmod 0755 "/home/$u"
        [ "$u" = deploypass ] && continue
        # `!` (locked, as useradd leaves it) is refused by sshd with UsePAM no; `*` is not.
        [ "$(getent shadow "$u" | cut -d: -f2)" = '*' ] || usermod -p '*' "$u"
    done
    mkdir -p /run/ihos-sshd
    chmod 0755 /run/ihos-sshd
    if [ ! -s "$PASSWORD_FILE" ]; then
        (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$PASSWORD_FILE")
    fi
    chmod 0600 "$PASSWORD_FILE"
    # chpasswd reads the password on stdin: it is never in argv.
    if [[ "$(getent shadow deploypass | cut -d: -f2)" != '$'* ]] \
        || [ "$PASSWORD_FILE" -nt /run/ihos-sshd/deploypass.set ]; then
        printf 'deploypass:%s\n' "$(cat "$PASSWORD_FILE")" | chpasswd
        touch /run/ihos-sshd/deploypass.set
    fi
    install_sudoers ihos-deploy 'deploy ALL=(ALL) NOPASSWD:ALL'
    install_sudoers ihos-deploypass 'deploypass ALL=(ALL) NOPASSWD:ALL'
    # Credentials cached for every session of deploypw (timestamp_type=global), as on hosts
    # where a sudo in one command lets the next one through without asking: ihos must then
    # still never leave its password line in a command's stdin.
    install_sudoers ihos-deploypw $'Defaults:deploypw timestamp_type=global\ndeploypw ALL=(ALL) ALL'
}

# Root-owned copy of the keys file, readable by the users (sshd reads it with their uid).
keys_dir_for() { echo "/run/ihos-sshd/$(printf '%s' "$1" | sha256sum | cut -c1-16)"; }

pid_alive_sshd() {   # PID CONFIG -> 0 if PID is our sshd for CONFIG
    local pid=$1 cfg=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "-f $cfg " || return 1
}

accepts() { (exec 3<>"/dev/tcp/$1/$PORT") 2>/dev/null; }

children_of() {   # PID -> its direct children's PIDs
    local parent=$1 p stat ppid
    for p in /proc/[0-9]*; do
        stat=$(cat "$p/stat" 2>/dev/null) || continue
        stat=${stat##*) }            # fields after "(comm)": state ppid ...
        read -r _ ppid _ <<<"$stat"
        if [ "$ppid" = "$parent" ]; then echo "${p#/proc/}"; fi
    done
}

stop_one() {   # DIR ADDR
    local dir=$1 addr=$2 cfg pid kids k
    cfg="$dir/sshd_config.$addr"
    pid=$(cat "$dir/sshd.$addr.harness-pid" 2>/dev/null || true)
    if pid_alive_sshd "$pid" "$cfg"; then
        # Per-connection sshd processes are children of the listener; end them too.
        kids=$(children_of "$pid")
        for k in $kids; do kill -TERM "$k" 2>/dev/null || true; done
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            pid_alive_sshd "$pid" "$cfg" || break
            sleep 0.1
        done
        if pid_alive_sshd "$pid" "$cfg"; then kill -KILL "$pid" 2>/dev/null || true; fi
        log "stopped sshd $addr:$PORT (pid $pid)"
    elif [ -n "$pid" ]; then
        log "sshd $addr:$PORT (pid $pid) was not running"
    fi
    rm -f "$dir/sshd.$addr.harness-pid" "$dir/sshd.$addr.pid"
}

cmd_down() {
    local dir=$1 addr
    [ -d "$dir" ] || { log "nothing to stop: $dir does not exist"; return 0; }
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/hosts" ] || { log "nothing recorded in $dir"; return 0; }
    while read -r addr; do
        [ -n "$addr" ] && stop_one "$dir" "$addr"
    done <"$dir/hosts"
    rm -rf "$(keys_dir_for "$dir")"
}

cmd_up() {
    local dir=$1; shift
    [ $# -ge 1 ] || usage
    local addr t0 t1
    for addr in "$@"; do valid_addr "$addr" || die "not a loopback address: $addr (only 127.x.y.z)"; done
    [ "$(id -u)" = 0 ] || die "must run as root"
    t0=$(now_ms)
    ensure_packages
    ensure_users
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/hosts" ] && cmd_down "$dir"
    mkdir -p "$dir/hostkeys" /run/sshd
    chmod 0700 "$dir/hostkeys"

    # Client key pair and authorized keys.
    if [ ! -s "$dir/id_ed25519" ] || [ ! -s "$dir/id_ed25519.pub" ]; then
        rm -f "$dir/id_ed25519" "$dir/id_ed25519.pub"
        ssh-keygen -q -t ed25519 -N '' -C "ihos-sandbox" -f "$dir/id_ed25519"
    fi
    chmod 0600 "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    local kd u
    kd=$(keys_dir_for "$dir")
    mkdir -p "$kd"
    chmod 0755 /run/ihos-sshd "$kd"
    for u in "${USERS[@]}"; do
        install -m 0644 -o root -g root "$dir/authorized_keys" "$kd/$u"
    done

    : >"$dir/known_hosts.tmp"
    : >"$dir/ssh_config.tmp"
    printf '%s\n' "$@" >"$dir/hosts"
    for addr in "$@"; do
        local hk="$dir/hostkeys/${addr}_ed25519" cfg="$dir/sshd_config.$addr"
        if [ ! -s "$hk" ] || [ ! -s "$hk.pub" ]; then
            rm -f "$hk" "$hk.pub"
            ssh-keygen -q -t ed25519 -N '' -C "ihos-$addr" -f "$hk"
        fi
        chmod 0600 "$hk"
        cat >"$cfg" <<EOF
# ihos test host $addr (scripts/lib/sshd-hosts.sh)
ListenAddress $addr:$PORT
HostKey $hk
PidFile $dir/sshd.$addr.pid
AuthorizedKeysFile $kd/%u
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowTcpForwarding ${IHOS_SSHD_FORWARDING:-yes}
AllowUsers ${USERS[*]}
StrictModes yes
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel ${IHOS_SSHD_LOGLEVEL:-VERBOSE}
MaxStartups 200:30:400
MaxSessions 64
Subsystem sftp internal-sftp
Match User deploypass
    AuthenticationMethods password
    PasswordAuthentication yes
EOF
        "$SSHD" -t -f "$cfg" || die "sshd -t rejected $cfg"
        "$SSHD" -D -f "$cfg" -E "$dir/sshd.$addr.log" </dev/null >/dev/null 2>&1 &
        echo $! >"$dir/sshd.$addr.harness-pid"
        printf '[%s]:%s %s\n' "$addr" "$PORT" "$(cut -d' ' -f1,2 "$hk.pub")" >>"$dir/known_hosts.tmp"
        cat >>"$dir/ssh_config.tmp" <<EOF
Host $addr
    HostName $addr
    Port $PORT
    User deploy
    IdentityFile $dir/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
EOF
    done
    mv -f "$dir/known_hosts.tmp" "$dir/known_hosts"
    mv -f "$dir/ssh_config.tmp" "$dir/ssh_config"

    local pid ok served
    for addr in "$@"; do
        pid=$(cat "$dir/sshd.$addr.harness-pid")
        ok=0
        for _ in $(seq 1 200); do
            if accepts "$addr"; then ok=1; break; fi
            pid_alive_sshd "$pid" "$dir/sshd_config.$addr" || break
            sleep 0.05
        done
        if [ "$ok" != 1 ]; then
            tail -n 20 "$dir/sshd.$addr.log" >&2 || true
            die "sshd for $addr:$PORT did not come up (log: $dir/sshd.$addr.log)"
        fi
        # The key the server really serves must be the one in known_hosts.
        served=$(ssh-keyscan -T 5 -t ed25519 -p "$PORT" "$addr" 2>/dev/null | awk '{ print $2, $3 }')
        [ -n "$served" ] && grep -qF -- "$served" "$dir/known_hosts" \
            || die "host key served by $addr:$PORT does not match $dir/known_hosts"
    done
    t1=$(now_ms)
    log "up: ${#} host(s) on port $PORT in $(( t1 - t0 )) ms: $*  (dir $dir)"
}

cmd_status() {
    local dir=$1 addr pid bad=0
    [ -f "$dir/hosts" ] || { log "no hosts recorded in $dir"; return 1; }
    dir=$(cd "$dir" && pwd)
    while read -r addr; do
        [ -n "$addr" ] || continue
        pid=$(cat "$dir/sshd.$addr.harness-pid" 2>/dev/null || true)
        if pid_alive_sshd "$pid" "$dir/sshd_config.$addr" && accepts "$addr"; then
            printf '%s:%s up pid %s\n' "$addr" "$PORT" "$pid"
        else
            printf '%s:%s down%s\n' "$addr" "$PORT" "${pid:+ (recorded pid $pid)}"
            bad=1
        fi
    done <"$dir/hosts"
    return "$bad"
}

cmd_prove() {
    local dir out t0 t1 addr rc
    dir=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "'$0' down '$dir/ssh' >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
    t0=$(now_ms)
    cmd_up "$dir/ssh" 127.0.0.11 127.0.0.12 127.0.0.13
    t1=$(now_ms)
    log "prove: up took $(( t1 - t0 )) ms"
    local ssh_opts=(-i "$dir/ssh/id_ed25519" -o UserKnownHostsFile="$dir/ssh/known_hosts"
                    -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p "$PORT")
    for addr in 127.0.0.11 127.0.0.12 127.0.0.13; do
        t0=$(now_ms)
        out=$(ssh "${ssh_opts[@]}" "deploy@$addr" sudo -n id)
        t1=$(now_ms)
        [[ $out == uid=0\(root\)* ]] || die "deploy@$addr sudo -n id gave: $out"
        log "deploy@$addr: sudo -n id -> '$out' ($(( t1 - t0 )) ms)"
        t0=$(now_ms)
        rc=0; out=$(ssh "${ssh_opts[@]}" "deploypw@$addr" sudo -n true 2>&1) || rc=$?
        t1=$(now_ms)
        [ "$rc" != 0 ] && [[ $out == *"a password is required"* ]] \
            || die "deploypw@$addr: sudo -n should fail with 'a password is required', got rc=$rc: $out"
        log "deploypw@$addr: sudo -n true -> rc=$rc '$out' ($(( t1 - t0 )) ms)"
    done
    # Host key mismatch: give 127.0.0.12's key to 127.0.0.11 in a copy of known_hosts.
    awk -v p="$PORT" '$1 == "[127.0.0.12]:" p { k = $2 " " $3 } END { print "[127.0.0.11]:" p " " k }' \
        "$dir/ssh/known_hosts" >"$dir/bad_known_hosts"
    rc=0; out=$(ssh -i "$dir/ssh/id_ed25519" -o UserKnownHostsFile="$dir/bad_known_hosts" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -p "$PORT" deploy@127.0.0.11 true 2>&1) || rc=$?
    [ "$rc" != 0 ] && [[ $out == *"HOST IDENTIFICATION HAS CHANGED"* || $out == *"verification failed"* ]] \
        || die "host key mismatch was not refused (rc=$rc): $out"
    log "host key mismatch refused: rc=$rc ($(printf '%s' "$out" | grep -m1 -E 'CHANGED|verification failed'))"
    # Unknown host (empty known_hosts) is refused too.
    : >"$dir/empty_known_hosts"
    rc=0; out=$(ssh -i "$dir/ssh/id_ed25519" -o UserKnownHostsFile="$dir/empty_known_hosts" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -p "$PORT" deploy@127.0.0.11 true 2>&1) || rc=$?
    [ "$rc" != 0 ] || die "unknown host key was accepted"
    log "unknown host key refused: rc=$rc"
    out=$(ssh -F "$dir/ssh/ssh_config" 127.0.0.13 sudo -n whoami) && [ "$out" = root ] \
        || die "ssh -F DIR/ssh_config failed: $out"
    log "ssh -F DIR/ssh_config 127.0.0.13 sudo -n whoami -> $out"
    "$0" status "$dir/ssh" >&2
    "$0" down "$dir/ssh"
    if "$0" status "$dir/ssh" >/dev/null 2>&1; then die "status still reports hosts up after down"; fi
    log "prove: ok"
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1; shift
    case $cmd in
        up) [ $# -ge 2 ] || usage; cmd_up "$@" ;;
        down) [ $# -eq 1 ] || usage; cmd_down "$1" ;;
        status) [ $# -eq 1 ] || usage; cmd_status "$1" ;;
        prove) cmd_prove ;;
        *) usage ;;
    esac
}

main "$@"
