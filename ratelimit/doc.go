// Package ratelimit enforces sluice's per-shard throughput quotas (DESIGN.md,
// "Quotas") without a lock or an allocation on the request path.
//
// # Buckets
//
// A Bucket is a token bucket in the form of GCRA, the generic cell rate
// algorithm. Its whole state is one 64-bit word, the theoretical arrival
// time TAT: the instant at which the bucket will be full again. With
//
//	interval  = 1 s / rate       (time one unit occupies)
//	tolerance = burst * interval (how far TAT may run ahead of now)
//
// a full bucket has TAT <= now, and the units available at time now are
// (now + tolerance - max(TAT, now)) / interval. Every operation is a
// compare-and-swap loop on TAT:
//
//	Take(n)    admit iff max(TAT, now) + n*interval - now <= tolerance,
//	           then TAT = max(TAT, now) + n*interval; all or nothing.
//	           A request of more than the whole burst is admitted only into
//	           a full bucket (TAT <= now) and leaves it in debt for the
//	           excess, so that large requests are rare rather than impossible.
//	Charge(n)  TAT = max(TAT, now) + n*interval, unconditionally (debt).
//	Allowed()  TAT - now <= tolerance: the bucket is out of debt.
//	Refund(n)  TAT -= n*interval, but never below now.
//
// Time is kept in ticks of 1/16 ns and the interval as 64.64 fixed point,
// so n*interval costs two 64-bit multiplications and rates with a fractional
// nanosecond interval (1 MiB/s is 953.67 ns per byte) are exact to within a
// tick per request. Costs and the tolerance both round down, so any split of
// a burst into requests fits it exactly, and a request is undercharged by
// less than 1/16 ns of quota (0.007% of a 1-byte request at 1 MiB/s). The
// rate and burst live in an immutable config behind an atomic pointer;
// SetLimit installs a new one, and a nil config (rate 0) is unlimited: a
// request then costs one pointer load.
//
// # Shards
//
// A Shard holds the quota of one shard, set from Limits (Kinesis and
// Unlimited are the two presets):
//
//   - Puts: AllowPut(bytes) takes one record and the record's bytes from two
//     buckets (burst: one second of each), or refuses the record and takes
//     nothing (the record bucket is refunded when the byte bucket refuses).
//   - GetRecords: Kinesis admits a call while the shard is within quota and
//     bills the bytes it returned afterwards. BeginRead admits a call if the
//     read-bytes bucket (burst 0) is out of debt and the read-calls bucket
//     (ReadCallsPerSec, burst one second) has a call; EndRead(bytes) charges
//     what the call returned. A call returning 10 MiB at 2 MiB/s blocks the
//     shard's reads for the next 5 s; one returning a second of quota blocks
//     them for 1 s.
//   - Enhanced fan-out: each Consumer (Shard.NewConsumer) has its own bucket
//     at ConsumerBytesPerSec (burst one second), paced by Allow, Delay and
//     Charge.
//
// Changing a Shard's limits takes effect on the next request; quota already
// used stays used. Refusals are counted (Shard.Throttled) for metrics.
//
// # Clocks
//
// Every bucket reads an injectable Clock (nanoseconds, monotonic):
// SystemClock (the runtime's monotonic clock, read on every check) or a
// CoarseClock (a cached reading refreshed by one goroutine, for when the
// clock read is too dear) in production; ManualClock in tests and
// simulations, so that tests of rates and penalties run in simulated time
// without sleeping. A Shard reads its clock once per check.
package ratelimit
