package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/segment"
)

// A replicated engine is one replica of a cluster (package cluster/node):
// its shards' records and its catalog changes are not written where they
// arrive but handed to Options.Replica, which orders them through Raft and
// hands them back, once committed, to ApplyEntry and ApplyChange on every
// replica. The engine under it is the same: the applied records go into
// the same segments, through the same writer, and are read the same way.
//
// Sequence numbers are assigned when an entry is applied, in committed
// order: every replica applies the same entries in the same order to a
// shard that started from the same first number, so every replica gives a
// record the same number, and an entry that never committed never took one.

// Replica replicates a replicated engine's writes. Its calls return once
// what they carried is committed and applied on this node, or fail with a
// retryable error (no leader, leadership lost, timed out).
type Replica interface {
	// Append replicates an entry of records for shard of the stream of
	// incarnation inc and returns the sequence number of its first record.
	Append(inc uint32, shard int, entry []byte) (first uint64, err error)
}

// replicaSyncInterval is how often a replica's shard writer syncs a segment
// that applied entries have written to.
const replicaSyncInterval = time.Second

// Entry kinds: the first byte of a shard entry. They are part of the format
// of the Raft log and must not change.
const (
	entryRecords byte = 1
	// entrySeal seals or unseals a shard for a split or merge (see
	// EncodeSealEntry).
	entrySeal byte = 2
	// entrySealedRecords is a records entry that every replica seals, each
	// under the key the entry names as its own key service resolves it:
	// whether a record is sealed is decided once, by the node that took
	// the put, not by each replica's view of the stream's setting, which
	// may be a catalog change behind or ahead of the shard's entries.
	entrySealedRecords byte = 3
)

// entryHeader is the fixed part of a records entry: kind, arrival time.
const entryHeader = 1 + 8

// maxEntryKeyID bounds the key named by a sealed records entry, as
// SetEncryption bounds a KeyId.
const maxEntryKeyID = 2048

// EncodeRecordsEntry encodes the records recs[idx...] arrived at arrival
// (Unix ns) as a shard entry:
//
//	kind (1 byte, 1) | arrival (int64, little-endian) | count (uvarint)
//	then per record: key length (uvarint) | key | data length (uvarint) | data
//
// A sealed records entry (EncodeSealedRecordsEntry) has kind 3 and the key
// before the count: key id length (uvarint) | key id.
func EncodeRecordsEntry(arrival int64, recs []api.PutRecord, idx []int32) []byte {
	return encodeRecordsEntry("", arrival, recs, idx)
}

// EncodeSealedRecordsEntry is EncodeRecordsEntry for records every replica
// seals under keyID.
func EncodeSealedRecordsEntry(keyID string, arrival int64, recs []api.PutRecord, idx []int32) []byte {
	return encodeRecordsEntry(keyID, arrival, recs, idx)
}

func encodeRecordsEntry(keyID string, arrival int64, recs []api.PutRecord, idx []int32) []byte {
	n := entryHeader + 2*binary.MaxVarintLen32 + len(keyID)
	for _, i := range idx {
		n += 2*binary.MaxVarintLen32 + len(recs[i].Key) + len(recs[i].Data)
	}
	b := make([]byte, entryHeader, n)
	b[0] = entryRecords
	binary.LittleEndian.PutUint64(b[1:], uint64(arrival))
	if keyID != "" {
		b[0] = entrySealedRecords
		b = binary.AppendUvarint(b, uint64(len(keyID)))
		b = append(b, keyID...)
	}
	b = binary.AppendUvarint(b, uint64(len(idx)))
	for _, i := range idx {
		r := &recs[i]
		b = binary.AppendUvarint(b, uint64(len(r.Key)))
		b = append(b, r.Key...)
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// errBadEntry is wrapped by every decoding failure of a shard entry.
var errBadEntry = errors.New("malformed shard entry")

// recordsEntry is a decoded records entry; key and data alias the entry.
type recordsEntry struct {
	arrival int64
	keyID   []byte // a sealed entry's key; nil for one in the clear
	count   int
	body    []byte // the records, still encoded
}

// decodeRecordsEntry checks a records entry whole (every length within the
// entry and the frame limits) and returns it; next walks its records.
func decodeRecordsEntry(b []byte) (recordsEntry, error) {
	if len(b) < entryHeader {
		return recordsEntry{}, fmt.Errorf("%w: %d bytes, shorter than its %d-byte header", errBadEntry, len(b), entryHeader)
	}
	if b[0] != entryRecords && b[0] != entrySealedRecords {
		return recordsEntry{}, fmt.Errorf("%w: kind %d, not a records entry (%d or %d)", errBadEntry, b[0], entryRecords, entrySealedRecords)
	}
	e := recordsEntry{arrival: int64(binary.LittleEndian.Uint64(b[1:]))}
	at := entryHeader
	if b[0] == entrySealedRecords {
		kl, k := binary.Uvarint(b[at:])
		if k <= 0 || kl == 0 || kl > maxEntryKeyID || kl > uint64(len(b)-at-k) {
			return recordsEntry{}, fmt.Errorf("%w: the key id length of a sealed entry is malformed, 0, over %d or runs past the entry", errBadEntry, maxEntryKeyID)
		}
		e.keyID = b[at+k : at+k+int(kl)]
		at += k + int(kl)
	}
	n, k := binary.Uvarint(b[at:])
	if k <= 0 || n > api.MaxPutRecords {
		return recordsEntry{}, fmt.Errorf("%w: record count is malformed or over %d", errBadEntry, api.MaxPutRecords)
	}
	e.count = int(n)
	e.body = b[at+k:]
	rest := e.body
	for i := 0; i < e.count; i++ {
		var key, data []byte
		var err error
		if key, data, rest, err = nextRecord(rest); err != nil {
			return recordsEntry{}, fmt.Errorf("record %d: %w", i, err)
		}
		if len(key) > record.MaxKeyLen || len(data) > record.MaxDataLen {
			return recordsEntry{}, fmt.Errorf("%w: record %d has a %d B key and %d B of data; the limits are %d B and %d B",
				errBadEntry, i, len(key), len(data), record.MaxKeyLen, record.MaxDataLen)
		}
	}
	if len(rest) != 0 {
		return recordsEntry{}, fmt.Errorf("%w: %d bytes after its %d records", errBadEntry, len(rest), e.count)
	}
	return e, nil
}

// nextRecord splits the next record off an entry's body.
func nextRecord(b []byte) (key, data, rest []byte, err error) {
	kl, k := binary.Uvarint(b)
	if k <= 0 || kl > uint64(len(b)-k) {
		return nil, nil, nil, fmt.Errorf("%w: key length is malformed or runs past the entry", errBadEntry)
	}
	key, b = b[k:k+int(kl)], b[k+int(kl):]
	dl, k := binary.Uvarint(b)
	if k <= 0 || dl > uint64(len(b)-k) {
		return nil, nil, nil, fmt.Errorf("%w: data length is malformed or runs past the entry", errBadEntry)
	}
	return key, b[k : k+int(dl)], b[k+int(dl):], nil
}

// EntryRecords returns the number of records of a records entry, or an
// error saying what is wrong with it.
func EntryRecords(entry []byte) (int, error) {
	e, err := decodeRecordsEntry(entry)
	return e.count, err
}

// putReplicated is PutRecords' second half on a replicated engine: each
// shard's records become one entry, replicated through the Replica; the
// shards of one call are replicated in parallel.
func (e *Engine) putReplicated(st *stream, c *putCall, recs []api.PutRecord, results []api.PutResult) {
	now := e.now().UnixNano()
	for g := range c.groups {
		grp := &c.groups[g]
		if len(grp.req.idx) == 0 {
			continue
		}
		c.wg.Add(1)
		go e.appendGroup(st, grp, c, now, recs, results)
	}
	c.wg.Wait()
}

// closedShardMu guards the pending list of a put call while its shards'
// appends run in parallel.
var closedShardMu sync.Mutex

func (e *Engine) appendGroup(st *stream, grp *putGroup, c *putCall, now int64, recs []api.PutRecord, results []api.PutResult) {
	defer c.wg.Done()
	sh := grp.sh
	var entry []byte
	if enc := st.encryption(); enc != nil {
		entry = EncodeSealedRecordsEntry(enc.keyID, now, recs, grp.req.idx)
	} else {
		entry = EncodeRecordsEntry(now, recs, grp.req.idx)
	}
	first, err := e.opts.Replica.Append(st.inc, sh.index, entry)
	if err != nil {
		if errors.Is(err, errShardClosed) {
			closedShardMu.Lock()
			c.pending = append(c.pending, grp.req.idx...)
			closedShardMu.Unlock()
			return
		}
		for _, i := range grp.req.idx {
			results[i] = api.PutResult{Err: err}
		}
		return
	}
	for k, i := range grp.req.idx {
		results[i] = api.PutResult{ShardID: sh.id, Seq: api.SeqNum{Incarnation: st.inc, Shard: uint32(sh.index), Seq: first + uint64(k)}}
	}
}

// ErrShardClosed is what a Replica's Append returns for a shard that closed
// (a split or merge) before the entry was applied: the put routes the
// records again once the new routing table is in place.
var ErrShardClosed error = errShardClosed

// ApplyEntry applies a committed entry of records to the shard index of the
// stream of incarnation inc, whose first record is to have the sequence
// number expect. Records this replica already holds (it applied the entry
// before a restart and its segment kept them) are not written again; a
// record missing before expect is a hole and an error. It returns the
// number of records in the entry.
//
// A seal entry (EncodeSealEntry) is applied with ApplySeal and counts no
// records. A records entry that comes after the shard's end (a seal, or the
// end the catalog closed it at) is refused with ErrShardClosed and takes no
// sequence numbers, on every replica alike.
func (e *Engine) ApplyEntry(inc uint32, index int, expect uint64, entry []byte) (int, error) {
	if IsSealEntry(entry) {
		_, err := e.ApplySeal(inc, index, expect, entry)
		return 0, err
	}
	sh, err := e.shardFor(inc, index, expect)
	if err != nil {
		return 0, err
	}
	r := &shardReq{kind: reqApply, entry: entry, expect: expect, size: len(entry)}
	var wg sync.WaitGroup
	wg.Add(1)
	r.wg = &wg
	if err := sh.enqueue(r); err != nil {
		return 0, err
	}
	wg.Wait()
	return r.applied, r.err
}

// shardFor finds the shard a records entry whose first record would get
// the sequence number expect is applied to, refusing it with
// ErrShardClosed if it comes after the shard's end, and lets the writer of
// a closed shard take it if it comes before.
func (e *Engine) shardFor(inc uint32, index int, expect uint64) (*shard, error) {
	sh, err := e.shardByInc(inc, index)
	if err != nil {
		return nil, err
	}
	if sh.sealedAt(expect) {
		return nil, errShardClosed
	}
	if sh.isClosed() && !e.shut.Load() && !sh.st.deleted.Load() {
		sh.acceptApplies()
	}
	return sh, nil
}

// ApplyEntryAsync is ApplyEntry without the wait, for records entries (a
// seal entry goes to ApplySeal): it checks the entry,
// queues it to the shard's writer (in order with every other entry queued
// to the shard) and returns its record count. The entry must stay
// unchanged until it is written. A failure to write it fences the shard
// and is logged; a replica acknowledges an entry once it is committed, so
// it is written again from the Raft log after a restart.
func (e *Engine) ApplyEntryAsync(inc uint32, index int, expect uint64, entry []byte) (int, error) {
	n, err := EntryRecords(entry)
	if err != nil {
		return 0, err
	}
	sh, err := e.shardFor(inc, index, expect)
	if err != nil {
		return 0, err
	}
	if err := sh.enqueue(&shardReq{kind: reqApply, entry: entry, expect: expect, size: len(entry)}); err != nil {
		return 0, err
	}
	return n, nil
}

// SyncShard makes every record applied to a shard durable in its segments
// and returns the sequence number after the last. A replica calls it before
// it lets its Raft log go of the entries those records came from.
func (e *Engine) SyncShard(inc uint32, index int) (next uint64, err error) {
	sh, err := e.shardByInc(inc, index)
	if err != nil {
		return 0, err
	}
	r := &shardReq{kind: reqFlush}
	var wg sync.WaitGroup
	wg.Add(1)
	r.wg = &wg
	if err := sh.enqueue(r); err != nil {
		if errors.Is(err, errShardClosed) || sh.isClosed() {
			return sh.endSeq.Load(), nil
		}
		return 0, err
	}
	wg.Wait()
	return r.endSeq, r.err
}

// shardByInc finds a shard by its stream's incarnation and its index.
func (e *Engine) shardByInc(inc uint32, index int) (*shard, error) {
	for _, st := range *e.snap.Load() {
		if st.inc != inc {
			continue
		}
		shards := *st.shards.Load()
		if index < 0 || index >= len(shards) || shards[index] == nil {
			return nil, errorf(api.CodeResourceNotFound, "stream %s has no shard %d", st.name, index)
		}
		return shards[index], nil
	}
	return nil, errorf(api.CodeResourceNotFound, "no stream has incarnation %d", inc)
}

// applyBatch writes the committed entries of a batch of reqApply requests
// into the shard's log: the writer's half of ApplyEntry. It completes
// nothing; a failure fences the shard, as a failed write does. The records
// of a sealed entry are sealed under the key it names; entries under
// different keys go to the log in separate writes, each with its key.
func (sh *shard) applyBatch(log *segment.Log, ws *writerState, reqs []*shardReq) {
	b := &ws.b
	log.Begin(b)
	sealing := "" // the key b's sealed records are under
	records, payload := 0, 0
	var sk *sketch
	if sh.st.onDemand.Load() {
		sk = sh.appliedSketch(reqs)
	}
	for _, r := range reqs {
		if r.kind != reqApply {
			continue
		}
		ent, err := decodeRecordsEntry(r.entry)
		if err != nil {
			r.err = err
			continue
		}
		r.applied = ent.count
		if sh.err != nil {
			r.err = sh.err
			continue
		}
		if ent.keyID != nil && string(ent.keyID) != sealing {
			if b.Len() > 0 && !sh.writeApplied(log, b, reqs) {
				return
			}
			log.Begin(b)
			if err := sh.sealUnder(string(ent.keyID)); err != nil {
				r.err = err
				continue
			}
			sealing = string(ent.keyID)
		}
		next := b.First() + uint64(b.Len())
		if r.expect > next {
			r.err = fmt.Errorf("shard %s holds records up to %d but the entry starts at %d: a hole in the replica", sh.id, next, r.expect)
			sh.err = r.err
			sh.setFault("apply", r.err)
			continue
		}
		skip := next - r.expect
		rest := ent.body
		for k := 0; k < ent.count; k++ {
			var key, data []byte
			key, data, rest, _ = nextRecord(rest)
			if uint64(k) < skip {
				continue
			}
			if ent.keyID != nil {
				b.AddSealed(ent.arrival, key, data)
			} else {
				b.Add(ent.arrival, 0, key, data)
			}
			if sk != nil {
				sk.add(api.HashPartitionKey(key), len(key)+len(data))
			}
			records++
			payload += len(key) + len(data)
		}
	}
	if records == 0 {
		return
	}
	if b.Len() > 0 && !sh.writeApplied(log, b, reqs) {
		return
	}
	log.Publish()
	sh.wake()
	sh.m.inRecords.Add(uint64(records))
	sh.m.inBytes.Add(uint64(payload))
}

// sealUnder makes the shard's sealer seal under keyID. A key this node
// cannot use fences the replica: its records are never written in the
// clear, nor skipped for later ones.
func (sh *shard) sealUnder(keyID string) error {
	e := sh.st.e
	var err error = errNoKeyService
	var m kms.KeyMetadata
	if e.opts.Keys != nil {
		m, err = e.usableKey(keyID)
	}
	if err != nil {
		sh.err = err
		sh.setFault("seal", err)
		return err
	}
	sh.sealer.keyID, sh.sealer.arn = keyID, m.ARN
	return nil
}

// writeApplied writes b to the log; a failure fences the shard and fails
// the batch's requests.
func (sh *shard) writeApplied(log *segment.Log, b *segment.Batch, reqs []*shardReq) bool {
	if err := log.Write(b); err != nil {
		sh.err = err
		sh.setFault("write", err)
		sh.st.e.opts.Logger.Error("shard write failed; the replica accepts no more entries until restart",
			"stream", sh.st.name, "shard", sh.id, "err", err)
		failApply(reqs, err)
		return false
	}
	return true
}

// failApply fails every apply request of a batch that has no error yet.
func failApply(reqs []*shardReq, err error) {
	for _, r := range reqs {
		if r.kind == reqApply && r.err == nil {
			r.err = &api.Error{Code: api.CodeInternal, Detail: "apply failed", Err: err}
		}
	}
}

// appliedSketch returns the traffic sketch of an open shard of an ON_DEMAND
// stream, which on a replica counts the records applied (every node's puts,
// the same on every replica) so that whichever node coordinates the cluster
// judges the whole traffic; nil for a shard that is not open. Records put
// with an ExplicitHashKey are counted at the hash of their partition key
// (the entry does not carry the explicit one): they count toward the
// shard's load, but the split point misplaces them.
func (sh *shard) appliedSketch(reqs []*shardReq) *sketch {
	rt := sh.st.routes.Load()
	for _, r := range reqs {
		if r.kind != reqApply {
			continue
		}
		// The shard holding the first record's key, found in O(log n)
		// (the entry was checked whole when it was queued).
		if len(r.entry) > entryHeader {
			if n, k := binary.Uvarint(r.entry[entryHeader:]); k > 0 && n > 0 {
				key, _, _, err := nextRecord(r.entry[entryHeader+k:])
				if i := rt.find(api.HashPartitionKey(key)); err == nil && i >= 0 && rt.shards[i] == sh {
					return rt.sketches[i]
				}
			}
		}
		break
	}
	for i, o := range rt.shards {
		if o == sh {
			return rt.sketches[i]
		}
	}
	return nil
}
