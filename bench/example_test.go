package bench_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/bench"
)

// A count-bounded run of four producers putting batches of 10 records; the
// generator here stands in for one that sends to a server.
func ExampleRun() {
	put := func(ctx context.Context, w *bench.Worker) error {
		for {
			n := w.Claim(10)
			if n == 0 {
				return nil
			}
			start := time.Now()
			// ... send n records of 1,000 bytes and wait for the answer ...
			w.Record(time.Since(start), n, n*1000)
		}
	}
	rep, err := bench.Run(context.Background(), bench.RunOptions{
		Scenario:   "put",
		Records:    10_000,
		Parameters: map[string]any{"producers": 4, "batch": 10, "size": 1000},
	}, bench.Load{Name: "put", Workers: 4, Generate: put})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d records in %d requests, %d MB, stopped by %s\n", rep.Records, rep.Requests, rep.Bytes/1e6, rep.StoppedBy)
	// Output: 10000 records in 1000 requests, 10 MB, stopped by records
}

// An open-loop generator at a fixed rate: each of the workers follows its
// share of the schedule and measures from the intended send time, so a
// stall counts against every request it delayed.
func ExampleSchedule() {
	const rate, workers = 2000.0, 2
	scheds, err := bench.NewSchedules(rate, workers, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	gen := func(ctx context.Context, w *bench.Worker) error {
		s := scheds[w.ID]
		for w.Claim(1) > 0 {
			intended, err := s.Next(ctx)
			if err != nil {
				return nil // the run stopped
			}
			// ... send one request and wait for the answer ...
			w.Record(time.Since(intended), 1, 100)
		}
		return nil
	}
	rep, _ := bench.Run(context.Background(), bench.RunOptions{Records: 20},
		bench.Load{Name: "put", Workers: workers, Generate: gen})
	fmt.Println(rep.Records, rep.StoppedBy)
	// Output: 20 records
}
