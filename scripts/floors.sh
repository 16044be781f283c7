#!/usr/bin/env bash
# Side-by-side floors: see scripts/floors/README.md. `--rss` adds the memory check.
exec python3 "$(dirname "$0")/floors/floors.py" "$@"
