#!/usr/bin/env bash
# Stand-in for `sbatch`/`qsub` for the cluster-generic executor: runs a Snakemake jobscript as a
# separate, detached process (its own session) on this machine and prints a job id (its PID).
#
# Snakemake calls it as `submit.sh [args...] <jobscript>` (the jobscript is always the last
# argument) from the workflow's working directory. Everything about a job lives in the spool folder
# ($AVBENCH_CLUSTER_SPOOL, default .snakemake/cluster-generic under the working directory):
#   <pid>.log   stdout+stderr of the job     <pid>.exit   its exit code, written when it ends
# status.sh reads those; cancel.sh kills the job's process group.
# If AVBENCH_SUBMIT_LOG is set, one line "<pid> <jobscript>" is appended to it per submission.
set -euo pipefail

jobscript="${!#}"
if [[ $# -lt 1 || ! -f "$jobscript" ]]; then
    echo "submit.sh: last argument must be a jobscript, got '${jobscript:-}'" >&2
    exit 2
fi
spool="${AVBENCH_CLUSTER_SPOOL:-.snakemake/cluster-generic}"
mkdir -p "$spool"
spool="$(cd "$spool" && pwd)"
jobscript="$(cd "$(dirname "$jobscript")" && pwd)/$(basename "$jobscript")"

# `setsid` makes the wrapper a session (and process group) leader; as a background child of this
# script it is not a group leader already, so setsid does not fork and $! is the wrapper's PID ($$
# inside it). The wrapper records the jobscript's exit code before it ends, so a finished job is
# never mistaken for a lost one.
setsid bash -c 'bash "$1" > "$2/$$.log" 2>&1; rc=$?; echo "$rc" > "$2/$$.exit.tmp"; mv "$2/$$.exit.tmp" "$2/$$.exit"; exit "$rc"' \
    avbench-job "$jobscript" "$spool" < /dev/null > /dev/null 2>&1 &
pid=$!

if [[ -n "${AVBENCH_SUBMIT_LOG:-}" ]]; then
    echo "$pid $jobscript" >> "$AVBENCH_SUBMIT_LOG"
fi
echo "$pid"
