#!/usr/bin/env bash
# Makes sure the Graphviz C library (libgraphviz-dev), OpenBLAS (libopenblas-dev, for the CPU
# backend) and pkg-config are installed. As root it installs them with apt-get; otherwise it
# prints the one line to run.
set -euo pipefail
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libgvc && pkg-config --exists openblas; then
  exit 0
fi
install="apt-get update -qq && apt-get install -y -qq libgraphviz-dev libopenblas-dev pkg-config"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing libgraphviz-dev (Graphviz C library) and libopenblas-dev (OpenBLAS) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  bash -c "$install" >&2
else
  echo "This project needs the Graphviz C library and OpenBLAS. Run as root:" >&2
  echo "  $install" >&2
  exit 1
fi
