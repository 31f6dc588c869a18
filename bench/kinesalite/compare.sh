#!/usr/bin/env bash
# Run the same Kinesis-API workload through the AWS SDK for Go against
# kinesalite and against sluiced's Kinesis API, each a separate process on
# this machine, one after the other, and print one JSON report per run.
#
#   make build && bench/kinesalite/compare.sh
#
# Targets: kinesalite (in memory), sluiced --fsync always and sluiced
# --fsync none (both --quotas unlimited, on a temporary data directory).
# Environment: SLUICE and SLUICED (default bin/sluice, bin/sluiced), DURATION
# (default 10s), RUNS (default 3), RECORDS (catch-up prefill, default
# 100000), SLUICED_PORT (default 4598), and those of kinesalite.sh. Each line
# of output is "<target> <workload> <json>", or "<target> <workload> failed:
# <error>".
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SLUICE="${SLUICE:-bin/sluice}"
SLUICED="${SLUICED:-bin/sluiced}"
DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"
RECORDS="${RECORDS:-100000}"
PORT="${SLUICED_PORT:-4598}"

for b in "$SLUICE" "$SLUICED"; do
	[[ -x "$b" ]] || { echo "compare.sh: $b not found; run make build first, or set SLUICE and SLUICED" >&2; exit 1; }
done
KINESALITE="$("$HERE/kinesalite.sh" start)"
errf="$(mktemp)"
datadir=""
sluiced_pid=""
stop_sluiced() {
	if [[ -n "$sluiced_pid" ]]; then
		kill "$sluiced_pid" 2>/dev/null || true
		wait "$sluiced_pid" 2>/dev/null || true
		sluiced_pid=""
	fi
	[[ -z "$datadir" ]] || rm -rf "$datadir" "$datadir.log"
	datadir=""
}
trap 'stop_sluiced; rm -f "$errf"; "$HERE/kinesalite.sh" stop' EXIT

# start_sluiced FSYNC starts sluiced on a fresh data directory and sets
# endpoint to its Kinesis API once /healthz answers. (Not in a subshell: the
# pid and directory must outlive the call.)
start_sluiced() {
	datadir="$(mktemp -d)"
	"$SLUICED" --data-dir "$datadir" --listen 127.0.0.1:0 --http "127.0.0.1:$PORT" \
		--fsync "$1" --quotas unlimited >"$datadir.log" 2>&1 &
	sluiced_pid=$!
	for _ in $(seq 100); do
		if curl -sf -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
			endpoint="http://127.0.0.1:$PORT"
			return
		fi
		sleep 0.1
	done
	cat "$datadir.log" >&2
	echo "compare.sh: sluiced did not answer on port $PORT" >&2
	exit 1
}

# workload name, then the flags of sluice bench.
workloads=(
	"put-batch100 put --producers 4 --batch 100 --size 100 --duration $DURATION"
	"put-single put --producers 4 --batch 1 --size 100 --duration $DURATION"
	"get-catchup get --records $RECORDS --size 100 --max-records 10000"
)
targets=(kinesalite sluiced-fsync-always sluiced-fsync-none)

for ((run = 1; run <= RUNS; run++)); do
	for w in "${workloads[@]}"; do
		read -r wname scenario wflags <<<"$w"
		for t in "${targets[@]}"; do
			case "$t" in
			kinesalite) endpoint="$KINESALITE" ;;
			sluiced-fsync-*) start_sluiced "${t#sluiced-fsync-}" ;;
			esac
			# A target that fails is reported and the others go on.
			# shellcheck disable=SC2086
			if json="$("$SLUICE" bench "$scenario" --api kinesis --endpoint "$endpoint" $wflags --json --quiet 2>"$errf")"; then
				echo "$t $wname $json"
			else
				echo "$t $wname failed: $(tr '\n' ' ' <"$errf")"
			fi
			stop_sluiced
		done
	done
done
