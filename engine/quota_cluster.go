package engine

import (
	"encoding/binary"
	"time"

	"github.com/sluicedb/sluice/api"
)

// chargeWindow is how recent a replicated entry must be for its records to
// be billed to the shard's write quota here: older entries (a node catching
// up, or replaying its Raft log after a restart) were billed long ago, and
// billing them now would refuse puts for no traffic of the moment.
const chargeWindow = 2 * time.Second

// ChargeReplicated bills a committed entry of records that another node
// admitted to this node's quota of the shard (ratelimit.Shard.ChargePut),
// so that every node judges puts against the shard's whole write rate and
// a shard takes its limit once across the cluster, not once per node. It
// is called for entries another node proposed; the proposer billed its own
// when it admitted them. A malformed entry or an unknown shard bills
// nothing (applying the entry reports them).
func (e *Engine) ChargeReplicated(inc uint32, index int, entry []byte) {
	if len(entry) < entryHeader || entry[0] != entryRecords && entry[0] != entrySealedRecords {
		return
	}
	if e.now().UnixNano()-int64(binary.LittleEndian.Uint64(entry[1:])) > int64(chargeWindow) {
		return
	}
	sh, err := e.shardByInc(inc, index)
	if err != nil || !sh.quota.LimitsPuts() {
		return
	}
	at := entryHeader
	if entry[0] == entrySealedRecords {
		// The key the records are to be sealed under comes first.
		kl, k := binary.Uvarint(entry[at:])
		if k <= 0 || kl > uint64(len(entry)-at-k) {
			return
		}
		at += k + int(kl)
	}
	count, k := binary.Uvarint(entry[at:])
	if k <= 0 || count > api.MaxPutRecords {
		return
	}
	// Keys and data are what a put is billed for: the body less its
	// length prefixes.
	bytes, rest := 0, entry[at+k:]
	for i := uint64(0); i < count; i++ {
		key, data, r, err := nextRecord(rest)
		if err != nil {
			return
		}
		bytes += len(key) + len(data)
		rest = r
	}
	sh.quota.ChargePut(int(count), bytes)
}
