#!/usr/bin/env bash
# The whole test suite, on a fresh machine or this one:
#   - uses PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 when they answer,
#     otherwise installs them (apt-get) and starts private instances on loopback;
#   - go vet, then go test -race over every package with the integration suites
#     enabled (a missing service fails the run instead of skipping);
#   - short fuzz runs of the decoders of untrusted input;
#   - fails when total statement coverage is below 80%.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COVER_MIN=${COVER_MIN:-80}
STATE=${CHORUS_TEST_STATE:-/tmp/chorus-test-services}
mkdir -p "$STATE"

log() { printf '\n== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f "$STATE/apt-updated" ]; then apt-get update -qq && touch "$STATE/apt-updated"; fi
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 "$@" >/dev/null
}

# ---- Go
if ! have go; then
  for d in /usr/local/go/bin /usr/lib/go/bin; do [ -x "$d/go" ] && PATH="$d:$PATH"; done
fi
have go || { echo "Go is required (https://go.dev/dl); none found" >&2; exit 1; }

# ---- PostgreSQL
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
if [ -z "${CHORUS_TEST_DATABASE_URL:-}" ]; then
  if pg_up 5432 && have psql && psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    export CHORUS_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
  else
    log "starting a private PostgreSQL on 127.0.0.1:55432"
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$PGBIN" ]; then apt_install postgresql; PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); fi
    PGDATA="$STATE/pg"
    if ! pg_up 55432; then
      rm -rf "$PGDATA"; mkdir -p "$PGDATA"; chown -R postgres:postgres "$STATE/pg" 2>/dev/null || true
      runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
      runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w -o "-p 55432 -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
      runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p 55432 -U postgres test
    fi
    export CHORUS_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:55432/test?sslmode=disable'
  fi
fi

# ---- Redis
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
if [ -z "${CHORUS_TEST_REDIS_URL:-}" ]; then
  if redis_up 6379; then
    export CHORUS_TEST_REDIS_URL='redis://127.0.0.1:6379/0'
  else
    log "starting a private Redis on 127.0.0.1:56379"
    have redis-server || apt_install redis-server
    redis_up 56379 || redis-server --bind 127.0.0.1 --port 56379 --save '' --appendonly no --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
    for _ in $(seq 1 50); do redis_up 56379 && break; sleep 0.1; done
    export CHORUS_TEST_REDIS_URL='redis://127.0.0.1:56379/0'
  fi
fi
export CHORUS_TEST_REQUIRE_SERVICES=1
echo "PostgreSQL: ${CHORUS_TEST_DATABASE_URL%%\?*}   Redis: $CHORUS_TEST_REDIS_URL"

# ---- Static checks
log "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...

# ---- Tests with the race detector and coverage
log "go test -race (integration suites enabled)"
# -coverpkg: a package's statements count as covered by any package's tests
# (the end-to-end suites in internal/app exercise chat, gateway and server).
COVERPKG=$(go list ./... | grep -v -e '/cmd/' -e '/internal/chorustest$' | paste -sd, -)
go test -race -count=1 -timeout 20m -coverpkg="$COVERPKG" -coverprofile="$ROOT/coverage.out" -covermode=atomic ./... |
  sed -E 's/ of statements in .*/ of all statements/'


# ---- Short fuzz runs of the decoders of untrusted input
log "fuzzing (short runs)"
# fuzz DIR TARGET: a failing input fails at once (Go records it under DIR/testdata/fuzz,
# shown with the output); the fuzzing engine failing without one (a worker lost while
# minimizing) is retried once, then fails too.
fuzz() {
  local out attempt
  out=$(mktemp)
  for attempt in 1 2; do
    if go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 10s "$1" >"$out" 2>&1; then
      rm -f "$out"; echo "fuzz $2 ok"; return 0
    fi
    [ -z "$(git status --porcelain -- "$1/testdata/fuzz/$2" 2>/dev/null)" ] || break
    echo "fuzz $2: the fuzzing engine failed without a failing input (attempt $attempt):" >&2
    grep -v '^fuzz: elapsed' "$out" | tail -8 >&2
  done
  echo "fuzz $1 $2 failed:" >&2
  grep -v '^fuzz: elapsed' "$out" | tail -40 >&2
  git status --porcelain -- "$1/testdata/fuzz/$2" >&2 2>/dev/null || true
  exit 1
}
for target in $(grep -rl --include='*_test.go' '^func Fuzz' internal | sort); do
  dir=./$(dirname "$target")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$target" | sed 's/^func //'); do fuzz "$dir" "$f"; done
done

# ---- Front end: unit tests, committed build is fresh, and a real browser chat
log "web: npm test, dist freshness"
have npm || apt_install nodejs npm
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm test --silent)
web/check-dist.sh

log "browser end-to-end (Debian Chromium + playwright-core)"
have chromium || apt_install chromium
E2E=$(mktemp -d)
go build -o "$E2E/chorus" ./cmd/chorus
port=$(( 30000 + RANDOM % 20000 ))
"$E2E/chorus" --http-addr "127.0.0.1:$port" --data-dir "$E2E/data" --log-format text >"$E2E/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "Admin password" "$E2E/server.log" && break; sleep 0.1; done
password=$(awk '/Admin password/ {print $3; exit}' "$E2E/server.log")
[ -n "$password" ] || { cat "$E2E/server.log"; echo "server did not print the admin password" >&2; exit 1; }
(cd web && CHORUS_E2E_URL="http://127.0.0.1:$port" CHORUS_E2E_EMAIL=admin@demo.local CHORUS_E2E_PASSWORD="$password" \
  CHORUS_E2E_TENANT=demo node e2e/chat.e2e.mjs "$E2E/screenshots") || { tail -40 "$E2E/server.log"; exit 1; }
kill $server_pid; wait $server_pid 2>/dev/null || true
trap - EXIT

# ---- Coverage gate
total=$(go tool cover -func="$ROOT/coverage.out" | awk '/^total:/ {sub("%","",$3); print $3}')
echo "total statement coverage: ${total}% (minimum ${COVER_MIN}%)"
awk -v t="$total" -v m="$COVER_MIN" 'BEGIN { exit !(t+0 >= m+0) }' || { echo "coverage ${total}% is below ${COVER_MIN}%" >&2; exit 1; }
echo "all checks passed"
