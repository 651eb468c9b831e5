#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and ThreadSanitizer, each in its own build folder.
#   scripts/sanitizers.sh [address|thread|both] [--quick]
# --quick runs the subset CI affords: parsing and verification of bad input, the layout property
# tests, the simulator, and the concurrent Graphviz rendering (the lock). Leaks that libraries we
# do not own keep until exit are suppressed by scripts/lsan.supp.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
filter=()
if [ "${2:-}" = "--quick" ]; then
  filter=(--filter 'ParseErrorTests|VerifierTests|ImporterTests|LayoutTests|DumpTests|AccelSimTests|RegressionGuardTests')
fi
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
if [ "$which" = address ] || [ "$which" = both ]; then
  swift test --sanitize=address --scratch-path .build-asan ${filter[@]+"${filter[@]}"}
fi
if [ "$which" = thread ] || [ "$which" = both ]; then
  swift test --sanitize=thread --scratch-path .build-tsan ${filter[@]+"${filter[@]}"}
fi
