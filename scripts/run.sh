#!/usr/bin/env bash
# What the README's two commands run: `npm run demo` and `npm test`.
# Installs what is missing (pnpm, Debian packages, npm dependencies), builds, then runs the job.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'shylock setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

job="${1:-}"
shift || true
case "$job" in
  demo | test | bench) ;;
  *) die "usage: scripts/run.sh demo|test|bench [args…]" ;;
esac

# Node: the one thing the machine must bring.
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  die "Node $(node -v 2>/dev/null || echo none) is too old: shylock needs Node >= 20.19"

# Debian packages this job needs (installed only when missing, and only as root).
debs=()
case "$job" in
  # fuse3 (libfuse 3 and fusermount3) for mounts; gcc, pkg-config and libfuse3-dev to build the
  # binding; python3 for the POSIX probe; etcd and Redis for the backend tests; stress-ng as an
  # outside checker of the local mount; fio for the FUSE benchmark.
  # zookeeper, docker.io and busybox-static for @shylock/test-servers' ZooKeeper and Docker.
  test) debs=(fuse3 libfuse3-dev pkg-config gcc python3 etcd-server etcd-client redis-server redis-tools stress-ng zookeeper docker.io busybox-static) ;;
  demo) debs=(fuse3 libfuse3-dev pkg-config gcc) ;;
  bench) debs=(fuse3 libfuse3-dev pkg-config gcc python3 fio etcd-server etcd-client redis-server redis-tools) ;;
esac
missing=()
for pkg in "${debs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then die "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"; fi
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -e /dev/fuse ]; then
  die "/dev/fuse is missing: this machine cannot mount FUSE file systems (load the fuse module: modprobe fuse)"
fi

# pnpm, at the version package.json pins.
want=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  say "installing pnpm $want"
  npm install --global --no-fund --no-audit "pnpm@$want" >/dev/null 2>&1 ||
    die "could not install pnpm $want with npm; install it yourself (npm install -g pnpm@$want)"
  hash -r
fi

export TURBO_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build

case "$job" in
  demo) exec node examples/mount-local-qos/dist/demo.js "$@" ;;
  test)
    pnpm exec vitest run "$@"
    # Lint: Biome (format and rules), then publint and attw on every published package.
    pnpm exec biome check . --reporter=summary >/dev/null || pnpm exec biome check .
    pnpm --silent --recursive --filter './packages/*' run lint
    ;;
  # One benchmark at a time: each measures ratios side by side and needs the machine to itself.
  bench) exec pnpm exec turbo run bench --concurrency=1 --output-logs=full "$@" ;;
esac
