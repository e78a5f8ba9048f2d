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
