#!/usr/bin/env bash
# The whole test suite. Installs what it needs on a fresh Debian machine,
# then runs the static checks and every test (sandbox tests for real: they
# need root and fail, never skip, without it).
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchains of the languages the engine tests (internal/engine), and
# script(1), which gives the CLI's tests a terminal.
need=()
for pair in python3:python3 node:nodejs npm:npm gcc:gcc g++:g++ javac:default-jdk-headless \
  perl:perl bash:bash tsc:node-typescript rustc:rustc script:bsdutils; do
  [ -x "/usr/bin/${pair%%:*}" ] || need+=("${pair#*:}")
done
# Dependency environments (internal/deps): pip builds Python ones; the
# host's own NumPy and SciPy make an operator environment of the
# scientific kind the platform runs (a cantilever beam's calculation).
[ -f /usr/lib/python3/dist-packages/pip/__main__.py ] || need+=(python3-pip)
[ -d /usr/lib/python3/dist-packages/numpy ] || need+=(python3-numpy)
[ -d /usr/lib/python3/dist-packages/scipy ] || need+=(python3-scipy)
# The servers of distributed mode: the tests start their own throwaway
# instances (internal/testserver), never the system's.
[ -x /usr/bin/redis-server ] || need+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# The playground's browser test (internal/playground) drives Chromium.
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x /usr/local/go/bin/go ]; then
  echo "the Go language tests need Go at /usr/local/go (the catalog's path)" >&2
  exit 1
fi
export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v staticcheck >/dev/null; then
  echo "== installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

# An S3-compatible server for internal/s3, built from the Go module proxy.
versitygw="$PWD/.cache/bin/versitygw-v1.8.0"
if [ ! -x "$versitygw/versitygw" ]; then
  echo "== building versitygw (S3 server for the tests)"
  GOBIN="$versitygw" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

# A real Piston client for internal/piston's TestPistonClient.
export AIRLOCK_PISTON_CLIENT="$PWD/.cache/piston-client/node_modules"
if [ ! -f "$AIRLOCK_PISTON_CLIENT/piston-client/index.js" ]; then
  echo "== installing the npm piston-client"
  npm install --prefix .cache/piston-client piston-client@1.0.2 --no-audit --no-fund >/dev/null
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck ./...
echo "== deployment files (compose-go, as docker compose config; Kubernetes API types, strictly)"
(cd deploy/check && go vet . && staticcheck . && go run . ../..)
echo "== go test"
go test -race -count=1 -timeout 10m ./...
echo "== the sandbox suite again, every program in a prepared (warm-pool) sandbox"
AIRLOCK_TEST_PREPARED=1 go test -count=1 -timeout 5m ./internal/sandbox/native/
echo "== the service's API tests again, over a fleet's servers (PostgreSQL, Redis, S3) in distributed mode"
AIRLOCK_TEST_BACKENDS=fleet go test -race -count=1 -timeout 10m ./internal/api/ ./internal/judge0/ ./internal/piston/
echo "== fuzz the request decoders (bounded)"
# Budgets are counts (about 10 s each here), not durations: with a duration,
# Go 1.26's fuzz coordinator can fail a clean run with "context deadline
# exceeded" when the deadline races a busy worker (go.dev/issue/75804).
go test -run '^$' -fuzz FuzzDecode -fuzztime 50000x ./internal/api/
go test -run '^$' -fuzz FuzzSubmission -fuzztime 500000x ./internal/engine/
go test -run '^$' -fuzz FuzzParseSubmission -fuzztime 50000x ./internal/judge0/
go test -run '^$' -fuzz FuzzParseJob -fuzztime 60000x ./internal/piston/
echo "== cgroup v2 guest (qemu, pure cgroup v2 kernel)"
# The tests' own timeout comes before the guest's (280 s), so a test that
# hangs prints its goroutines instead of dying silently with the guest.
guest=(env CGO_ENABLED=0 go test -count=1 -timeout 4m -exec "$PWD/scripts/qemu-exec")
"${guest[@]}" ./internal/cgroup/
"${guest[@]}" -run '^TestDoctor$' ./cmd/airlock/
"${guest[@]}" -run '^TestCore' ./internal/sandbox/native/ # as a systemd service with Delegate=yes
some='^TestCore(CgroupVersion|Checks|Limits|Concurrent)$'
AIRLOCK_TEST_CGROUP=root "${guest[@]}" -run "$some" ./internal/sandbox/native/ # in the root cgroup
AIRLOCK_TEST_CONTAINER=1 "${guest[@]}" -run "$some" ./internal/sandbox/native/ # in a container with its own cgroup namespace
echo "== all passed; the playground's screenshot: .cache/artifacts/playground.png"
