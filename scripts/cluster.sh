#!/bin/sh
# Starts a local three-node sluice cluster on 127.0.0.1, data under
# $DATA/node1..node3 (default ./data), and stops it on Ctrl-C.
#
#   node 1: binary 127.0.0.1:4518  HTTP 127.0.0.1:4517  Raft 127.0.0.1:7001
#   node 2: binary 127.0.0.1:4528  HTTP 127.0.0.1:4527  Raft 127.0.0.1:7002
#   node 3: binary 127.0.0.1:4538  HTTP 127.0.0.1:4537  Raft 127.0.0.1:7003
#
# Extra arguments go to every sluiced (for example --quotas unlimited).
set -eu
BIN=${BIN:-bin}
DATA=${DATA:-./data}
PEERS=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
pids=""
stop() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	wait
}
trap stop INT TERM
for i in 1 2 3; do
	mkdir -p "$DATA/node$i"
	"$BIN/sluiced" --node-id "$i" --peers "$PEERS" --raft-listen "127.0.0.1:700$i" \
		--data-dir "$DATA/node$i" --listen "127.0.0.1:45${i}8" --http "127.0.0.1:45${i}7" \
		--zone "zone-$i" "$@" 2>>"$DATA/node$i/sluiced.log" &
	pids="$pids $!"
done
echo "sluice cluster of three nodes (logs in $DATA/node*/sluiced.log):"
for i in 1 2 3; do
	echo "  node $i: binary 127.0.0.1:45${i}8  Kinesis API http://127.0.0.1:45${i}7  Raft 127.0.0.1:700$i"
done
echo "status: $BIN/sluice cluster status --http 127.0.0.1:4517   (Ctrl-C stops the cluster)"
wait
