package ratelimit_test

import (
	"fmt"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

// A put path judges each record on its own; a GetRecords path brackets the
// read with BeginRead and EndRead.
func ExampleShard() {
	clk := ratelimit.NewManualClock(0) // ratelimit.SystemClock in a server
	s, err := ratelimit.NewShard(clk, ratelimit.Kinesis)
	if err != nil {
		panic(err)
	}

	// 300 records of 4 KiB at once: the 1 MiB burst takes 256 of them.
	accepted := 0
	for range 300 {
		if s.AllowPut(4096) {
			accepted++
		} // else: this record fails with ProvisionedThroughputExceeded
	}
	fmt.Println("puts accepted:", accepted, "throttled:", s.Throttled().PutRecords)

	// A GetRecords call that returned 10 MiB blocks reads for 5 s.
	if s.BeginRead() {
		s.EndRead(10 << 20)
	}
	clk.Advance(4 * time.Second)
	fmt.Println("read after 4s:", s.BeginRead())
	clk.Advance(time.Second)
	fmt.Println("read after 5s:", s.BeginRead())
	// Output:
	// puts accepted: 256 throttled: 44
	// read after 4s: false
	// read after 5s: true
}

// A fan-out push loop waits Delay whenever Allow refuses.
func ExampleConsumer() {
	clk := ratelimit.NewManualClock(0)
	s, _ := ratelimit.NewShard(clk, ratelimit.Kinesis)
	c := s.NewConsumer()
	c.Charge(6 << 20) // pushed 6 MiB: 2 MiB of burst, then 2 s of debt
	if !c.Allow() {
		fmt.Println("wait", c.Delay())
	}
	// Output:
	// wait 2s
}
