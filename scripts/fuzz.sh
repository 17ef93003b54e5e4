#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short while each.
# Usage: scripts/fuzz.sh [BUDGET]   (default 50000x per target)
#
# BUDGET is go test's -fuzztime: a count of executions (50000x) or a
# duration (30s). A count is the default because Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" failure
# when a duration runs out while a worker is mid-input (golang/go#75804,
# fixed in Go 1.27); a count has no deadline to race. 50000 executions
# take 2 to 13 seconds per target here (about 5 s on average on a busy
# 2-core machine; the script prints how many targets it ran). -timeout
# bounds each target in time.
set -euo pipefail
budget=${1:-50000x}
cd "$(dirname "$0")/.."
found=0
while IFS= read -r file; do
  pkg=./$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
    echo "fuzz $pkg $target ($budget)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" -timeout 5m "$pkg"
    found=$((found + 1))
  done
done < <(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go')
echo "ran $found fuzz targets"
