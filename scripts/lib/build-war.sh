#!/usr/bin/env bash
# build-war.sh — build the ihos test web app (sandbox/app, jakarta.servlet, Tomcat 10) into a WAR.
#
# Usage:
#   scripts/lib/build-war.sh VERSION OUTDIR [--variant ok|fail-start|log-exception|errors-5pct|slow-300ms]
#       writes OUTDIR/ihos-VERSION.war (variant ok) or OUTDIR/ihos-VERSION-VARIANT.war and prints
#       its path on stdout. VERSION: [A-Za-z0-9._+-], at most 64 characters.
#   scripts/lib/build-war.sh --prove
#       builds a WAR, runs it in an ihos/tomcat:test container (webapps/ and logs/ bind-mounted from a
#       temp dir, port published on 127.0.0.1 only), checks /ihos/version, /ihos/health, /ihos/work and
#       the startup log line, then removes the container. Needs scripts/lib/image.sh build first.
#
# The app: /version -> VERSION, /health -> "ok", /work?ms=N (GET/POST) -> sleeps N ms, "ok VERSION N";
# every answer has header X-Ihos-Version. On start it appends "... ihos app VERSION started" to
# logs/logFile.YYYY-MM-DD.log (dir: -Dihos.log.dir, else $IHOS_LOG_DIR, else $CATALINA_BASE/logs).
# Variants: fail-start throws in contextInitialized (Tomcat fails to deploy it); log-exception starts
# and logs a java.lang.IllegalStateException with its stack trace. errors-5pct answers 500 to every
# 20th request other than /health; slow-300ms answers those 300 ms later.
#
# Compiles with `javac --release 17` against Tomcat 10.1's servlet-api jar, taken from the first of:
# $IHOS_SERVLET_API_JAR; /usr/share/java/tomcat10-servlet-api.jar on this machine;
# the ihos/base:bookworm image (docker create + docker cp, cached per image id in
# ${IHOS_CACHE_DIR:-/var/cache/ihos}/tomcat10-servlet-api.ID.jar); any such cached jar;
# else `apt-get install libtomcat10-java`.
# Installs openjdk-17-jdk-headless via apt if javac or jar is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
APP_DIR="$REPO/sandbox/app"
CACHE=${IHOS_CACHE_DIR:-/var/cache/ihos}
BASE_IMAGE=ihos/base:bookworm
TOMCAT_IMAGE=ihos/tomcat:test
JAR_IN_IMAGE=/usr/share/java/tomcat10-servlet-api.jar

log() { printf 'build-war.sh: %s\n' "$*" >&2; }
die() { printf 'build-war.sh: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

apt_install() {
    log "installing $* via apt"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

ensure_jdk() {
    if command -v javac >/dev/null && command -v jar >/dev/null \
        && javac --release 17 -version >/dev/null 2>&1; then
        return 0
    fi
    apt_install openjdk-17-jdk-headless
    if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then die "javac/jar still missing after apt"; fi
}

servlet_api_jar() {
    if [ -n "${IHOS_SERVLET_API_JAR:-}" ]; then
        [ -r "$IHOS_SERVLET_API_JAR" ] || die "IHOS_SERVLET_API_JAR=$IHOS_SERVLET_API_JAR is not readable"
        printf '%s\n' "$IHOS_SERVLET_API_JAR"; return 0
    fi
    if [ -r "$JAR_IN_IMAGE" ]; then printf '%s\n' "$JAR_IN_IMAGE"; return 0; fi
    # Cached per base image id, so the jar always matches the Tomcat in the image.
    local img_id="" cached="" newest f
    if command -v docker >/dev/null; then
        img_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
    fi
    if [ -n "$img_id" ]; then
        img_id=${img_id#sha256:}
        cached="$CACHE/tomcat10-servlet-api.${img_id:0:12}.jar"
        if [ -s "$cached" ]; then printf '%s\n' "$cached"; return 0; fi
        local cid tmp
        mkdir -p "$CACHE"
        tmp="$cached.tmp.$$"
        cid=$(docker create "$BASE_IMAGE" true)
        # -L: the path may be a symlink; copy the file it points to.
        if docker cp -L "$cid:$JAR_IN_IMAGE" "$tmp" >/dev/null 2>&1 && [ -s "$tmp" ]; then
            docker rm "$cid" >/dev/null
            mv -f "$tmp" "$cached"
            log "servlet API jar extracted from $BASE_IMAGE into $cached"
            printf '%s\n' "$cached"; return 0
        fi
        docker rm "$cid" >/dev/null 2>&1 || true
        rm -f "$tmp"
        log "could not extract $JAR_IN_IMAGE from $BASE_IMAGE; falling back"
    fi
    newest=""
    for f in "$CACHE"/tomcat10-servlet-api.*.jar; do
        if [ -s "$f" ] && { [ -z "$newest" ] || [ "$f" -nt "$newest" ]; }; then newest=$f; fi
    done
    if [ -n "$newest" ] && [ -s "$newest" ]; then printf '%s\n' "$newest"; return 0; fi
    apt_install libtomcat10-java
    [ -r "$JAR_IN_IMAGE" ] || die "$JAR_IN_IMAGE missing after installing libtomcat10-java"
    printf '%s\n' "$JAR_IN_IMAGE"
}

build_war() {
    local version=$1 outdir=$2 variant=$3
    [[ $version =~ ^[A-Za-z0-9._+-]{1,64}$ ]] || die "bad VERSION '$version' (allowed: [A-Za-z0-9._+-], 1..64 chars)"
    case $variant in ok|fail-start|log-exception|errors-5pct|slow-300ms) ;; *) die "bad variant '$variant' (ok|fail-start|log-exception|errors-5pct|slow-300ms)" ;; esac
    [ -d "$APP_DIR/src/main/java" ] || die "app sources not found in $APP_DIR"
    ensure_jdk
    local api name out work
    api=$(servlet_api_jar)
    name="ihos-$version"
    [ "$variant" = ok ] || name="$name-$variant"
    mkdir -p "$outdir"
    out="$(cd "$outdir" && pwd)/$name.war"
    work=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    mkdir -p "$work/war/WEB-INF/classes"
    cp -R "$APP_DIR/src/main/webapp/." "$work/war/"
    find "$APP_DIR/src/main/java" -name '*.java' -print0 | sort -z >"$work/sources"
    xargs -0 javac --release 17 -encoding UTF-8 -nowarn -Xlint:-options \
        -cp "$api" -d "$work/war/WEB-INF/classes" <"$work/sources" >&2 \
        || die "javac failed"
    printf 'version=%s\nvariant=%s\n' "$version" "$variant" >"$work/war/WEB-INF/classes/ihos-build.properties"
    rm -f "$out.tmp"
    (cd "$work/war" && jar --create --file "$out.tmp" --no-manifest .) || die "jar failed"
    mv -f "$out.tmp" "$out"
    log "built $out (variant $variant, $(stat -c %s "$out") bytes, servlet API: $api)"
    printf '%s\n' "$out"
}

prove() {
    # shellcheck source=scripts/lib/image.sh
    source "$HERE/image.sh"
    docker image inspect "$TOMCAT_IMAGE" >/dev/null 2>&1 || die "$TOMCAT_IMAGE missing: run scripts/lib/image.sh build"
    local flags tmp name war port t0 t1 body day
    flags=$(ihos_docker_run_flags)
    tmp=$(mktemp -d)
    name="ihos-prove-war-$$-$RANDOM"
    # shellcheck disable=SC2064
    trap "docker rm -f '$name' >/dev/null 2>&1 || true; rm -rf '$tmp'" EXIT
    mkdir -p "$tmp/out" "$tmp/webapps" "$tmp/logs"
    t0=$(date +%s%N)
    war=$("$0" "1.0.0-prove" "$tmp/out")
    t1=$(date +%s%N)
    log "WAR build took $(( (t1 - t0) / 1000000 )) ms"
    cp "$war" "$tmp/webapps/ihos.war"
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    docker run -d --name "$name" $flags -p 127.0.0.1::8080 \
        -v "$tmp/webapps:/opt/tomcat/webapps" -v "$tmp/logs:/opt/tomcat/logs" "$TOMCAT_IMAGE" >/dev/null
    port=$(docker port "$name" 8080/tcp | head -n1)
    body=""
    for _ in $(seq 1 300); do
        body=$(curl -fsS -m 2 "http://$port/ihos/version" 2>/dev/null) && break
        sleep 0.1
    done
    t1=$(date +%s%N)
    [ "$body" = "1.0.0-prove" ] || { docker logs "$name" 2>&1 | tail -n 40 >&2; die "GET /ihos/version gave '$body'"; }
    log "GET http://$port/ihos/version -> '$body' ($(( (t1 - t0) / 1000000 )) ms after docker run)"
    [ "$(curl -fsS "http://$port/ihos/health")" = ok ] || die "/ihos/health is not ok"
    body=$(curl -fsS -X POST --data 'x=1' "http://$port/ihos/work?ms=200")
    [ "$body" = "ok 1.0.0-prove 200" ] || die "/ihos/work gave '$body'"
    log "POST /ihos/work?ms=200 -> '$body'"
    day=$(docker exec "$name" date +%F)
    grep -q 'ihos app 1.0.0-prove started' "$tmp/logs/logFile.$day.log" \
        || die "no startup line in logs/logFile.$day.log"
    log "logs/logFile.$day.log: $(grep 'ihos app' "$tmp/logs/logFile.$day.log" | tail -n1)"
    [ -d "$tmp/webapps/ihos" ] && log "webapps/ihos/ exploded by Tomcat (owner $(stat -c %U "$tmp/webapps/ihos"))"
    docker rm -f "$name" >/dev/null
    log "prove: ok"
}

main() {
    [ $# -ge 1 ] || usage
    if [ "$1" = --prove ]; then prove; return; fi
    [ $# -ge 2 ] || usage
    local version=$1 outdir=$2 variant=ok
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
            --variant) [ $# -ge 2 ] || usage; variant=$2; shift 2 ;;
            --variant=*) variant=${1#--variant=}; shift ;;
            *) usage ;;
        esac
    done
    build_war "$version" "$outdir" "$variant"
}

main "$@"
