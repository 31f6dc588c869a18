package kinesis

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// SubscribeToShard: enhanced fan-out over an event stream.
//
// A subscription is one long response: the initial-response event, then a
// SubscribeToShardEvent for every batch of records the shard commits (the
// handler waits on the engine's commit notification, it never polls), an
// empty one when HeartbeatInterval passes without records, and the end of
// the response after SubscriptionDuration, after the closed shard's last
// event (which carries its ChildShards and no ContinuationSequenceNumber),
// or with an exception message when the stream or consumer goes away.
// Pushes are paced by the consumer's own quota (2 MiB/s per consumer per
// shard on Kinesis quotas).
//
// Rules for one consumer on one shard, as on AWS: one call per second
// (LimitExceededException); a new subscription within 5 s of the start of
// the active one is a ResourceInUseException, a later one takes over and
// ends the active one with a ResourceInUseException message.

// Subscription limits, as on AWS.
const (
	subscribeCallInterval = time.Second     // one call per consumer per shard per second
	subscribeTakeoverAge  = 5 * time.Second // an active subscription this old can be taken over
	// subscribeEventBytes bounds the records (keys and data) of one event: a
	// half-second of the 2 MiB/s fan-out quota, so pushes stay smooth.
	subscribeEventBytes = 1 << 20
	// subscribeAnswerDelay holds back the start of a subscription's response
	// (see subscribeToShard).
	subscribeAnswerDelay = 5 * time.Millisecond
)

// subKey identifies a consumer's subscription to a shard.
type subKey struct {
	consumer string // consumer ARN
	stream   string
	shard    int
}

// subEntry is the latest subscription of a key.
type subEntry struct {
	started time.Time
	active  bool
	// stop is closed to end the subscription early; reason says why.
	stop   chan struct{}
	reason error
}

// subscriptions tracks the subscriptions of a Handler.
type subscriptions struct {
	mu      sync.Mutex // guards entries and closed
	entries map[subKey]*subEntry
	closed  bool
}

func (s *subscriptions) init() { s.entries = map[subKey]*subEntry{} }

// errSubscriptionsClosed ends subscriptions when the handler closes; the
// response ends cleanly so that the client resumes where it was.
var errSubscriptionsClosed = errors.New("kinesis: handler closed")

// begin registers a new subscription for k at now, enforcing the rate and
// takeover rules.
func (s *subscriptions) begin(k subKey, now time.Time) (*subEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Errorf(CodeInternalFailure, "the server is shutting down; subscribe again once it is back")
	}
	if old := s.entries[k]; old != nil {
		age := now.Sub(old.started)
		switch {
		case age < subscribeCallInterval:
			return nil, Errorf(CodeLimitExceeded,
				"Consumer %s made more than one SubscribeToShard call per second on shard %s; wait a second", k.consumer, api.ShardID(k.shard))
		case old.active && age < subscribeTakeoverAge:
			return nil, Errorf(CodeResourceInUse,
				"Another active subscription exists for consumer %s on shard %s; a new one can take it over 5 seconds after it started", k.consumer, api.ShardID(k.shard))
		case old.active:
			old.end(Errorf(CodeResourceInUse, "A newer subscription of consumer %s on shard %s took over this one", k.consumer, api.ShardID(k.shard)))
		}
	}
	// Drop the entries of long-finished subscriptions: they no longer
	// constrain anything.
	for key, e := range s.entries {
		if !e.active && now.Sub(e.started) >= subscribeTakeoverAge {
			delete(s.entries, key)
		}
	}
	e := &subEntry{started: now, active: true, stop: make(chan struct{})}
	s.entries[k] = e
	return e, nil
}

// end marks a subscription finished.
func (s *subscriptions) end(e *subEntry) {
	s.mu.Lock()
	e.active = false
	s.mu.Unlock()
}

// endWhere ends the active subscriptions whose key matches.
func (s *subscriptions) endWhere(match func(subKey) bool, reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		if e.active && match(k) {
			e.end(reason)
		}
	}
}

// endStream ends the subscriptions to a deleted stream.
func (s *subscriptions) endStream(stream string) {
	s.endWhere(func(k subKey) bool { return k.stream == stream },
		Errorf(CodeResourceNotFound, "Stream %s was deleted", stream))
}

// endConsumer ends the subscriptions of a deregistered consumer.
func (s *subscriptions) endConsumer(arn string) {
	s.endWhere(func(k subKey) bool { return k.consumer == arn },
		Errorf(CodeResourceNotFound, "Consumer %s was deregistered", arn))
}

// close ends every subscription and refuses new ones.
func (s *subscriptions) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.endWhere(func(subKey) bool { return true }, errSubscriptionsClosed)
}

// end stops a subscription with reason. Called with subscriptions.mu held.
func (e *subEntry) end(reason error) {
	select {
	case <-e.stop:
	default:
		e.reason = reason
		close(e.stop)
	}
}

// subscribeToShard validates and starts a subscription, then streams it
// until it ends. Errors before the response starts are answered as usual;
// after that, they end the stream with an exception message.
func (h *Handler) subscribeToShard(ctx context.Context, w http.ResponseWriter, f Format, st *reqState) error {
	var in SubscribeToShardInput
	if err := st.dec.Decode(f, st.body, &in); err != nil {
		return err
	}
	if err := validateInput(OpSubscribeToShard, &in, st.dec.present); err != nil {
		return err
	}
	sp := in.StartingPosition
	if err := h.allowConsumerARN(st, OpSubscribeToShard, in.ConsumerARN); err != nil {
		return err
	}
	c, err := h.consumerOf(in.ConsumerARN)
	if err != nil {
		return err
	}
	if err := h.allowKey(st, c.stream, actionDecrypt); err != nil {
		return err
	}
	if c.info.Status != string(ConsumerStatusActive) {
		return Errorf(CodeResourceInUse, "Consumer %s is %s, not ACTIVE", in.ConsumerARN, c.info.Status)
	}
	idx, err := h.shardOfRequest(in.ShardId, c.stream)
	if err != nil {
		return err
	}
	if err := checkStartingPosition(sp.Type, sp.SequenceNumber, sp.Timestamp); err != nil {
		return err
	}
	shardID := api.ShardID(idx)
	pos, err := h.eng.GetIterator(c.stream, shardID, api.IteratorSpec{
		Type: api.IteratorType(sp.Type), Seq: sp.SequenceNumber, Timestamp: sp.Timestamp.Time(),
	})
	if err != nil {
		return h.engErr(err)
	}
	if in.DryRun {
		return dryRun()
	}
	quota, err := h.eng.NewConsumerQuota(c.stream, idx)
	if err != nil {
		return h.engErr(err)
	}
	entry, err := h.subs.begin(subKey{consumer: c.arn, stream: c.stream, shard: idx}, h.now())
	if err != nil {
		return err
	}
	defer h.subs.end(entry)

	s := &subscription{h: h, ctx: ctx, w: w, rc: http.NewResponseController(w), f: f, entry: entry, quota: quota, pos: pos, res: &st.res}
	// Hold the response back a moment: the Go SDK closes the request body
	// as soon as the response headers arrive, and if its transport has not
	// quite finished with that body the connection is closed under the new
	// subscription ("use of closed network connection"; about 1 in 20
	// subscriptions on loopback). A subscription lasts minutes; this wait
	// costs nothing and AWS takes longer to answer anyway.
	if done, err := s.sleep(nil, subscribeAnswerDelay); done {
		return err
	}
	hdr := w.Header()
	hdr["Content-Type"] = []string{ContentTypeEventStream}
	w.WriteHeader(http.StatusOK)
	if err := s.send(s.enc.InitialResponse(f)); err != nil {
		return nil // the client went away
	}
	if err := s.run(); err != nil {
		_ = s.send(s.enc.Exception(f, h.apiError(err)))
	}
	return nil
}

// subscription is the state of one streaming SubscribeToShard response.
type subscription struct {
	h     *Handler
	ctx   context.Context
	w     http.ResponseWriter
	rc    *http.ResponseController
	f     Format
	entry *subEntry
	quota *ratelimit.Consumer
	pos   api.Position
	res   *engine.ReadResult
	enc   EventStreamEncoder
	seq   []byte
}

// errClientGone ends a subscription whose client stopped reading.
var errClientGone = errors.New("kinesis: subscriber went away")

// send writes and flushes one message.
func (s *subscription) send(msg []byte) error {
	setDeadline(s.rc.SetWriteDeadline, s.h.opts.WriteTimeout)
	if _, err := s.w.Write(msg); err != nil {
		return errClientGone
	}
	if err := s.rc.Flush(); err != nil {
		return errClientGone
	}
	return nil
}

// run pushes events until the subscription ends. It returns nil when the
// subscription ends normally (its time is up, the shard is drained, the
// client left, the handler closed) and the error to report in an exception
// message otherwise.
//
// Protocol: take the shard's commit notification, then read; records (or
// the end of a closed shard) make an event; no records means waiting for the
// notification, the heartbeat, the end of the subscription, the client's
// departure or a stop. Before each read the consumer's quota is consulted
// and the push waits until it allows more; the bytes pushed are charged
// after. Timers follow Go 1.23 semantics: Reset discards a pending tick.
func (s *subscription) run() error {
	h := s.h
	deadline := time.NewTimer(h.opts.SubscriptionDuration)
	defer deadline.Stop()
	heartbeat := time.NewTimer(h.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		changed, err := h.eng.Notify(s.pos)
		if err != nil {
			return err
		}
		if !s.quota.Allow() {
			if hook := h.testHookThrottled; hook != nil {
				hook()
			}
			if done, err := s.sleep(deadline.C, s.quota.Delay()); done {
				return err
			}
			continue
		}
		if err := h.eng.Read(s.pos, api.MaxReadRecords, subscribeEventBytes, engine.ReadSubscription, s.res); err != nil {
			return err
		}
		if s.res.Records > 0 || (s.res.ShardEnd && len(s.res.ChildShards) > 0) {
			end := s.res.ShardEnd
			if err := s.push(); err != nil || end {
				return nil
			}
			heartbeat.Reset(h.opts.HeartbeatInterval)
			continue
		}
		closing := s.res.ShardEnd
		s.res.Release()
		if closing {
			// Closed, children not installed yet: a reshard is between
			// closing its parents and committing them, one catalog write.
			if done, err := s.sleep(deadline.C, 10*time.Millisecond); done {
				return err
			}
			continue
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			if err := s.heartbeat(); err != nil {
				return nil
			}
			heartbeat.Reset(h.opts.HeartbeatInterval)
		case <-deadline.C:
			return nil
		case <-s.ctx.Done():
			return nil
		case <-s.entry.stop:
			return s.stopReason()
		}
	}
}

// sleep waits d unless the subscription ends first; done reports the end,
// with the error to report (nil for a normal end).
func (s *subscription) sleep(deadline <-chan time.Time, d time.Duration) (done bool, err error) {
	t := time.NewTimer(max(d, time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return false, nil
	case <-deadline:
		return true, nil
	case <-s.ctx.Done():
		return true, nil
	case <-s.entry.stop:
		return true, s.stopReason()
	}
}

// stopReason is what to report when the subscription was stopped: nothing
// when the handler closed (the response ends as if its time were up).
func (s *subscription) stopReason() error {
	if errors.Is(s.entry.reason, errSubscriptionsClosed) {
		return nil
	}
	return s.entry.reason
}

// continuation returns the ContinuationSequenceNumber for a subscription
// standing at pos: where a new subscription resumes with
// AFTER_SEQUENCE_NUMBER, the sequence number of the last record before pos
// (the shard's starting sequence number when pos is its first record).
func (s *subscription) continuation(pos api.Position) string {
	last := pos.Seq
	if last > 0 {
		last--
	}
	s.seq = api.SeqNum{Incarnation: pos.Incarnation, Shard: uint32(pos.Shard), Seq: last}.AppendDecimal(s.seq[:0])
	return string(s.seq)
}

// heartbeat sends an event without records.
func (s *subscription) heartbeat() error {
	s.enc.BeginSubscribeToShardEvent(s.f)
	return s.send(s.enc.FinishSubscribeToShardEvent(s.continuation(s.pos), 0, nil))
}

// push sends the records of s.res as one event (with the children, and
// without a continuation, once a closed shard is drained), releases the
// read, charges the consumer's quota and advances the position.
func (s *subscription) push() error {
	res := s.res
	w := s.enc.BeginSubscribeToShardEvent(s.f)
	if err := res.Guard(func() { s.seq = appendRead(w, res, s.seq) }); err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "read shard of stream " + s.pos.Stream, Err: err}
	}
	next := res.Next
	continuation := ""
	var children []ChildShard
	if res.ShardEnd && len(res.ChildShards) > 0 {
		children = childShardsOf(res.ChildShards)
	} else {
		continuation = s.continuation(next)
	}
	msg := s.enc.FinishSubscribeToShardEvent(continuation, res.MillisBehind, children)
	bytes := res.Bytes
	res.Release()
	if err := s.send(msg); err != nil {
		return err
	}
	s.quota.Charge(bytes)
	s.pos = next
	return nil
}
