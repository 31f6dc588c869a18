package ratelimit

import (
	"sync"
	"sync/atomic"
)

// Shard is the quota of one shard: the write buckets judged by AllowPut, the
// read buckets judged by BeginRead/EndRead, and the setting its fan-out
// Consumers follow. The zero value is unlimited on SystemClock; NewShard
// picks the clock and the limits. A Shard must not be copied after first use.
//
// Bursts: the write buckets and each Consumer hold one second of their rate;
// the read-calls bucket holds one second of calls; the read-bytes bucket
// holds nothing ahead, because reads are billed after they return (see
// BeginRead).
type Shard struct {
	clock Clock // fixed at construction; nil means SystemClock

	writeRecords Bucket // 1 unit per record
	writeBytes   Bucket // record data plus partition key
	readCalls    Bucket // 1 unit per GetRecords call
	readBytes    Bucket // bytes returned, charged by EndRead; burst 0

	// consumer is the setting every Consumer of this shard follows (each
	// with its own state); nil means unlimited.
	consumer atomic.Pointer[config]
	// limits is the Limits last installed, for Limits(); nil means zero.
	limits atomic.Pointer[Limits]

	putRecordsThrottled atomic.Int64
	putBytesThrottled   atomic.Int64
	readsThrottled      atomic.Int64
	consumerThrottled   atomic.Int64

	// mu serialises SetLimits so that two concurrent changes cannot leave
	// the buckets with a mix of both. Requests never take it.
	mu sync.Mutex
}

// Throttled counts the requests a Shard refused since it was created. The
// counts only grow; they are meant for metrics.
type Throttled struct {
	PutRecords    int64 // records refused by AllowPut
	PutBytes      int64 // bytes in the records refused by AllowPut
	Reads         int64 // GetRecords calls refused by BeginRead
	ConsumerWaits int64 // fan-out pushes held back by Consumer.Allow, all consumers
}

// NewShard returns the quota of one shard on clock (nil means SystemClock)
// with limits l. It fails with ErrInvalidLimit if a field of l is negative.
func NewShard(clock Clock, l Limits) (*Shard, error) {
	s := &Shard{clock: clock}
	for _, b := range s.buckets() {
		b.clock = clock
	}
	if err := s.SetLimits(l); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Shard) buckets() [4]*Bucket {
	return [4]*Bucket{&s.writeRecords, &s.writeBytes, &s.readCalls, &s.readBytes}
}

// SetLimits changes the shard's quota; the next request on the shard, and
// the next request of each of its Consumers, is judged by it. Quota already
// used stays used (see Bucket.SetLimit). It fails with ErrInvalidLimit, and
// changes nothing, if a field of l is negative.
func (s *Shard) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Validated above, so none of these can fail.
	_ = s.writeRecords.SetLimit(l.WriteRecordsPerSec, l.WriteRecordsPerSec)
	_ = s.writeBytes.SetLimit(l.WriteBytesPerSec, l.WriteBytesPerSec)
	_ = s.readCalls.SetLimit(l.ReadCallsPerSec, l.ReadCallsPerSec)
	_ = s.readBytes.SetLimit(l.ReadBytesPerSec, 0)
	s.consumer.Store(newConfig(clockOr(s.clock), l.ConsumerBytesPerSec, l.ConsumerBytesPerSec))
	s.limits.Store(&l)
	return nil
}

// Limits returns the quota last set.
func (s *Shard) Limits() Limits {
	if p := s.limits.Load(); p != nil {
		return *p
	}
	return Unlimited
}

// AllowPut decides one record of bytes bytes (data plus partition key): it
// takes one record and the bytes from the write buckets and returns true, or
// takes nothing and returns false (ProvisionedThroughputExceeded for that
// record). The two takes are not one atomic step: while a put that the bytes
// bucket refuses is between its record take and the refund, a concurrent put
// may see one record fewer than the shard will have a moment later.
func (s *Shard) AllowPut(bytes int) bool {
	rc, bc := s.writeRecords.cfg.Load(), s.writeBytes.cfg.Load()
	if rc == nil && bc == nil {
		return true
	}
	now := nowOf(rc, bc)
	if rc != nil && !rc.take(&s.writeRecords.tat, 1, now) {
		s.throttlePut(bytes)
		return false
	}
	if bc != nil && bytes > 0 && !bc.take(&s.writeBytes.tat, uint64(bytes), now) {
		if rc != nil {
			rc.refund(&s.writeRecords.tat, 1, now)
		}
		s.throttlePut(bytes)
		return false
	}
	return true
}

// ChargePut bills records records of bytes bytes in all to the write
// buckets without judging them, leaving the buckets in debt if they hold
// less: for writes another node of a cluster admitted to the same shard,
// so that each node's AllowPut sees the shard's whole write rate.
func (s *Shard) ChargePut(records, bytes int) {
	rc, bc := s.writeRecords.cfg.Load(), s.writeBytes.cfg.Load()
	if rc == nil && bc == nil {
		return
	}
	now := nowOf(rc, bc)
	if rc != nil && records > 0 {
		rc.charge(&s.writeRecords.tat, uint64(records), now)
	}
	if bc != nil && bytes > 0 {
		bc.charge(&s.writeBytes.tat, uint64(bytes), now)
	}
}

// LimitsPuts reports whether the shard's write buckets limit anything.
func (s *Shard) LimitsPuts() bool {
	return s.writeRecords.cfg.Load() != nil || s.writeBytes.cfg.Load() != nil
}

func (s *Shard) throttlePut(bytes int) {
	s.putRecordsThrottled.Add(1)
	s.putBytesThrottled.Add(int64(max(bytes, 0)))
}

// nowOf reads the clock once for a request that judges two buckets of one
// shard (they share the shard's clock), at least one of them limited.
func nowOf(a, b *config) uint64 {
	if a != nil {
		return a.now()
	}
	return b.now()
}

// BeginRead admits one GetRecords call, or returns false (the call fails with
// ProvisionedThroughputExceeded and returns no data). A call is admitted when
// the shard's read bytes are paid for — everything earlier calls returned has
// been covered by ReadBytesPerSec since they returned — and a call is left in
// the read-calls bucket. An admitted call must be followed by EndRead with
// the bytes it returned (0 if it failed).
//
// So a call that returns 10 MiB at 2 MiB/s makes calls in the next 5 s fail,
// and one that returns 2 MiB (a second of quota) the next 1 s, as Kinesis
// documents; at most ReadCallsPerSec calls are admitted per second, after a
// burst of as many.
func (s *Shard) BeginRead() bool {
	bc, cc := s.readBytes.cfg.Load(), s.readCalls.cfg.Load()
	if bc == nil && cc == nil {
		return true
	}
	now := nowOf(bc, cc)
	if (bc != nil && !bc.allowed(&s.readBytes.tat, now)) || (cc != nil && !cc.take(&s.readCalls.tat, 1, now)) {
		s.readsThrottled.Add(1)
		return false
	}
	return true
}

// EndRead bills an admitted call for the bytes it returned, counted from now.
func (s *Shard) EndRead(bytes int) {
	s.readBytes.Charge(int64(bytes))
}

// Throttled returns the refusal counts so far.
func (s *Shard) Throttled() Throttled {
	return Throttled{
		PutRecords:    s.putRecordsThrottled.Load(),
		PutBytes:      s.putBytesThrottled.Load(),
		Reads:         s.readsThrottled.Load(),
		ConsumerWaits: s.consumerThrottled.Load(),
	}
}
