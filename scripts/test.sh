#!/usr/bin/env bash
# Installs what the tests need (Debian packages for the real directory servers and the browser,
# npm packages) and runs every test: type-check, lint, the dependency check, then all node:test files.
#   npm test                 everything
#   npm test -- --no-setup   skip the install steps (they are idempotent anyway)
#   npm test -- <files...>   only these test files
set -euo pipefail
cd "$(dirname "$0")/.."

setup=1
files=()
for arg in "$@"; do
  case "$arg" in
    --no-setup) setup=0 ;;
    *) files+=("$arg") ;;
  esac
done

if [ "$setup" = 1 ]; then
  if [ -x scripts/install-directory-servers.sh ] || [ -f scripts/install-directory-servers.sh ]; then
    bash scripts/install-directory-servers.sh
  fi
  [ -d node_modules ] || npm ci
fi

echo "== type-check"
npx tsc -p tsconfig.json --noEmit
echo "== lint and format (biome.json: the linter's recommended rules; the formatter, line width 120)"
npx biome check .
echo "== dependency check (.dependency-cruiser.cjs: no import cycle in packages/*/src, packages only through their public entry, cloud layers http/web → usecases → domain → store)"
npx depcruise --config .dependency-cruiser.cjs packages/*/src

if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(find packages test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
fi
echo "== ${#files[@]} test files"
# Two workers: the machine has 2 cores and some tests start real servers (Samba, slapd).
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
