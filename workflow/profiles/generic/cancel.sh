#!/usr/bin/env bash
# Cancel jobs started by submit.sh (`cancel.sh <jobid>...`): each job leads its own process group.
for pid in "$@"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
done
exit 0
