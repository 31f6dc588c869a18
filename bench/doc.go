// Package bench is the server-independent core of sluice's load generator:
// latency recording, the run controller, reports, open-loop pacing, the
// machine baseline and the Kinesis shard-limit arithmetic. The scenarios of
// `sluice bench` (put, get, subscribe, mixed, limits), in bench/scenario,
// plug into it as generators; nothing here knows the server or its
// protocols.
//
// # Recording
//
// Each load goroutine owns a Recorder: an HdrHistogram of latencies in
// microseconds (1 µs to 60 s, 3 significant digits) plus counters. Recording
// takes no lock: the recorder has two phases that a collector flips, as
// HdrHistogram's WriterReaderPhaser does, so that progress lines and the
// final report merge every goroutine's samples exactly, while they record.
//
// # Runs
//
// Run starts the goroutines of one or more Loads, each running a Generator
// with its own Worker, and stops them on a duration, a record count, the
// first load's end, an error, or the caller's context (Ctrl-C). A warm-up
// (RunOptions.Warmup) may run the loads unmeasured first. It draws a
// one-line progress display on a terminal and returns a Report of what ran,
// even after an interruption:
//
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	rep, err := bench.Run(ctx, bench.RunOptions{
//		Scenario: "put",
//		Duration: 10 * time.Second,
//		Progress: bench.ProgressOutput(os.Stdout, jsonFlag),
//	}, bench.Load{Name: "put", Workers: producers, Generate: putLoop})
//
// A generator claims records for each request, sends it, and records it:
//
//	func putLoop(ctx context.Context, w *bench.Worker) error {
//		for {
//			n := w.Claim(batch)
//			if n == 0 {
//				return nil
//			}
//			t0 := time.Now()
//			ok, throttled, err := put(ctx, n)
//			if err != nil {
//				if ctx.Err() != nil {
//					return nil
//				}
//				w.RecordFailures(n, 0)
//				continue
//			}
//			w.Record(time.Since(t0), ok, ok*recordBytes)
//			w.RecordFailures(0, throttled)
//		}
//	}
//
// # Open loop
//
// A Schedule paces a goroutine at a fixed rate by intended send times.
// Latency is either measured from the intended time (Schedule.Next with
// Recorder.Record) or from the actual send with HdrHistogram's coordinated-
// omission correction (Schedule.NextOnTime with Recorder.RecordCorrected);
// both count a stall as the requests queued behind it would have seen it.
//
// # Reports and units
//
// Rates are per second of the run. MB is 10^6 bytes (mb_per_sec), not MiB.
// Latencies are per request, in microseconds (p50_us ... max_us) rounded up
// to whole microseconds; .hgrm files (WriteHgrm) are in milliseconds, as
// HdrHistogram's plotter expects. Report.WriteJSON prints one JSON object,
// Report.WriteText a table.
//
// # Baseline and limits
//
// MeasureBaseline measures the machine in the same run (4 KiB
// write+fdatasync latency, 1 MiB write+fdatasync bandwidth, the 1 KiB
// write+fdatasync rate of 1, 8 and 64 writers each on its own file,
// fallocate'd or pre-zeroed, loopback TCP bandwidth and round trip) and Report.AddBaseline states a report's figures
// as ratios to it. CheckLimits compares what a run's shard accepted and
// served with the Kinesis per-shard quotas.
package bench
