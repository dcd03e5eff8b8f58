#!/usr/bin/env bash
# Prepares a fresh machine for `make run` and `make test`: the Debian packages the
# real test peers come from, and the project's virtualenv. Safe to run again.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '[bootstrap %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Debian packages: installed only when one is missing, so a warm machine does nothing.
mapfile -t wanted < <(grep -Ev '^\s*(#|$)' scripts/debian-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
log "installing cxjourney and its dev tools into .venv"
.venv/bin/python -m pip install -q --upgrade pip >&2
.venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]' >&2
# Plain .pth entries for the source roots: new packages are importable without reinstalling,
# and type checkers resolve them the same way.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n' "$repo/operator" "$repo/processors" > "$site/cxjourney-sources.pth"
