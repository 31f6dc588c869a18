// Package scenario holds the load scenarios of `sluice bench`: generators
// that drive a sluice server (a running one, or one started in-process on a
// temporary directory) through its binary protocol or its Kinesis API, run
// by package bench, which records, bounds and reports them.
//
// # Scenarios
//
//	put        Producers put records of Size bytes in requests of Batch, with
//	           keys drawn at random from Keys: back to back (closed loop), or
//	           at Rate records/s in total (open loop, latencies corrected for
//	           coordinated omission). Latency: send to acknowledgement.
//	get        Polling readers, each reading every shard. From trim: the
//	           stream is first prefilled with Records records, then every
//	           reader reads it all from TRIM_HORIZON (latency per read).
//	           From latest: readers follow the tip while producers put
//	           (latency per record, from its send to the read that returned
//	           it; an empty read waits Poll).
//	subscribe  Push subscriptions, each of Consumers subscribed to every
//	           shard: fan-out. From latest beside producers (latency per
//	           record, send to arrival), or catching up over a prefill (latency
//	           per event: how long it took to come).
//	mixed      Producers and tail subscribers at once; the puts are the
//	           primary figures, the subscribers' are reported beside them.
//	limits     One shard under the Kinesis quotas, offered more than each of
//	           them, measured after a warm-up, checked by bench.CheckLimits
//	           (see runLimits for the two streams and four loads).
//	baseline   The machine alone: bench.MeasureBaseline on the data
//	           directory's file system.
//
// A record's send time rides in the first 8 bytes of its data (Unix
// nanoseconds, little-endian), so that tail readers time each record end to
// end; the clocks are the same when the server and the bench share a
// machine.
//
// Records count key plus data bytes, as Kinesis counts them against a
// shard's quota. Every report states how many Kinesis shards' worth of
// throughput one shard carried (ratio "kinesis_shards_per_shard"): the
// larger of its records/s and bytes/s over the per-shard quotas, for reads
// the larger of its reads/s over 5 and its bytes/s over 2 MiB/s (each
// subscriber counted against its own 2 MiB/s, as Kinesis enhanced fan-out
// does).
package scenario
