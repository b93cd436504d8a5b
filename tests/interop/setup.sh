#!/usr/bin/env bash
# Installs the third-party WAMP clients that tests/interop.rs drives:
#   - autobahn-python into tests/interop/.venv  (pinned in requirements.txt)
#   - autobahn-js + ws into tests/interop/node_modules (pinned in package-lock.json)
# Idempotent and fast when already done: each half is skipped while its stamp
# file matches the hash of what it was installed from. Needs python3 (>= 3.11,
# or $PYTHON), node and npm, and network access to PyPI and npm on first run.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"

hash_of() {
    if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi | cut -c1-64 | tr -d '\n'
}

# Two cargo test processes could run this at once; serialize them.
if command -v flock >/dev/null; then
    exec 9>"${TMPDIR:-/tmp}/switchyard-interop-setup.lock"
    flock 9
fi

# ---- python: autobahn-python in .venv
py_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
py_want="$(hash_of requirements.txt) python-$py_version"
if [ "$(cat .venv/.stamp 2>/dev/null || true)" = "$py_want" ]; then
    echo "interop setup: .venv up to date (python $py_version)"
else
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "interop setup: autobahn needs python >= 3.11, $PYTHON is $py_version (set \$PYTHON)" >&2
        exit 1
    fi
    echo "interop setup: creating .venv with python $py_version and installing requirements.txt"
    rm -rf .venv
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r requirements.txt
    .venv/bin/python -c 'import autobahn, msgpack, cbor2; print("interop setup: autobahn-python", autobahn.__version__)'
    echo "$py_want" > .venv/.stamp
fi

# ---- node: autobahn-js and ws in node_modules
node_version="$(node --version)"
js_want="$(hash_of package-lock.json) node-$node_version"
if [ "$(cat node_modules/.stamp 2>/dev/null || true)" = "$js_want" ]; then
    echo "interop setup: node_modules up to date (node $node_version)"
else
    echo "interop setup: npm ci (node $node_version)"
    # No package here needs an install script (ws falls back to plain JS
    # without its optional native helpers), so none are run.
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    node -e 'console.log("interop setup: autobahn-js", require("autobahn/package.json").version, "ws", require("ws/package.json").version)'
    echo "$js_want" > node_modules/.stamp
fi
