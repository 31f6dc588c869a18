#!/usr/bin/env bash
# The runs behind docs/performance.md: every scenario against an in-process
# server on a temporary directory, each run measuring the machine baseline
# first (--baseline), RUNS rounds interleaved so that the machine's noise
# spreads over all scenarios. Prints "<name> <json report>" per run.
#
#   make build && bench/perf.sh > perf.jsonl
#
# Environment: SLUICE (default bin/sluice), RUNS (default 5), DURATION
# (default 10s), TMPDIR (where the in-process servers keep their data: put
# it on the disk you want measured).
set -euo pipefail

SLUICE="${SLUICE:-bin/sluice}"
RUNS="${RUNS:-5}"
D="${DURATION:-10s}"
[[ -x "$SLUICE" ]] || { echo "perf.sh: $SLUICE not found; run make build first, or set SLUICE" >&2; exit 1; }

runs=(
	"put-100B-batch100        put --producers 4 --batch 100 --size 100 --duration $D"
	"put-1KiB-batch100        put --producers 4 --batch 100 --size 1024 --duration $D"
	"put-100B-single          put --producers 16 --batch 1 --size 100 --duration $D"
	"put-100B-batch100-nosync put --producers 4 --batch 100 --size 100 --fsync none --duration $D"
	"put-100B-4shards         put --producers 8 --batch 100 --size 100 --shards 4 --duration $D"
	"put-open-10k             put --producers 32 --batch 10 --size 100 --rate 10000 --duration $D"
	"get-catchup              get --readers 2 --records 1000000 --size 100"
	"get-tail                 get --from latest --producers 16 --batch 10 --rate 10000 --duration $D"
	"subscribe-fanout4        subscribe --consumers 4 --producers 4 --batch 100 --duration $D"
	"subscribe-tail-10k       subscribe --consumers 2 --producers 16 --batch 10 --rate 10000 --duration $D"
	"subscribe-catchup        subscribe --from trim --consumers 2 --records 1000000"
	"mixed                    mixed --consumers 2 --producers 4 --batch 100 --duration $D"
	"limits                   limits --duration 30s"
)

errf="$(mktemp)"
trap 'rm -f "$errf"' EXIT
for ((r = 1; r <= RUNS; r++)); do
	for line in "${runs[@]}"; do
		read -r name args <<<"$line"
		# A limits run that fails a check exits non-zero after its report.
		# shellcheck disable=SC2086
		if json="$("$SLUICE" bench $args --inproc --baseline --json --quiet 2>"$errf")" || [[ "$json" == "{"* ]]; then
			echo "$name $json"
		else
			echo "$name failed: $(tr '\n' ' ' <"$errf")"
		fi
	done
done
