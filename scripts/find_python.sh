#!/usr/bin/env bash
# Print the path of the Python this project needs (.python-version, 3.12): pyenv's, python3.12 on PATH, or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(cat .python-version)
minor=${want%.*}
candidates=()
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  candidates+=("$root/versions/$want/bin/python")
  for d in "$root"/versions/"$minor".*; do candidates+=("$d/bin/python"); done
fi
candidates+=("$(command -v "python$minor" 2>/dev/null || true)" "$HOME/.pyenv/versions/$want/bin/python" "/usr/bin/python$minor")
for c in "${candidates[@]}"; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$minor'.split('.'))))" 2>/dev/null; then
    echo "$c"; exit 0
  fi
done
echo "Python $minor is required (Django 6.1 needs >= 3.12). Install it, e.g. 'pyenv install $want'." >&2
exit 1
