package engine

import (
	"sync"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/record"
)

// putCall is the reusable state of one put: the records grouped by shard.
type putCall struct {
	wg      sync.WaitGroup
	slot    []int32 // route index -> group index, -1 if none yet
	groups  []putGroup
	pending []int32 // records still to place
	charged []bool  // record already passed its shard's quota
}

type putGroup struct {
	sh  *shard
	req shardReq
}

var putCalls = sync.Pool{New: func() any { return new(putCall) }}

// PutRecords puts a batch of up to 500 records (10 MiB of keys and data) into
// a stream. results must have len(recs) entries; result i is the outcome of
// record i. A record refused by its shard's quota (or a storage failure)
// fails alone: the others are stored. The returned count is the number of
// records that failed. A non-nil error means the whole call was refused
// (unknown stream, invalid record, batch too large) and nothing was stored.
//
// Records are grouped by shard; each group goes through its shard's group
// commit, so one call costs one write and (in Always mode) one fdatasync per
// shard it touches, shared with every other call in the same batch.
func (e *Engine) PutRecords(name string, recs []api.PutRecord, results []api.PutResult) (failed int, err error) {
	st, err := e.lookup(name)
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 || len(recs) > api.MaxPutRecords {
		return 0, errorf(api.CodeInvalidArgument, "a put carries %d records; it must carry 1 to %d", len(recs), api.MaxPutRecords)
	}
	if len(results) < len(recs) {
		return 0, errorf(api.CodeInternal, "results has room for %d of %d records", len(results), len(recs))
	}
	maxRec := int(st.maxRecord.Load())
	total := 0
	for i := range recs {
		r := &recs[i]
		if err := checkPartitionKey(r.Key); err != nil {
			return 0, err
		}
		n := len(r.Key) + len(r.Data)
		if n > maxRec {
			return 0, errorf(api.CodeInvalidArgument,
				"record %d is %d bytes (partition key + data); the stream's limit is %d", i, n, maxRec)
		}
		total += n
	}
	if total > api.MaxPutBytes {
		return 0, errorf(api.CodeInvalidArgument, "the put carries %d bytes; the limit is %d", total, api.MaxPutBytes)
	}
	if enc := st.encryption(); enc != nil {
		// As in Kinesis, a put into a stream whose key is missing or
		// disabled fails whole (KMSNotFoundException, ...); the writer
		// checks again for each batch.
		if e.opts.Keys == nil {
			return 0, errNoKeyService
		}
		if _, err := e.usableKey(enc.keyID); err != nil {
			return 0, err
		}
	}

	c := putCalls.Get().(*putCall)
	defer putCalls.Put(c)
	c.pending = c.pending[:0]
	c.charged = c.charged[:0]
	for i := range recs {
		c.pending = append(c.pending, int32(i))
		c.charged = append(c.charged, false)
	}
	for len(c.pending) > 0 {
		if st.deleted.Load() {
			return 0, api.StreamNotFound(name)
		}
		if e.shut.Load() {
			return 0, ErrClosed
		}
		waitRoutes := st.routeCh.Load()
		rt := st.routes.Load()
		c.route(st, rt, recs, results)
		c.pending = c.pending[:0]
		if e.opts.Replica != nil {
			e.putReplicated(st, c, recs, results)
			if len(c.pending) > 0 && st.routes.Load() == rt {
				<-*waitRoutes
			}
			continue
		}
		for g := range c.groups {
			grp := &c.groups[g]
			if len(grp.req.idx) == 0 {
				continue
			}
			c.wg.Add(1)
			if err := grp.sh.enqueue(&grp.req); err != nil {
				c.wg.Done()
				c.pending = append(c.pending, grp.req.idx...)
			}
		}
		c.wg.Wait()
		if len(c.pending) > 0 {
			// A shard closed under us (split or merge): its records go to
			// the children once the new routing table is in place.
			if st.routes.Load() == rt {
				<-*waitRoutes
			}
		}
	}
	for i := range recs {
		if results[i].Err != nil {
			failed++
		}
	}
	return failed, nil
}

// route groups the pending records by the shard that owns their hash key,
// judging each against its shard's quota once.
func (c *putCall) route(st *stream, rt *routeTable, recs []api.PutRecord, results []api.PutResult) {
	if cap(c.slot) < len(rt.shards) {
		c.slot = make([]int32, len(rt.shards))
	}
	c.slot = c.slot[:len(rt.shards)]
	for i := range c.slot {
		c.slot[i] = -1
	}
	c.groups = c.groups[:0]
	// A replica's sketches count the records its shards apply (every
	// node's puts), not the ones this node routes.
	sketch := st.onDemand.Load() && st.e.opts.Replica == nil
	for _, i := range c.pending {
		r := &recs[i]
		ri := 0
		if len(rt.shards) > 1 {
			// One open shard owns the whole key space: no need to hash
			// (nor to sketch: the autoscaler keeps at least 4 shards).
			h := r.ExplicitHash
			if !r.HasExplicitHash {
				h = api.HashPartitionKey(r.Key)
			}
			ri = rt.find(h)
			if sketch && !c.charged[i] {
				// Offered traffic of an ON_DEMAND stream, counted
				// once: a record sent on to a split's child was
				// counted by its parent.
				rt.sketches[ri].add(h, len(r.Key)+len(r.Data))
			}
		}
		sh := rt.shards[ri]
		if !c.charged[i] {
			if !sh.quota.AllowPut(len(r.Key) + len(r.Data)) {
				sh.m.writeThrottled.Add(1)
				results[i] = api.PutResult{Err: errPutThrottled}
				continue
			}
			c.charged[i] = true
		}
		g := c.slot[ri]
		if g < 0 {
			g = int32(len(c.groups))
			c.slot[ri] = g
			if len(c.groups) < cap(c.groups) {
				c.groups = c.groups[:len(c.groups)+1]
			} else {
				c.groups = append(c.groups, putGroup{})
			}
			grp := &c.groups[g]
			grp.sh = sh
			grp.req = shardReq{kind: reqPut, recs: recs, idx: grp.req.idx[:0], results: results, wg: &c.wg}
		}
		grp := &c.groups[g]
		grp.req.idx = append(grp.req.idx, i)
		grp.req.size += record.FrameSize(len(r.Key), len(r.Data))
	}
}

// PutRecord puts one record. seqForOrdering, if not empty, must be a sequence
// number this stream issued; every record of a shard gets a number greater
// than all earlier ones, so the guarantee Kinesis gives for it holds for any
// record acknowledged before this call. A throttled record is an error with
// CodeThroughputExceeded.
func (e *Engine) PutRecord(name string, rec api.PutRecord, seqForOrdering string) (api.PutResult, error) {
	if seqForOrdering != "" {
		if _, err := api.ParseSeqNum(seqForOrdering); err != nil {
			return api.PutResult{}, errorf(api.CodeInvalidArgument, "SequenceNumberForOrdering %q is malformed", clip(seqForOrdering))
		}
	}
	recs := [1]api.PutRecord{rec}
	var res [1]api.PutResult
	if _, err := e.PutRecords(name, recs[:], res[:]); err != nil {
		return api.PutResult{}, err
	}
	if res[0].Err != nil {
		return api.PutResult{}, res[0].Err
	}
	return res[0], nil
}
