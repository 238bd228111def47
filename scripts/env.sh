# Sourced by the scripts: makes .venv (Python >= 3.12) when it is missing, installs twerr's
# dependencies when pyproject.toml or constraints.txt changed, then puts it first on PATH.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"

find_python() {
    local candidate
    for candidate in python3.12 python3.13 python3.14 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
    # pyenv installs that are not on PATH
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
    echo "twerr needs Python 3.12 or newer (mitmproxy 12 does); none was found." >&2
    exit 1
}

stamp="$VENV/.twerr-installed"
if [ ! -x "$VENV/bin/python" ] ||
    ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    echo "Creating $VENV ..." >&2
    rm -rf "$VENV"
    "$(find_python)" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] ||
    [ "$ROOT/constraints.txt" -nt "$stamp" ]; then
    echo "Installing twerr's dependencies into $VENV ..." >&2
    # a proxy a test set for itself must not carry the install
    env -u HTTPS_PROXY -u HTTP_PROXY -u https_proxy -u http_proxy \
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$ROOT/constraints.txt" -e "$ROOT[test]" >&2
    touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
