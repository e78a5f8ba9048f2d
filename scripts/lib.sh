# Shared by the scripts: repository root, pinned Python tools, and where pip puts commands.
# (Under pyenv a freshly installed command has no shim until a rehash, so call it by path.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
PY_SCRIPTS="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export LOCAL_AWS_PYTHON="${LOCAL_AWS_PYTHON:-$PYTHON}"

install_python_tools() {
  "$PYTHON" -m pip install --disable-pip-version-check --quiet --root-user-action=ignore -r requirements-dev.txt
}

# The web console's toolchain, pinned by web/package-lock.json and installed from the npm
# registry (again only when the lock changed), then its build into web/dist. Without npm the
# API runs alone and says so.
build_console() {
  if ! command -v npm >/dev/null; then
    echo "npm not found: the web console is not built (install Node.js 20 and npm)" >&2
    return 0
  fi
  if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
  (cd web && npm run --silent build >/dev/null)
}

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
install_chromium() {
  if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then return 0; fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y -q chromium >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
}
