#!/usr/bin/env bash
# Run the same Kinesis-API workload through the AWS SDK for Go against
# kinesalite and against sluice's Kinesis API (an in-process server), one
# after the other on this machine, and print one JSON report per run.
#
#   make build && bench/kinesalite/compare.sh
#
# Environment: SLUICE (default bin/sluice), DURATION (default 10s), RUNS
# (default 3), RECORDS (catch-up prefill, default 100000), and those of
# kinesalite.sh. Each line of output is "<target> <workload> <json>", or
# "<target> <workload> failed: <error>".
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SLUICE="${SLUICE:-bin/sluice}"
DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"
RECORDS="${RECORDS:-100000}"

[[ -x "$SLUICE" ]] || { echo "compare.sh: $SLUICE not found; run make build first, or set SLUICE" >&2; exit 1; }
ENDPOINT="$("$HERE/kinesalite.sh" start)"
errf="$(mktemp)"
trap 'rm -f "$errf"; "$HERE/kinesalite.sh" stop' EXIT

# workload name, then the flags of sluice bench.
workloads=(
	"put-batch100 put --producers 4 --batch 100 --size 100 --duration $DURATION"
	"put-single put --producers 4 --batch 1 --size 100 --duration $DURATION"
	"get-catchup get --records $RECORDS --size 100 --max-records 10000"
)
targets=(
	"kinesalite --endpoint $ENDPOINT"
	"sluice-fsync-always --inproc --fsync always"
	"sluice-fsync-none --inproc --fsync none"
)

for ((run = 1; run <= RUNS; run++)); do
	for w in "${workloads[@]}"; do
		read -r wname scenario wflags <<<"$w"
		for t in "${targets[@]}"; do
			read -r tname tflags <<<"$t"
			# A target that fails (an endpoint that does not serve the API)
			# is reported and the others go on.
			# shellcheck disable=SC2086
			if json="$("$SLUICE" bench "$scenario" --api kinesis $tflags $wflags --json --quiet 2>"$errf")"; then
				echo "$tname $wname $json"
			else
				echo "$tname $wname failed: $(tr '\n' ' ' <"$errf")"
			fi
		done
	done
done
