#!/usr/bin/env bash
# Checks the dump pictures in a real browser (issue 17). For every sample under samples/ it:
#   - runs the default pipeline with --dump-dir (release build) and times it: at most
#     MAX_DUMP_SECONDS (2) for all stages;
#   - checks that every stage's SVG is at most 2,500 px wide at 100% zoom (an SVG point is 4/3 px);
#   - renders every SVG and index.html with headless Chromium (Debian's `chromium`) to PNG;
#   - loads index.html and fails on any console message (the page logs nothing when all is well)
#     and unless every stage's <svg> is in the page Chromium built.
# The screenshots and summary.txt (sample, stage, width, height, PNG bytes, dump seconds) land in
# OUT (default .build/pictures) for a person to look through.
#
# Usage: scripts/check-pictures.sh [OUT]      Needs: chromium (apt-get install chromium).
# OPTIMIZER=path skips the release build; CHROMIUM=path picks the browser.
# Not in CI: it launches Chromium about fifty times (a minute or two), too slow for every push.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-.build/pictures}
max_px=2500
max_seconds=${MAX_DUMP_SECONDS:-2}
chromium=${CHROMIUM:-chromium}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

command -v "$chromium" >/dev/null || {
  echo "check-pictures: '$chromium' not found; apt-get install chromium" >&2
  exit 2
}
if [[ -z "${OPTIMIZER:-}" ]]; then
  swift build -c release --product optimizer >/dev/null
  OPTIMIZER=$(swift build -c release --show-bin-path)/optimizer
fi

rm -rf "$out"
mkdir -p "$out/screens" "$out/dumps"
summary="$out/summary.txt"
printf '%-16s %-16s %9s %9s %10s\n' sample stage width_px height_px png_bytes >"$summary"

# Headless Chromium, one run; its own profile folder so runs do not share state.
browse() {
  local profile
  profile=$(mktemp -d)
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" "$@"
  local status=$?
  rm -rf "$profile"
  return $status
}

# Console messages of a page: Chromium logs every one as an INFO:CONSOLE line on stderr.
console_lines() {
  browse --enable-logging=stderr --v=0 --dump-dom "file://$(realpath "$1")" 2>"$2.log" >"$2.dom" || true
  grep -c 'CONSOLE' "$2.log" || true
}

# The console check must be able to fail: a page that logs an error has to be caught.
canary="$out/canary.html"
echo '<!DOCTYPE html><html><body><script>console.error("canary"); undefinedFunction();</script></body></html>' >"$canary"
if [[ $(console_lines "$canary" "$out/canary") -lt 1 ]]; then
  echo "check-pictures: cannot see console messages of headless Chromium; the check would pass blindly" >&2
  exit 2
fi
rm -f "$canary" "$out"/canary.*

px() { awk -v pt="$1" 'BEGIN { printf "%d", pt * 4 / 3 + 0.999 }'; }

for sample in samples/*.dg; do
  name=$(basename "$sample" .dg)
  dump="$out/dumps/$name"
  start=$(date +%s.%N)
  if ! "$OPTIMIZER" "$sample" -q --dump-dir "$dump" >/dev/null 2>"$out/$name.stderr"; then
    fail "$name: optimizer failed: $(head -3 "$out/$name.stderr")"
    continue
  fi
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  if [[ -s "$out/$name.stderr" ]]; then fail "$name: Graphviz wrote to stderr: $(head -2 "$out/$name.stderr")"; fi
  if awk -v s="$seconds" -v m="$max_seconds" 'BEGIN { exit !(s > m) }'; then
    fail "$name: dumping took $seconds s (more than $max_seconds s)"
  fi
  stages=0
  for svg in "$dump"/*.svg; do
    stage=$(basename "$svg" .svg)
    stages=$((stages + 1))
    header=$(head -c 2000 "$svg" | tr '\n' ' ')
    width_pt=$(sed -E 's/.*<svg width="([0-9.]+)pt".*/\1/' <<<"$header")
    height_pt=$(sed -E 's/.*<svg width="[0-9.]+pt" height="([0-9.]+)pt".*/\1/' <<<"$header")
    width=$(px "$width_pt")
    height=$(px "$height_pt")
    if ((width > max_px)); then fail "$name/$stage: $width px wide (more than $max_px)"; fi
    png="$out/screens/$name-$stage.png"
    window_height=$((height + 16 > 8000 ? 8000 : height + 16 < 400 ? 400 : height + 16))
    browse --screenshot="$png" --window-size=$((width + 16)),$window_height "file://$(realpath "$svg")" \
      >/dev/null 2>&1 || fail "$name/$stage: Chromium could not render it"
    [[ -s "$png" ]] || fail "$name/$stage: no screenshot"
    printf '%-16s %-16s %9d %9d %10d\n' "$name" "$stage" "$width" "$height" \
      "$(stat -c %s "$png" 2>/dev/null || echo 0)" >>"$summary"
  done
  page="$dump/index.html"
  [[ -f "$page" ]] || { fail "$name: no index.html"; continue; }
  count=$(console_lines "$page" "$out/$name-index")
  if ((count > 0)); then fail "$name: index.html: $count console messages: $(grep CONSOLE "$out/$name-index.log" | head -2)"; fi
  inline=$(grep -o '<svg ' "$out/$name-index.dom" | wc -l)
  if ((inline != stages)); then fail "$name: index.html shows $inline of $stages stages"; fi
  png="$out/screens/$name-index.png"
  browse --screenshot="$png" --window-size=1600,1200 "file://$(realpath "$page")" >/dev/null 2>&1 ||
    fail "$name: Chromium could not render index.html"
  printf '%-16s %-16s %9s %9s %10d  dump %s s\n' "$name" index.html - - \
    "$(stat -c %s "$png" 2>/dev/null || echo 0)" "$seconds" >>"$summary"
  rm -f "$out/$name-index.dom" "$out/$name-index.log" "$out/$name.stderr"
done

cat "$summary"
echo "screenshots: $out/screens"
if ((failures > 0)); then
  echo "check-pictures: $failures failure(s)" >&2
  exit 1
fi
echo "check-pictures: every picture fits $max_px px, every index.html loads without console messages"
