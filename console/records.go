package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
)

// Limits of the record browser.
const (
	// defaultPage and maxPage are the records one page holds by default
	// and at most.
	defaultPage = 100
	maxPage     = 1000
	// maxPageBytes bounds the keys and data of one page: 4 MiB (about 5.4
	// MiB of JSON with the data in base64).
	maxPageBytes = 4 << 20
	// maxWait bounds a live tail's wait for new records.
	maxWait = 25 * time.Second
	// findScanRecords bounds the records one find scans; findDefault and
	// findMax are the matches it returns by default and at most.
	findScanRecords = 500000
	findDefault     = 100
	findMax         = 1000
	// splitSample is how many of a shard's newest records a traffic-aware
	// split point is taken from.
	splitSample = 2000
)

// recordView is one record as the browser shows it.
type recordView struct {
	Shard string `json:"shard,omitempty"`
	// Seq is the record's sequence number (decimal).
	Seq string `json:"seq"`
	Key string `json:"key"`
	// Arrival is when the server stored it, Unix milliseconds.
	Arrival int64 `json:"arrival"`
	// Size is the data's length in bytes.
	Size int `json:"size"`
	// Data is the record's data (base64 in JSON); the page shows it as
	// text, pretty JSON or hex.
	Data []byte `json:"data"`
	// Encrypted is true when the record is stored encrypted at rest.
	Encrypted bool `json:"encrypted,omitempty"`
}

// recordPage is the body of GET .../records.
type recordPage struct {
	Records []recordView `json:"records"`
	// Cursor continues the browse after the last record (pass it back as
	// cursor=).
	Cursor string `json:"cursor"`
	// MillisBehind is how far the page's end is behind the shard's newest
	// record.
	MillisBehind int64 `json:"millisBehind"`
	// ShardEnd is true when the shard is closed and the page reached its
	// end; Children are the shards to go on with.
	ShardEnd bool     `json:"shardEnd"`
	Children []string `json:"children,omitempty"`
}

// readable checks that the caller may read the stream's records: the
// actions a Kinesis reader needs (GetShardIterator and GetRecords), and
// kms:Decrypt on the key of a stream encrypted under one of its own.
func (c *Console) readable(w http.ResponseWriter, r *http.Request, cl *call, name string) bool {
	a := c.access(cl, name)
	if !a.require(w, r, actGetShardIterator) || !a.require(w, r, actGetRecords) {
		return false
	}
	if arn, ok := c.canDecrypt(cl, name); !ok {
		c.deny(w, r, cl, actDecrypt, arn)
		return false
	}
	return true
}

// records answers one page of a shard's records from a starting point:
//
//	shard=ID                                  required
//	from=TRIM_HORIZON|LATEST|AT_TIMESTAMP|AT_SEQUENCE_NUMBER|AFTER_SEQUENCE_NUMBER
//	seq=N                                     for the *_SEQUENCE_NUMBER types
//	time=RFC3339 or Unix milliseconds         for AT_TIMESTAMP
//	cursor=C                                  instead of from: continue a browse
//	limit=N                                   records, default 100, at most 1000
//	wait=S                                    seconds (at most 25) to wait for a record when
//	                                          there is none yet: the live tail
func (c *Console) records(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	if !c.readable(w, r, cl, name) {
		return
	}
	q := r.URL.Query()
	shard := q.Get("shard")
	if shard == "" {
		writeError(w, http.StatusBadRequest, "name the shard to read with shard=shardId-000000000000")
		return
	}
	limit, ok := intParam(w, q.Get("limit"), "limit", defaultPage, 1, maxPage)
	if !ok {
		return
	}
	wait, ok := intParam(w, q.Get("wait"), "wait", 0, 0, int(maxWait/time.Second))
	if !ok {
		return
	}
	var pos api.Position
	if cur := q.Get("cursor"); cur != "" {
		p, err := parseCursor(name, shard, cur)
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		pos = p
	} else {
		spec, err := iteratorSpec(q.Get("from"), q.Get("seq"), q.Get("time"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if pos, err = c.eng.GetIterator(name, shard, spec); err != nil {
			writeEngineError(w, err)
			return
		}
	}
	page, err := c.readPage(pos, limit)
	if err == nil && len(page.Records) == 0 && !page.ShardEnd && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(wait)*time.Second)
		unhook := context.AfterFunc(c.ctx, cancel)
		werr := c.eng.Wait(ctx, pos)
		unhook()
		cancel()
		if werr == nil {
			page, err = c.readPage(pos, limit)
		} else if !errors.Is(werr, context.DeadlineExceeded) && !errors.Is(werr, context.Canceled) {
			err = werr
		}
	}
	if err != nil {
		writeEngineError(w, err)
		return
	}
	writeJSON(w, page)
}

// readPage reads up to limit records from pos. The console's reads do not
// count against the shard's read quota (they are not a consumer's), but
// they do count in its outgoing bytes and records, as every read does.
func (c *Console) readPage(pos api.Position, limit int) (recordPage, error) {
	var res engine.ReadResult
	defer res.Release()
	if err := c.eng.Read(pos, limit, maxPageBytes, engine.ReadSubscription, &res); err != nil {
		return recordPage{}, err
	}
	page := recordPage{Records: make([]recordView, 0, res.Records), MillisBehind: res.MillisBehind, ShardEnd: res.ShardEnd}
	err := res.Guard(func() {
		it := res.Iter()
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			page.Records = append(page.Records, viewOf(&rec, ""))
		}
	})
	if err != nil {
		return recordPage{}, err
	}
	page.Cursor = formatCursor(res.Next)
	for _, ch := range res.ChildShards {
		page.Children = append(page.Children, ch.ID)
	}
	return page, nil
}

// viewOf copies a record out of the read's mapped memory.
func viewOf(rec *engine.Record, shard string) recordView {
	return recordView{
		Shard: shard, Seq: rec.Seq.String(), Key: string(rec.Key), Arrival: rec.Arrival / 1e6,
		Size: len(rec.Data), Data: slices.Clone(rec.Data), Encrypted: rec.Encrypted(),
	}
}

// A cursor is "INCARNATION.SEQ": the stream's incarnation (so that a cursor
// of a deleted stream never reads its successor) and the internal sequence
// number of the next record.
func formatCursor(p api.Position) string {
	return strconv.FormatUint(uint64(p.Incarnation), 10) + "." + strconv.FormatUint(p.Seq, 10)
}

func parseCursor(stream, shard, s string) (api.Position, error) {
	idx, err := api.ParseShardID(shard)
	if err != nil {
		return api.Position{}, fmt.Errorf("shard %q is not a shard id like shardId-000000000000", api.Clip(shard))
	}
	incS, seqS, ok := strings.Cut(s, ".")
	inc, err1 := strconv.ParseUint(incS, 10, 32)
	seq, err2 := strconv.ParseUint(seqS, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return api.Position{}, fmt.Errorf("cursor %q is not one the console handed out (INCARNATION.SEQUENCE)", api.Clip(s))
	}
	return api.Position{Stream: stream, Incarnation: uint32(inc), Shard: idx, Seq: seq}, nil
}

// iteratorSpec reads where a browse starts.
func iteratorSpec(from, seq, at string) (api.IteratorSpec, error) {
	if from == "" {
		from = string(api.TrimHorizon)
	}
	spec := api.IteratorSpec{Type: api.IteratorType(strings.ToUpper(from)), Seq: seq}
	switch spec.Type {
	case api.TrimHorizon, api.Latest:
	case api.AtSequenceNumber, api.AfterSequenceNumber:
		if seq == "" {
			return spec, fmt.Errorf("from=%s needs the sequence number in seq=", spec.Type)
		}
	case api.AtTimestamp:
		t, err := parseTime(at)
		if err != nil {
			return spec, fmt.Errorf("from=AT_TIMESTAMP needs time=: %w", err)
		}
		spec.Timestamp = t
	default:
		return spec, fmt.Errorf("from=%q is not one of TRIM_HORIZON, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER", api.Clip(from))
	}
	return spec, nil
}

// parseTime reads a time as RFC 3339 or Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("give a time as RFC 3339 (2026-01-02T15:04:05Z) or Unix milliseconds")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 (2026-01-02T15:04:05Z) nor Unix milliseconds", api.Clip(s))
	}
	return t, nil
}

// intParam reads an optional integer query parameter in [lo, hi].
func intParam(w http.ResponseWriter, s, name string, def, lo, hi int) (int, bool) {
	if s == "" {
		return def, true
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		writeError(w, http.StatusBadRequest, "%s=%q must be a whole number from %d to %d", name, api.Clip(s), lo, hi)
		return 0, false
	}
	return v, true
}

// findResult is the body of GET .../find.
type findResult struct {
	Records []recordView `json:"records"`
	// Shards are the shards searched: those (open or closed) whose hash
	// key range holds the key's hash.
	Shards []string `json:"shards"`
	// Scanned counts the records read; Truncated is true when the search
	// stopped at its limits before the end of the window.
	Scanned   int  `json:"scanned"`
	Truncated bool `json:"truncated"`
}

// find answers the records of a partition key stored within a time window:
//
//	key=K              the partition key, required
//	from=T, to=T       the window (RFC 3339 or Unix milliseconds); default
//	                   the last hour up to now
//	limit=N            matches to return, default 100, at most 1000
//
// It reads, from the window's start, every shard whose hash key range holds
// the key's hash (its lineage included), at most 500,000 records in all.
func (c *Console) find(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	if !c.readable(w, r, cl, name) {
		return
	}
	q := r.URL.Query()
	key := q.Get("key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "give the partition key to find in key=")
		return
	}
	limit, ok := intParam(w, q.Get("limit"), "limit", findDefault, 1, findMax)
	if !ok {
		return
	}
	now := c.opts.Now()
	from, to := now.Add(-time.Hour), now
	var err error
	if s := q.Get("from"); s != "" {
		if from, err = parseTime(s); err != nil {
			writeError(w, http.StatusBadRequest, "from: %v", err)
			return
		}
	}
	if s := q.Get("to"); s != "" {
		if to, err = parseTime(s); err != nil {
			writeError(w, http.StatusBadRequest, "to: %v", err)
			return
		}
	}
	if to.Before(from) {
		writeError(w, http.StatusBadRequest, "the window ends (to=%s) before it starts (from=%s)", to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
		return
	}
	info, err := c.eng.DescribeStream(name)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	h := api.HashPartitionKey([]byte(key))
	res := findResult{Records: []recordView{}, Shards: []string{}}
	toNanos := to.UnixNano()
	for _, s := range info.Shards {
		if h.Cmp(s.HashStart) < 0 || h.Cmp(s.HashEnd) > 0 {
			continue
		}
		res.Shards = append(res.Shards, s.ID)
		if err := c.findIn(r.Context(), name, s.ID, key, from, toNanos, limit, &res); err != nil {
			writeEngineError(w, err)
			return
		}
	}
	slices.SortStableFunc(res.Records, func(a, b recordView) int { return cmp.Compare(a.Arrival, b.Arrival) })
	if len(res.Records) > limit {
		res.Records, res.Truncated = res.Records[:limit], true
	}
	writeJSON(w, res)
}

// findIn scans one shard from the window's start for the key.
func (c *Console) findIn(ctx context.Context, stream, shard, key string, from time.Time, toNanos int64, limit int, res *findResult) error {
	pos, err := c.eng.GetIterator(stream, shard, api.IteratorSpec{Type: api.AtTimestamp, Timestamp: from})
	if err != nil {
		return err
	}
	var rr engine.ReadResult
	defer rr.Release()
	for {
		if res.Scanned >= findScanRecords || len(res.Records) >= limit {
			res.Truncated = true
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.eng.Read(pos, api.MaxReadRecords, maxPageBytes, engine.ReadSubscription, &rr); err != nil {
			return err
		}
		past := false
		err := rr.Guard(func() {
			it := rr.Iter()
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				if rec.Arrival > toNanos {
					past = true
					return
				}
				res.Scanned++
				if string(rec.Key) == key {
					res.Records = append(res.Records, viewOf(&rec, shard))
				}
			}
		})
		if err != nil {
			return err
		}
		if past || rr.ShardEnd || rr.Records == 0 {
			return nil
		}
		pos = rr.Next
	}
}

// splitPoint is the body of GET .../splitkey.
type splitPoint struct {
	Shard string `json:"shard"`
	// HashKey is where the second child would start (decimal).
	HashKey string `json:"hashKey"`
	// Basis says how it was chosen: "traffic" (the median hash of the
	// sampled records' partition keys) or "middle" (the range's midpoint,
	// when the shard has no records to go by).
	Basis string `json:"basis"`
	// Sampled counts the records the traffic-aware point was taken from.
	Sampled int `json:"sampled"`
}

// splitKey proposes a traffic-aware split point for a shard: the median of
// the hashes of the partition keys of its newest records (up to 2,000), so
// that each child takes about half of the recent records. Records put with
// an explicit hash key are counted by the hash of their partition key,
// which is all a stored record keeps.
func (c *Console) splitKey(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	a := c.access(cl, name)
	if !a.require(w, r, actSplitShard) {
		return
	}
	p, err := c.trafficSplit(name, r.URL.Query().Get("shard"))
	if err != nil {
		writeEngineError(w, err)
		return
	}
	writeJSON(w, p)
}

func (c *Console) trafficSplit(name, shard string) (splitPoint, error) {
	si, err := c.shardInfo(name, shard)
	if err != nil {
		return splitPoint{}, err
	}
	p := splitPoint{Shard: shard}
	if si.HashStart == si.HashEnd {
		return p, &api.Error{Code: api.CodeInvalidArgument, Detail: fmt.Sprintf("shard %s covers a single hash key and cannot be split", shard)}
	}
	pos, err := c.eng.GetIterator(name, shard, api.IteratorSpec{Type: api.Latest})
	if err != nil {
		return p, err
	}
	if pos.Seq > splitSample {
		pos.Seq -= splitSample
	} else {
		pos.Seq = 0 // before the oldest retained record: the read starts there
	}
	var hashes []api.HashKey
	var rr engine.ReadResult
	defer rr.Release()
	for len(hashes) < splitSample {
		if err := c.eng.Read(pos, splitSample-len(hashes), maxPageBytes, engine.ReadSubscription, &rr); err != nil {
			return p, err
		}
		if err := rr.Guard(func() {
			it := rr.Iter()
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				hashes = append(hashes, api.HashPartitionKey(rec.Key))
			}
		}); err != nil {
			return p, err
		}
		if rr.Records == 0 || rr.ShardEnd {
			break
		}
		pos = rr.Next
	}
	p.Sampled = len(hashes)
	start, end := si.HashStart, si.HashEnd
	var at api.HashKey
	if len(hashes) == 0 {
		p.Basis = "middle"
		at = api.SplitRange(start, end, 2)[1][0]
	} else {
		p.Basis = "traffic"
		slices.SortFunc(hashes, api.HashKey.Cmp)
		at = hashes[len(hashes)/2]
		// The second child starts after the first key of the range and no
		// later than its last.
		if at.Cmp(start) <= 0 {
			at = start.Inc()
		}
		if at.Cmp(end) > 0 {
			at = end
		}
	}
	p.HashKey = at.String()
	return p, nil
}

type splitInput struct {
	Shard string `json:"shard"`
	// HashKey is where the second child starts (decimal); or give At.
	HashKey string `json:"hashKey"`
	// At is "traffic" (the point GET .../splitkey proposes) or "middle"
	// (the range's midpoint) when HashKey is not given.
	At string `json:"at"`
}

func (c *Console) split(w http.ResponseWriter, r *http.Request, cl *call) {
	var in splitInput
	name, a, ok := c.streamAction(w, r, cl, &in, actSplitShard)
	if !ok {
		return
	}
	var at api.HashKey
	switch {
	case in.HashKey != "":
		h, err := api.ParseHashKey(in.HashKey)
		if err != nil {
			writeError(w, http.StatusBadRequest, "hashKey %q is not a decimal integer from 0 to 2^128-1", api.Clip(in.HashKey))
			return
		}
		at = h
	case in.At == "traffic":
		p, err := c.trafficSplit(name, in.Shard)
		if err != nil {
			writeEngineError(w, err)
			return
		}
		at, _ = api.ParseHashKey(p.HashKey)
	case in.At == "middle":
		si, err := c.shardInfo(name, in.Shard)
		if err != nil {
			writeEngineError(w, err)
			return
		}
		at = api.SplitRange(si.HashStart, si.HashEnd, 2)[1][0]
	default:
		writeError(w, http.StatusBadRequest, "give the split point as hashKey (decimal) or at: \"traffic\" or \"middle\"")
		return
	}
	err := c.eng.SplitShard(name, in.Shard, at)
	c.answer(w, r, cl, actSplitShard, a.arn, name, err)
}

// shardInfo describes one shard of a stream.
func (c *Console) shardInfo(name, shard string) (*api.ShardInfo, error) {
	info, err := c.eng.DescribeStream(name)
	if err != nil {
		return nil, err
	}
	for i := range info.Shards {
		if info.Shards[i].ID == shard {
			return &info.Shards[i], nil
		}
	}
	return nil, api.ShardNotFound(name, api.Clip(shard))
}
