#!/usr/bin/env bash
# Install node-oidc-provider and server.js into DIR (a temporary directory:
# nothing is installed into the repository), with npm from its registry.
#
#   bench/node-oidc-provider/install.sh DIR [VERSION]
#
# VERSION overrides the one pinned in package.json (8.8.1, the newest line
# that supports Node 20; 9.x runs on Node 20 too but warns that it wants 22).
# Then run it, for example:
#   PORT=3000 CLIENT_SECRET=... WORKERS=2 NODE_ENV=production node DIR/server.js
set -euo pipefail
dir=${1:?usage: install.sh DIR [VERSION]}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
cp "$here/package.json" "$here/server.js" "$dir/"
cd "$dir"
if [[ -n "${2:-}" ]]; then
	npm pkg set "dependencies.oidc-provider=$2"
fi
npm install --omit=dev --no-audit --no-fund --no-package-lock --loglevel=error
echo "installed oidc-provider $(node -p "require('./node_modules/oidc-provider/package.json').version") into $dir" >&2
