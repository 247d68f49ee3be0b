# Sourced by start.sh and test.sh: install dependencies when node_modules is missing or older than package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing npm dependencies" >&2
  npm install --no-audit --no-fund >&2
fi
# Why `npm install` and not `npm ci`: the registry these machines reach lacks some platform-only optional
# packages of @swc/core (darwin, win32), so the lock file cannot list them and `npm ci` refuses the lock file
# as out of sync. `npm install` installs exactly the locked versions that exist.
