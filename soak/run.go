package soak

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// segmentSize is the server's --segment-size in a soak: the smallest round
// size that holds the largest record (10 MiB), so that
// shards seal and open segments while the attacks run.
const segmentSize = 16 << 20

// Config configures a soak run. Zero fields take the documented defaults.
type Config struct {
	// Binary is the sluiced executable to run (see Build). Required.
	Binary string
	// DataDir is the server's data directory, empty or new. Required.
	DataDir string
	// Duration is how long the load runs; default 10 s.
	Duration time.Duration
	// Shards of the stream the producers write; default 4.
	Shards int
	// WireProducers and HTTPProducers put through the Go client and the
	// Kinesis API; default 2 each.
	WireProducers, HTTPProducers int
	// Batch is the records of one put; default 50.
	Batch int
	// Rate is the records a second one producer sends; default 1,000
	// (with the default producers about 4 MB/s of data, 0.7 GB in a
	// three-minute soak).
	Rate int
	// MaxRecords bounds what one producer sends; default 10,000,000.
	MaxRecords int
	// HostileWorkers mount attacks one after another, each in parallel
	// with the others; default one per kind of attack (11), each starting
	// at a different kind.
	HostileWorkers int
	// MaxAttacks bounds the attacks of one worker; default 1,000,000.
	MaxAttacks int
	// InFlightTotal is the server's --max-inflight-total; default 256 MiB.
	// ConnInFlight is its --max-inflight-bytes, what one binary-protocol
	// connection may hold of it in requests and unwritten responses;
	// default 8 MiB. With the defaults the hostile clients cannot spend
	// the budget on their own (each of the 11 workers holds at most one
	// 16 MiB declared body or frame, or one slow reader's 8 MiB), so normal
	// producers never wait for it longer than a put takes. A budget they
	// can spend for longer than the write timeout makes the Kinesis API
	// lose put answers (see Timeouts).
	InFlightTotal, ConnInFlight int64
	// Timeouts are the server's; defaults: headers 2 s, bodies and frames
	// 1 s, writes 10 s. The Kinesis API starts a request's write deadline
	// before the request waits for the in-flight budget, so a write timeout
	// shorter than the longest wait for the budget (stalled bodies hold
	// their reservations for up to the body timeout each) cuts off normal
	// producers' answers.
	Timeouts Timeouts
	// Race is set when Binary was built with the race detector, whose
	// shadow memory the memory bound allows for.
	Race bool
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Shards, 4)
	def(&c.WireProducers, 2)
	def(&c.HTTPProducers, 2)
	def(&c.Batch, 50)
	def(&c.Rate, 1000)
	def(&c.MaxRecords, 10_000_000)
	def(&c.HostileWorkers, len(attacks))
	def(&c.MaxAttacks, 1_000_000)
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.InFlightTotal <= 0 {
		c.InFlightTotal = 256 << 20
	}
	if c.ConnInFlight <= 0 {
		c.ConnInFlight = 8 << 20
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&c.Timeouts.Header, 2*time.Second)
	dur(&c.Timeouts.Body, time.Second)
	dur(&c.Timeouts.Frame, time.Second)
	dur(&c.Timeouts.Write, 10*time.Second)
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Report is the outcome of a soak run.
type Report struct {
	Duration time.Duration // of the load
	// Acknowledged counts the records the server acknowledged, by door.
	AcknowledgedWire, AcknowledgedHTTP int
	// Stored counts the records read back; Unacknowledged those of them no
	// producer saw acknowledged (puts whose answer was cut off at the end).
	Stored, Unacknowledged int
	// Missing counts acknowledged records that were not read back intact.
	Missing int
	// HostileConns counts the hostile connections made, by attack.
	HostileConns map[string]int
	// Start is the server's memory once the stream was set up; Loaded
	// after the load, before the read back; End after it. The bound
	// applies to Loaded.Peak: reading everything back maps every segment,
	// and the mapped pages count as resident until the kernel reclaims
	// them.
	Start, Loaded, End Memory
	// MaxAnon is the largest anonymous resident memory sampled during
	// the load.
	MaxAnon int64
	// MaxInFlight is the largest sample of the server's in-flight budget
	// in use, and BudgetSpent the longest stretch of samples in which
	// less than a megabyte of it was left (when puts wait for it).
	MaxInFlight int64
	BudgetSpent time.Duration
	// DataBytes is the size of the data directory at the end.
	DataBytes int64
	// Bound is the limit on the peak resident set, and BoundTerms how it
	// was made up.
	Bound      int64
	BoundTerms string
	// Failures are what the server did wrong; an empty list is a pass.
	Failures []string

	inFlightLimit int64
}

// HostileTotal is the hostile connections made.
func (r *Report) HostileTotal() int {
	n := 0
	for _, c := range r.HostileConns {
		n += c
	}
	return n
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak of %v: %d records acknowledged (%d binary protocol, %d Kinesis API), %d stored (%d never acknowledged), %d missing\n",
		r.Duration.Round(time.Second), r.AcknowledgedWire+r.AcknowledgedHTTP, r.AcknowledgedWire, r.AcknowledgedHTTP, r.Stored, r.Unacknowledged, r.Missing)
	names := make([]string, 0, len(r.HostileConns))
	for n := range r.HostileConns {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "hostile connections: %d (", r.HostileTotal())
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", n, r.HostileConns[n])
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "in-flight budget: most used %s of %s; longest stretch spent %v\n", MiB(r.MaxInFlight), MiB(r.inFlightLimit), r.BudgetSpent.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "server memory: at start %v\n  after the load %v; largest anonymous sample %s\n  after the read back %v\n",
		r.Start, r.Loaded, MiB(r.MaxAnon), r.End)
	fmt.Fprintf(&b, "peak resident under the load %s, bound %s = %s", MiB(r.Loaded.Peak), MiB(r.Bound), r.BoundTerms)
	return b.String()
}

// Run starts the server, runs the load for cfg.Duration, reads everything
// back and checks it. The error is for a run that could not be made (the
// server would not start, the stream could not be created); what the
// server did wrong under load is in the report's Failures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	to := cfg.Timeouts
	srv, err := Start(cfg.Binary, cfg.DataDir,
		"--quotas", "unlimited",
		"--max-inflight-total", fmt.Sprint(cfg.InFlightTotal), "--max-inflight-bytes", fmt.Sprint(cfg.ConnInFlight),
		"--header-timeout", to.Header.String(), "--body-timeout", to.Body.String(),
		"--frame-timeout", to.Frame.String(), "--write-timeout", to.Write.String(),
		"--segment-size", fmt.Sprint(segmentSize))
	if err != nil {
		return nil, err
	}
	defer srv.Kill()
	t, err := setUp(ctx, srv, cfg)
	if err != nil {
		return nil, err
	}
	rep := &Report{inFlightLimit: cfg.InFlightTotal}
	if rep.Start, err = srv.Memory(); err != nil {
		return nil, err
	}
	cfg.Logf("sluiced %d serving on %s and %s; %s", srv.PID, srv.WireAddr, srv.HTTPAddr, rep.Start)

	acks := newAckLog()
	stats := &hostileStats{conns: map[string]int{}}
	fail := func(format string, args ...any) { rep.Failures = append(rep.Failures, fmt.Sprintf(format, args...)) }

	loadCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	began := time.Now()
	var wg sync.WaitGroup
	var perr sync.Mutex // guards producerErrs
	var producerErrs []string
	startProducer := func(p uint32, run producer, acks *ackLog) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(loadCtx, p, cfg.MaxRecords, acks); err != nil {
				perr.Lock()
				producerErrs = append(producerErrs, err.Error())
				perr.Unlock()
			}
		}()
	}
	p := uint32(0)
	for range cfg.WireProducers {
		startProducer(p, wireProducer(srv.WireAddr, t.stream, cfg.Batch, cfg.Rate), acks)
		p++
	}
	for range cfg.HTTPProducers {
		startProducer(p, httpProducer(srv.HTTPAddr, t.stream, cfg.Batch, cfg.Rate), acks)
		p++
	}
	for i := range cfg.HostileWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hostileWorker(loadCtx, t, i, cfg.MaxAttacks, stats)
		}()
	}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		rep.sample(loadCtx, srv, cfg, began, acks)
	}()
	wg.Wait()
	<-sampled
	rep.Duration = time.Since(began)
	rep.HostileConns = stats.conns
	acks.mu.Lock()
	for _, id := range acks.acks {
		if id.p < uint32(cfg.WireProducers) {
			rep.AcknowledgedWire++
		} else {
			rep.AcknowledgedHTTP++
		}
	}
	acks.mu.Unlock()
	for _, e := range producerErrs {
		fail("a normal producer failed: %s", e)
	}
	if stats.failed > 0 {
		fail("%d attacks found the server misbehaving; the first: %s", stats.failed, strings.Join(stats.failures, "; "))
	}
	if err := srv.Alive(); err != nil {
		fail("the server died under the load: %v\n%s", err, srv.Log())
		return rep, nil
	}
	if rep.Loaded, err = srv.Memory(); err != nil {
		return nil, err
	}
	cfg.Logf("load done: %d records acknowledged, %d hostile connections; %v", rep.AcknowledgedWire+rep.AcknowledgedHTTP, rep.HostileTotal(), rep.Loaded)

	rb, err := verify(ctx, srv.WireAddr, t.stream, acks)
	if err != nil {
		fail("read back: %v", err)
		return rep, nil
	}
	rep.Stored, rep.Unacknowledged, rep.Missing = rb.stored, rb.unacked, rb.missing
	if rb.problemsN > 0 {
		fail("%d records are missing, foreign, corrupt or acknowledged twice: %s", rb.problemsN, strings.Join(rb.problems, "; "))
	}
	if rep.AcknowledgedWire == 0 || rep.AcknowledgedHTTP == 0 {
		fail("the producers had %d records acknowledged through the binary protocol and %d through the Kinesis API; want some through both", rep.AcknowledgedWire, rep.AcknowledgedHTTP)
	}
	if rep.End, err = srv.Memory(); err != nil {
		return nil, err
	}
	if rep.DataBytes, err = dirSize(cfg.DataDir); err != nil {
		return nil, err
	}
	rep.Bound, rep.BoundTerms = memoryBound(rep.Start.Peak, rep.DataBytes, cfg)
	if rep.Loaded.Peak > rep.Bound {
		fail("the server's peak resident set under the load was %s; the bound is %s = %s", MiB(rep.Loaded.Peak), MiB(rep.Bound), rep.BoundTerms)
	}
	return rep, nil
}

// setUp creates the stream, registers two consumers and notes each
// shard's start.
func setUp(ctx context.Context, srv *Server, cfg Config) (*target, error) {
	t := &target{wireAddr: srv.WireAddr, httpAddr: srv.HTTPAddr, stream: "soak", shards: cfg.Shards, timeouts: cfg.Timeouts}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, srv.WireAddr, client.ClientOptions{})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	info, err := cl.CreateStream(ctx, api.CreateStreamInput{Name: t.stream, ShardCount: cfg.Shards})
	if err != nil {
		return nil, fmt.Errorf("create the soak stream: %w", err)
	}
	for _, sh := range info.Shards {
		pos, err := cl.GetIterator(ctx, t.stream, sh.ID, api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			return nil, err
		}
		t.positions = append(t.positions, pos)
	}
	var summary struct{ StreamDescriptionSummary struct{ StreamARN string } }
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	if err := apiCall(ctx, hc, srv.HTTPAddr, "DescribeStreamSummary", map[string]string{"StreamName": t.stream}, &summary); err != nil {
		return nil, err
	}
	for _, name := range []string{"slow-1", "slow-2"} {
		var out struct{ Consumer struct{ ConsumerARN string } }
		in := map[string]string{"StreamARN": summary.StreamDescriptionSummary.StreamARN, "ConsumerName": name}
		if err := apiCall(ctx, hc, srv.HTTPAddr, "RegisterStreamConsumer", in, &out); err != nil {
			return nil, err
		}
		t.consumerARNs = append(t.consumerARNs, out.Consumer.ConsumerARN)
	}
	return t, nil
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// sample reads the server's memory and in-flight budget every 200 ms until
// ctx ends, and logs progress every 30 s. The peak comes from the kernel's
// high-water mark; the samples show how much of it was anonymous (heap)
// rather than mapped data, and how long the budget stayed spent.
func (rep *Report) sample(ctx context.Context, srv *Server, cfg Config, began time.Time, acks *ackLog) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	next := began.Add(30 * time.Second)
	var spentSince time.Time // when the budget was last found spent, zero if it is not
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m, err := srv.Memory()
		if err != nil {
			return // the process is gone: Run reports it
		}
		rep.MaxAnon = max(rep.MaxAnon, m.Anon)
		if used, ok, err := Metric(ctx, srv.HTTPAddr, "sluice_inflight_bytes"); err == nil && ok {
			rep.MaxInFlight = max(rep.MaxInFlight, int64(used))
			if int64(used) > cfg.InFlightTotal-1<<20 {
				if spentSince.IsZero() {
					spentSince = time.Now()
				}
				rep.BudgetSpent = max(rep.BudgetSpent, time.Since(spentSince))
			} else {
				spentSince = time.Time{}
			}
		}
		if time.Now().After(next) {
			next = next.Add(30 * time.Second)
			cfg.Logf("%v: %d records acknowledged; %v", time.Since(began).Round(time.Second), acks.len(), m)
		}
	}
}
