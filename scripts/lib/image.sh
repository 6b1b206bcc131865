#!/usr/bin/env bash
# image.sh — build the ihos sandbox container images locally (no registry, nothing is pulled).
#
# Usage:
#   scripts/lib/image.sh build [--rebuild]  build ihos/base:bookworm (debootstrap + apt in a chroot,
#                                           `docker import`), then ihos/nginx:test and ihos/tomcat:test
#   scripts/lib/image.sh flags              print the extra `docker run` flags this machine needs
#   scripts/lib/image.sh mirror             print the Debian mirror read from this machine's apt sources
#   scripts/lib/image.sh prove              start one nginx and one tomcat container on 127.0.0.1,
#                                           curl both, remove them
#   source scripts/lib/image.sh             defines build_images, ihos_docker_run_flags, ihos_apt_mirror,
#                                           ihos_prove_images (sourcing changes no shell options)
#
# Environment:
#   IHOS_CACHE_DIR         build cache (default /var/cache/ihos): debootstrap .debs, apt .debs, timings
#   IHOS_APT_MIRROR        override the mirror found in /etc/apt/sources.list{,.d/*}
#   IHOS_DOCKER_RUN_FLAGS  override the probed docker run flags (e.g. "--ulimit nofile=20000:20000")
#
# Images:
#   ihos/base:bookworm  minbase bookworm + tomcat10 nginx curl iproute2 ca-certificates procps
#   ihos/nginx:test     CMD nginx -g 'daemon off;'          (port 80, STOPSIGNAL SIGQUIT)
#   ihos/tomcat:test    CMD catalina.sh run, as root         (port 8080)
#                       CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE=/opt/tomcat;
#                       bind-mount host dirs on /opt/tomcat/webapps and /opt/tomcat/logs

IHOS_BASE_IMAGE=ihos/base:bookworm
IHOS_NGINX_IMAGE=ihos/nginx:test
IHOS_TOMCAT_IMAGE=ihos/tomcat:test
IHOS_SUITE=bookworm
IHOS_CHROOT_PACKAGES="tomcat10 nginx curl iproute2 ca-certificates procps"

_ihos_log() { printf 'image.sh: %s\n' "$*" >&2; }
_ihos_die() { printf 'image.sh: error: %s\n' "$*" >&2; exit 1; }

# _ihos_apt_entries — print "URI<TAB>SUITE" for every enabled `deb` entry of this machine's apt
# sources: /etc/apt/sources.list and /etc/apt/sources.list.d/*.list (one-line format) and
# /etc/apt/sources.list.d/*.sources (deb822; Enabled: no is skipped).
_ihos_apt_entries() (
    set -euo pipefail
    shopt -s nullglob
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '
            { sub(/^[ \t]+/, "") }
            /^#/ || NF == 0 { next }
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if (i + 1 <= NF) print $i "\t" $(i + 1)
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
                    nu = split(uris, U, /[ \t]+/); ns = split(suites, S, /[ \t]+/)
                    for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++)
                        if (U[a] != "" && S[b] != "") print U[a] "\t" S[b]
                }
                types = ""; uris = ""; suites = ""; enabled = ""; field = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { v = $0; sub(/^[ \t]+/, "", v)
                       if (field == "types") types = types " " v
                       else if (field == "uris") uris = uris " " v
                       else if (field == "suites") suites = suites " " v
                       next }
            /^[A-Za-z0-9-]+:/ {
                field = tolower(substr($0, 1, index($0, ":") - 1))
                v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
                if (field == "types") types = v
                else if (field == "uris") uris = v
                else if (field == "suites") suites = v
                else if (field == "enabled") enabled = v
            }
            END { flush() }' "$f"
    done
)

# ihos_apt_mirror [SUITE] — print one Debian mirror URI taken from this machine's apt sources.
# Prefers an entry whose suite is exactly SUITE, else any plain codename suite (no -security,
# -updates, -backports), never a security archive. $IHOS_APT_MIRROR overrides.
ihos_apt_mirror() (
    set -euo pipefail
    suite=${1:-$IHOS_SUITE}
    if [ -n "${IHOS_APT_MIRROR:-}" ]; then printf '%s\n' "$IHOS_APT_MIRROR"; exit 0; fi
    entries=$(_ihos_apt_entries)
    good() { case $1 in http://*|https://*|ftp://*|file:/*) ;; *) return 1 ;; esac
             case $1 in *security*) return 1 ;; esac; }
    pick=""
    while IFS=$'\t' read -r uri s; do
        [ -n "$uri" ] && good "$uri" || continue
        if [ "$s" = "$suite" ]; then pick=$uri; break; fi
    done <<<"$entries"
    if [ -z "$pick" ]; then
        while IFS=$'\t' read -r uri s; do
            [ -n "$uri" ] && good "$uri" || continue
            case $s in *-*|*/*|stable|testing|unstable|sid) continue ;; esac
            pick=$uri; break
        done <<<"$entries"
    fi
    [ -n "$pick" ] || { printf 'image.sh: error: no Debian mirror found in /etc/apt/sources.list{,.d/*}; set IHOS_APT_MIRROR\n' >&2; exit 1; }
    printf '%s\n' "${pick%/}"
)

# _ihos_chroot_sources MIRROR — sources.list for the chroot: MIRROR SUITE main, plus the host's
# SUITE-updates and SUITE-security entries (so the image gets the same fixes as this machine).
_ihos_chroot_sources() (
    set -euo pipefail
    printf 'deb %s %s main\n' "$1" "$IHOS_SUITE"
    _ihos_apt_entries | awk -F'\t' -v s="$IHOS_SUITE" '
        ($2 == s "-updates" || $2 == s "-security") && $1 ~ /^(https?|ftp):\/\// && !seen[$1 FS $2]++ {
            uri = $1; sub(/\/+$/, "", uri); print "deb " uri " " $2 " main"
        }'
)

_ihos_image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

_ihos_ensure_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    command -v curl >/dev/null || missing+=(curl)
    command -v docker >/dev/null || _ihos_die "docker CLI not found (the Docker engine must already be running)"
    if [ ${#missing[@]} -gt 0 ]; then
        _ihos_log "installing ${missing[*]} via apt"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
            apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        fi
    fi
    docker info >/dev/null 2>&1 || _ihos_die "cannot talk to the Docker engine (is dockerd running?)"
}

# Mount points under ROOT, deepest first.
_ihos_mounts_under() {
    awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

_ihos_umount_all() {
    local root=$1 m
    for m in $(_ihos_mounts_under "$root"); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || _ihos_log "warning: could not unmount $m"
    done
}

_ihos_rm_rootfs() {
    local root=$1
    [ -d "$root" ] || return 0
    _ihos_umount_all "$root"
    if [ -n "$(_ihos_mounts_under "$root")" ]; then
        _ihos_die "refusing to delete $root: something is still mounted under it"
    fi
    rm -rf --one-file-system "$root"
}

# Build the root filesystem in $1 and import it as ihos/base:bookworm.
_ihos_build_base() {
    local cache=$1 root="$1/rootfs" mirror t0 t1 t2 t3 t_deb t_inst t_imp
    mirror=$(ihos_apt_mirror "$IHOS_SUITE")
    _ihos_log "mirror (from this machine's apt sources): $mirror"
    mkdir -p "$cache/debootstrap-debs" "$cache/apt-archives/partial"
    _ihos_rm_rootfs "$root"
    # shellcheck disable=SC2064
    trap "_ihos_umount_all '$root'" EXIT
    trap 'exit 130' INT TERM HUP   # run the EXIT trap (unmount) on signals too

    t0=$(date +%s.%N)
    _ihos_log "debootstrap --variant=minbase $IHOS_SUITE $root $mirror"
    debootstrap --variant=minbase --cache-dir="$cache/debootstrap-debs" \
        "$IHOS_SUITE" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || { tail -n 30 "$cache/debootstrap.log" >&2; _ihos_die "debootstrap failed (log: $cache/debootstrap.log)"; }
    _ihos_umount_all "$root"   # debootstrap may leave /proc or /sys mounted
    t1=$(date +%s.%N)

    _ihos_log "installing in chroot: $IHOS_CHROOT_PACKAGES"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    # Keep the image lean: no man pages, docs (copyright files kept) or translations.
    cat >"$root/etc/dpkg/dpkg.cfg.d/ihos-excludes" <<'EOF'
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
    # Debian's java postinst expects man dirs for update-alternatives slave links.
    mkdir -p "$root/usr/share/man/man1"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    _ihos_chroot_sources "$mirror" >"$root/etc/apt/sources.list"
    _ihos_log "chroot apt sources: $(tr '\n' ';' <"$root/etc/apt/sources.list")"
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --bind /dev "$root/dev"
    mount --bind /dev/pts "$root/dev/pts" 2>/dev/null || true
    mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
    local chenv=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
                 DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 LANG=C.UTF-8 HOME=/root)
    local pkgs
    read -r -a pkgs <<<"$IHOS_CHROOT_PACKAGES"
    {
        chroot "$root" "${chenv[@]}" apt-get update -q &&
        chroot "$root" "${chenv[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}"
    } >"$cache/install.log" 2>&1 \
        || { tail -n 30 "$cache/install.log" >&2; _ihos_die "apt-get in chroot failed (log: $cache/install.log)"; }

    # Tomcat layout for a container: CATALINA_HOME from the package, CATALINA_BASE in /opt/tomcat
    # with its own conf copy and plain directories that can be bind-mounted from the host.
    # shellcheck disable=SC2016
    chroot "$root" "${chenv[@]}" sh -euc '
        test -x /usr/share/tomcat10/bin/catalina.sh
        test -d /usr/lib/jvm/default-java
        mkdir -p /opt/tomcat/webapps /opt/tomcat/logs /opt/tomcat/work /opt/tomcat/temp /opt/tomcat/lib /opt/tomcat/bin
        rm -rf /opt/tomcat/conf
        cp -a /etc/tomcat10 /opt/tomcat/conf
        cat >/opt/tomcat/bin/setenv.sh <<EOF
# ihos: sourced by catalina.sh
: "\${JAVA_HOME:=/usr/lib/jvm/default-java}"
export JAVA_HOME
EOF
        chmod 0755 /opt/tomcat/bin/setenv.sh
        nginx -t -q
        # (no apt-get clean: /var/cache/apt/archives is the bind-mounted build cache)
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log /tmp/* /var/tmp/*
    ' >>"$cache/install.log" 2>&1 \
        || { tail -n 30 "$cache/install.log" >&2; _ihos_die "tomcat/nginx layout setup in chroot failed (log: $cache/install.log)"; }
    rm -f "$root/usr/sbin/policy-rc.d"
    _ihos_umount_all "$root"
    trap - EXIT INT TERM HUP
    [ -z "$(_ihos_mounts_under "$root")" ] || _ihos_die "mounts left under $root"
    : >"$root/etc/resolv.conf"
    : >"$root/etc/hostname" 2>/dev/null || true
    t2=$(date +%s.%N)

    _ihos_log "docker import -> $IHOS_BASE_IMAGE"
    tar --numeric-owner --xattrs -C "$root" -c --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' . \
        | docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            --change "LABEL org.ihos.mirror=$mirror org.ihos.packages=\"$IHOS_CHROOT_PACKAGES\"" \
            --message "ihos debootstrap minbase $IHOS_SUITE" \
            - "$IHOS_BASE_IMAGE" >/dev/null \
        || _ihos_die "docker import of $root failed"
    t3=$(date +%s.%N)
    _ihos_rm_rootfs "$root"

    t_deb=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    t_inst=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
    t_imp=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.1f", b - a }')
    printf '%s debootstrap=%ss install=%ss import=%ss\n' "$(date -u +%FT%TZ)" "$t_deb" "$t_inst" "$t_imp" >>"$cache/timings.log"
    _ihos_log "timings: debootstrap ${t_deb}s, chroot install ${t_inst}s, docker import ${t_imp}s"
}

# _ihos_derive TAG STOPSIGNAL CHANGE... — derive TAG from the base image without starting any
# container and without pulling: `docker create` + `docker commit --change` (CMD ENV EXPOSE LABEL
# WORKDIR ...; a few seconds), plus, only when STOPSIGNAL is non-empty (commit cannot set it on
# engine 20.10), a one-line `docker build` FROM the committed image (legacy builder; each
# Dockerfile step costs ~3 s on this engine). Skipped when TAG already carries the same recipe
# hash (base image id + changes).
_ihos_derive() {
    local tag=$1 stopsig=$2; shift 2
    local base_id hash cur old cid stage args=() c out
    base_id=$(docker image inspect -f '{{.Id}}' "$IHOS_BASE_IMAGE")
    hash=$(printf '%s\n' "$base_id" "$stopsig" "$@" | sha256sum | cut -c1-16)
    cur=$(docker image inspect -f '{{index .Config.Labels "org.ihos.recipe"}}' "$tag" 2>/dev/null || true)
    if [ "$cur" = "$hash" ]; then
        _ihos_log "$tag is up to date (recipe $hash)"
        return 0
    fi
    old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    _ihos_log "deriving $tag from $IHOS_BASE_IMAGE (docker commit${stopsig:+ + docker build for STOPSIGNAL})"
    for c in "$@"; do args+=(--change "$c"); done
    args+=(--change "LABEL org.ihos.recipe=$hash")
    stage=$tag
    [ -z "$stopsig" ] || stage="$tag-stage"
    cid=$(docker create "$IHOS_BASE_IMAGE")
    if ! out=$(docker commit "${args[@]}" -m "ihos $tag" "$cid" "$stage" 2>&1); then
        docker rm "$cid" >/dev/null 2>&1 || true
        printf '%s\n' "$out" >&2
        _ihos_die "docker commit of $stage failed"
    fi
    docker rm "$cid" >/dev/null
    if [ -n "$stopsig" ]; then
        if ! out=$(printf 'FROM %s\nSTOPSIGNAL %s\n' "$stage" "$stopsig" \
                | DOCKER_BUILDKIT=0 docker build --pull=false -q -t "$tag" - 2>&1); then
            printf '%s\n' "$out" >&2
            _ihos_die "docker build of $tag (FROM $stage) failed"
        fi
        docker rmi "$stage" >/dev/null 2>&1 || true   # untags; the layer stays as the parent
    fi
    if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
        docker rmi "$old" >/dev/null 2>&1 || true     # only succeeds if nothing else uses it
    fi
}

# build_images [--rebuild]
build_images() (
    set -euo pipefail
    rebuild=0
    for a in "$@"; do
        case $a in
            --rebuild) rebuild=1 ;;
            *) _ihos_die "build_images: unknown argument: $a" ;;
        esac
    done
    [ "$(id -u)" = 0 ] || _ihos_die "must run as root (debootstrap, chroot, mount)"
    cache=${IHOS_CACHE_DIR:-/var/cache/ihos}
    mkdir -p "$cache"
    exec 9>"$cache/build.lock"
    flock 9 || _ihos_die "cannot lock $cache/build.lock"
    _ihos_ensure_tools

    old_base=$(docker image inspect -f '{{.Id}}' "$IHOS_BASE_IMAGE" 2>/dev/null || true)
    if [ "$rebuild" = 0 ] && _ihos_image_exists "$IHOS_BASE_IMAGE"; then
        _ihos_log "$IHOS_BASE_IMAGE exists; skipping debootstrap (use --rebuild to force)"
    else
        _ihos_build_base "$cache"
    fi

    _ihos_derive "$IHOS_NGINX_IMAGE" SIGQUIT \
        'LABEL org.ihos.role=nginx' \
        'EXPOSE 80' \
        'CMD ["nginx", "-g", "daemon off;"]'

    _ihos_derive "$IHOS_TOMCAT_IMAGE" "" \
        'LABEL org.ihos.role=tomcat' \
        'ENV CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE=/opt/tomcat CATALINA_TMPDIR=/opt/tomcat/temp JAVA_HOME=/usr/lib/jvm/default-java JAVA_OPTS=-Djava.awt.headless=true' \
        'WORKDIR /opt/tomcat' \
        'EXPOSE 8080' \
        'CMD ["/usr/share/tomcat10/bin/catalina.sh", "run"]'

    if [ -n "$old_base" ] && [ "$old_base" != "$(docker image inspect -f '{{.Id}}' "$IHOS_BASE_IMAGE")" ]; then
        docker rmi "$old_base" >/dev/null 2>&1 || true   # the replaced base, unless still in use
    fi
    for img in "$IHOS_BASE_IMAGE" "$IHOS_NGINX_IMAGE" "$IHOS_TOMCAT_IMAGE"; do
        _ihos_log "$(docker image inspect -f '{{index .RepoTags 0}} {{.Id}} {{.Size}}' "$img" \
            | awk '{ printf "%s %s %.0f MB", $1, substr($2, 8, 12), $3 / 1e6 }')"
    done
)

# ihos_docker_run_flags — print (one line, space separated, maybe empty) the extra flags `docker run`
# needs on this machine. Use as:  flags=$(ihos_docker_run_flags); docker run $flags ...
# (the flags contain no spaces or glob characters, so unquoted expansion is intended).
# Why: a machine without CAP_SYS_RESOURCE cannot raise rlimits; if the engine asks runc to set
# limits above the hard ones, container start fails with "error setting rlimit ... operation not
# permitted". Then explicit --ulimit values within the hard limits are needed. The answer is probed
# with a throw-away container (~0.3 s) and cached per boot in $IHOS_CACHE_DIR/docker-run-flags;
# $IHOS_DOCKER_RUN_FLAGS (even empty) overrides the probe.
ihos_docker_run_flags() {
    if [ -n "${IHOS_DOCKER_RUN_FLAGS+x}" ]; then printf '%s\n' "$IHOS_DOCKER_RUN_FLAGS"; return 0; fi
    local img=$IHOS_BASE_IMAGE out nofile nproc flags="" cache boot key
    cache=${IHOS_CACHE_DIR:-/var/cache/ihos}/docker-run-flags
    boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
    key="boot=$boot"
    if [ -r "$cache" ] && [ "$(head -n1 "$cache")" = "$key" ]; then
        sed -n 2p "$cache"; return 0
    fi
    if ! _ihos_image_exists "$img"; then
        printf 'image.sh: error: %s missing; run scripts/lib/image.sh build first\n' "$img" >&2
        return 1
    fi
    if ! out=$(docker run --rm --network none --log-driver none "$img" true 2>&1); then
        case $out in
            *rlimit*)
                nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
                if [ "$nofile" = unlimited ] || [ "$nofile" -gt 20000 ]; then nofile=20000; fi
                if [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ]; then nproc=4096; fi
                flags="--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc"
                # shellcheck disable=SC2086
                if ! out=$(docker run --rm --network none --log-driver none $flags "$img" true 2>&1); then
                    printf 'image.sh: error: docker run fails even with %s:\n%s\n' "$flags" "$out" >&2
                    return 1
                fi
                printf 'image.sh: docker run needs: %s\n' "$flags" >&2 ;;
            *) printf 'image.sh: error: docker run probe failed:\n%s\n' "$out" >&2; return 1 ;;
        esac
    fi
    mkdir -p "${cache%/*}" 2>/dev/null && printf '%s\n%s\n' "$key" "$flags" >"$cache.tmp.$$" \
        && mv -f "$cache.tmp.$$" "$cache" 2>/dev/null || true
    printf '%s\n' "$flags"
}

# ihos_prove_images — run nginx and tomcat containers on 127.0.0.1, curl them, remove them.
ihos_prove_images() (
    set -euo pipefail
    flags=$(ihos_docker_run_flags)
    suffix="$$-$RANDOM"
    ng="ihos-prove-nginx-$suffix" tc="ihos-prove-tomcat-$suffix"
    tmp=$(mktemp -d)
    trap 'docker rm -f "$ng" "$tc" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/webapps/ROOT" "$tmp/logs"
    echo "hello from ihos tomcat" >"$tmp/webapps/ROOT/index.html"
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    docker run -d --name "$ng" $flags -p 127.0.0.1::80 "$IHOS_NGINX_IMAGE" >/dev/null
    # shellcheck disable=SC2086
    docker run -d --name "$tc" $flags -p 127.0.0.1::8080 \
        -v "$tmp/webapps:/opt/tomcat/webapps" -v "$tmp/logs:/opt/tomcat/logs" "$IHOS_TOMCAT_IMAGE" >/dev/null
    np=$(docker port "$ng" 80/tcp | head -n1); tp=$(docker port "$tc" 8080/tcp | head -n1)
    wait_url() {
        local url=$1
        for _ in $(seq 1 300); do
            if curl -fsS -m 2 "$url" -o /dev/null 2>/dev/null; then return 0; fi
            sleep 0.1
        done
        return 1
    }
    wait_url "http://$np/" || { docker logs "$ng" >&2; _ihos_die "nginx did not answer on $np"; }
    t1=$(date +%s%N)
    wait_url "http://$tp/" || { docker logs "$tc" >&2; _ihos_die "tomcat did not answer on $tp"; }
    t2=$(date +%s%N)
    _ihos_log "nginx  on $np: $(curl -fsS -o /dev/null -w '%{http_code}' "http://$np/") ($(( (t1 - t0) / 1000000 )) ms from docker run)"
    body=$(curl -fsS "http://$tp/")
    [ "$body" = "hello from ihos tomcat" ] || _ihos_die "unexpected tomcat body: $body"
    _ihos_log "tomcat on $tp: '$body' ($(( (t2 - t0) / 1000000 )) ms from docker run)"
    docker exec "$ng" nginx -t -q || _ihos_die "nginx -t failed inside $ng"
    docker exec "$ng" nginx -s reload 2>/dev/null || _ihos_die "nginx -s reload failed inside $ng"
    _ihos_log "nginx -t and nginx -s reload inside the container: ok"
    compgen -G "$tmp/logs/catalina.*" >/dev/null || _ihos_die "tomcat wrote no catalina log into the bind-mounted logs dir"
    _ihos_log "tomcat logs dir (bind mount): $(cd "$tmp/logs" && echo *)"
    t0=$(date +%s%N)
    docker stop "$tc" >/dev/null
    t1=$(date +%s%N)
    _ihos_log "docker stop tomcat: $(( (t1 - t0) / 1000000 )) ms, exit code $(docker inspect -f '{{.State.ExitCode}}' "$tc")"
    _ihos_log "prove: ok (run flags: '${flags}')"
)

_ihos_image_main() {
    set -euo pipefail
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case $cmd in
        build) build_images "$@" ;;
        flags) ihos_docker_run_flags ;;
        mirror) ihos_apt_mirror "$@" ;;
        prove) ihos_prove_images ;;
        *) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _ihos_image_main "$@"
fi
