#!/usr/bin/env bash
# Job status for the cluster-generic executor (`status.sh <jobid>`), for jobs started by submit.sh:
# prints exactly one of running / success / failed.
set -uo pipefail

pid="$1"
spool="${AVBENCH_CLUSTER_SPOOL:-.snakemake/cluster-generic}"

exit_code() {
    if [[ -f "$spool/$pid.exit" ]]; then
        if [[ "$(cat "$spool/$pid.exit")" == "0" ]]; then echo success; else echo failed; fi
        return 0
    fi
    return 1
}

exit_code && exit 0
if kill -0 "$pid" 2>/dev/null; then
    echo running
    exit 0
fi
# Gone: it may have written its exit code between the two checks; otherwise it was killed.
exit_code || echo failed
