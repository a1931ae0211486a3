#!/usr/bin/env bash
# Make a folder of git mirrors for the real-task suite, laid out as OPTAGENT_GIT_MIRRORS expects
# (<folder>/OWNER/NAME.git), then print the export line to use it.
#
#   evals/real/mirrors.sh [FOLDER]            # default FOLDER: ~/.cache/optagent/mirrors
#
# For each repository the suite needs, in this order:
#   1. a bare repository already on this machine under $MIRROR_SOURCES (default /work/.mirror),
#      in the layout OWNER+NAME/repo (what a snapshot fetch leaves) or OWNER/NAME(.git):
#      linked, not copied;
#   2. otherwise `git clone --mirror https://github.com/OWNER/NAME` (needs the network).
# Nothing is done for a repository whose mirror is already in FOLDER.
set -euo pipefail

REPOS=(tornadoweb/tornado sympy/sympy)
dest="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/optagent/mirrors}"
sources="${MIRROR_SOURCES:-/work/.mirror}"

for repo in "${REPOS[@]}"; do
  owner="${repo%%/*}"
  name="${repo#*/}"
  target="$dest/$owner/$name.git"
  if [ -e "$target" ]; then
    echo "have    $target"
    continue
  fi
  mkdir -p "$dest/$owner"
  found=""
  for cand in "$sources/$owner+$name/repo" "$sources/$owner/$name.git" "$sources/$owner/$name"; do
    if [ -d "$cand" ] && git --git-dir="$cand" rev-parse --git-dir >/dev/null 2>&1; then
      found="$cand"
      break
    fi
  done
  if [ -n "$found" ]; then
    ln -s "$(cd "$found" && pwd)" "$target"
    echo "linked  $target -> $found"
  else
    echo "cloning https://github.com/$repo into $target"
    git clone --mirror --quiet "https://github.com/$repo" "$target"
  fi
done

echo "export OPTAGENT_GIT_MIRRORS=$dest"
