package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/scenario"
)

// benchAbout is the description `sluice bench -h` prints.
const benchAbout = `Measure a sluice server end to end, against the Kinesis shard limits and
against the machine itself. Scenarios:

  put        producers put records: a closed loop, or --rate R records/s (open
             loop, latencies corrected for coordinated omission)
  get        polling readers: --from trim (default) reads a prefill of --records
             records from TRIM_HORIZON; --from latest follows the tip beside
             producers
  subscribe  push subscriptions fanned out to --consumers K, at the tail beside
             producers (default) or catching up over a prefill (--from trim)
  mixed      producers and tail subscribers at once, reporting both
  limits     one shard under the Kinesis quotas, offered more than 1 MiB/s and
             1,000 records/s in, 2 MiB/s and 5 reads/s out: accepted figures,
             throttles and deviation; exits non-zero when a check fails
  baseline   the machine alone: 4 KiB write+fdatasync latency, 1 MiB
             write+fdatasync MB/s, 1 KiB write+fdatasync ops/s from 1, 8
             and 64 writers on their own fallocate'd or pre-zeroed files,
             loopback TCP bandwidth and round trip

The stream is created for the run (unlimited quotas unless --quotas kinesis;
limits always uses kinesis) and deleted afterwards unless --keep. Latencies
are per request (put, catch-up reads), per record from its send (tail reads
and subscriptions), or per event (catch-up subscriptions). MB = 10^6 bytes.
Ctrl-C stops the run and prints the report so far.

examples:
  sluice bench put --inproc --producers 4 --batch 100 --size 100 --duration 10s
  sluice bench put --rate 20000 --batch 10 --producers 32 --json
  sluice bench subscribe --consumers 4 --duration 10s
  sluice bench limits --inproc
  sluice bench baseline --data-dir ./data`

// benchFlags are the settings of one `sluice bench` invocation.
type benchFlags struct {
	opts                 scenario.Options
	accessKey, secretKey string
	jsonOut              bool
	hgrm                 string
	quiet                bool
	scenario             string
	tls                  tlsFlags
}

// newBenchFlagSet registers every flag of `sluice bench` on a new flag set.
func newBenchFlagSet(f *benchFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &f.opts
	addr := scenario.DefaultAddr
	if env := os.Getenv("SLUICE_ADDR"); env != "" {
		addr = env
	}
	fs.StringVar(&o.Addr, "addr", addr, "the running server's binary protocol address (its --listen); $SLUICE_ADDR sets the default")
	fs.StringVar(&f.accessKey, "access-key", "", "the access key id to authenticate with, for a server started with --auth (default $AWS_ACCESS_KEY_ID, else the profile $AWS_PROFILE of ~/.aws/credentials)")
	fs.StringVar(&f.secretKey, "secret-key", "", "the secret access key of --access-key (default $AWS_SECRET_ACCESS_KEY, else the profile's)")
	fs.BoolVar(&o.InProc, "inproc", false, "start a server in this process on --data-dir (default a temporary directory) instead of using --addr")
	fs.StringVar(&o.DataDir, "data-dir", "", "the in-process server's data directory, and where baseline measures the disk (default: a temporary directory, or . for baseline)")
	fs.StringVar(&o.API, "api", scenario.APIWire, "the front door to load: wire (binary protocol) or kinesis (the Kinesis HTTP API through the AWS SDK; put and get)")
	fs.StringVar(&o.Endpoint, "endpoint", "", "the Kinesis API URL for --api kinesis (default: the in-process server's, or "+scenario.DefaultEndpoint+")")
	f.tls.register(fs)

	fs.StringVar(&o.Stream, "stream", "", "the name of the stream to create (default bench-SCENARIO-UNIXMS)")
	fs.IntVar(&o.Shards, "shards", 1, "shards of the stream")
	fs.StringVar(&o.Fsync, "fsync", "", "the stream's acknowledgement mode: always, interval or none (default: the server's)")
	fs.Var(notFlag{&o.NoCommitLog}, "commit-log", "with --inproc: make durable batches durable through the node-wide commit log (as sluiced does by default); false: each shard syncs its own segment")
	fs.StringVar(&o.Quotas, "quotas", "", "the stream's per-shard quotas: unlimited (default) or kinesis (limits always uses kinesis)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the stream (and an in-process server's data) afterwards")

	fs.Int64Var(&o.Records, "records", 0, "records to put (put, mixed), to receive in all (tail get, subscribe), or to prefill (--from trim; default 1000000)")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to run (default 10s when no --records bound applies; 30s for limits)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "run this long before measuring (default 0; 2s for limits)")

	fs.IntVar(&o.Size, "size", 100, "data bytes per record")
	fs.IntVar(&o.Batch, "batch", 100, "records per put request (1 uses PutRecord; up to 500)")
	fs.IntVar(&o.Producers, "producers", 0, "producer goroutines (default 4; 32 for each put load of limits)")
	fs.IntVar(&o.Conns, "conns", 0, "connections the producers share (default one each)")
	fs.StringVar(&o.Keys, "keys", "random", "partition keys: random (65,536 random keys) or N distinct keys")
	fs.Float64Var(&o.Rate, "rate", 0, "offered records/s in total: an open loop with coordinated-omission correction (default: closed loop)")

	fs.IntVar(&o.Readers, "readers", 1, "polling readers of get, each reading every shard")
	fs.IntVar(&o.Consumers, "consumers", 2, "subscribers of subscribe and mixed, each subscribed to every shard")
	fs.StringVar(&o.From, "from", "", "where readers start: trim (catch-up over a prefill) or latest (tail beside producers); default trim for get, latest for subscribe")
	fs.IntVar(&o.MaxRecords, "max-records", 10000, "records per read at most")
	fs.DurationVar(&o.Poll, "poll", time.Millisecond, "a tail reader's wait after a read found nothing new")
	fs.IntVar(&o.Window, "window", 4<<20, "a subscription's credit in bytes")

	fs.Float64Var(&o.Tolerance, "tolerance", 0.05, "limits: the largest relative deviation from a quota that passes")
	fs.Float64Var(&o.Offer, "offer", 2, "limits: how many times each quota to offer")

	fs.BoolVar(&o.Baseline, "baseline", false, "measure the machine first and state the figures as ratios to it")
	fs.DurationVar(&o.BaselineBudget, "baseline-budget", 0, "time for each baseline measurement (default 1s; 2s for the baseline scenario)")

	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&f.hgrm, "hgrm", "", "write the latency distribution in HdrHistogram's .hgrm format to this file (other loads beside it)")
	fs.BoolVar(&f.quiet, "quiet", false, "do not describe the setup on standard error")
	return fs
}

// benchUsage writes the usage of `sluice bench`.
func benchUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: sluice bench SCENARIO [flags]\n\n%s\n\nflags:\n", benchAbout)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// benchMain runs `sluice bench`: args are the words after "bench". ctx ends
// on Ctrl-C (main arranges that): the run stops and its report is printed.
// The error of a failed run is returned after its report; a limits run that
// did not conform returns one matching scenario.ErrLimits, and a command line
// that cannot run one matching scenario.ErrUsage.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchFlags
	fs := newBenchFlagSet(&f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		benchUsage(stdout, fs)
		return nil
	}
	if err != nil {
		return fmt.Errorf("bench: %w: %w (see sluice bench -h)", scenario.ErrUsage, err)
	}
	if len(pos) != 1 {
		if len(pos) == 0 {
			benchUsage(stderr, fs)
		}
		return fmt.Errorf("bench: %w: name one scenario of %s (see sluice bench -h)", scenario.ErrUsage, strings.Join(scenario.Scenarios, ", "))
	}
	f.scenario = pos[0]
	f.opts.Scenario = f.scenario
	if f.opts.TLS, err = f.tls.config(); err != nil {
		return fmt.Errorf("bench: %w: %w", scenario.ErrUsage, err)
	}
	if f.opts.TLS != nil && f.opts.InProc {
		return fmt.Errorf("bench: %w: --tls and --ca-cert are for a running server that serves TLS (--addr); the --inproc server serves plaintext", scenario.ErrUsage)
	}
	if !f.opts.InProc {
		creds, _, err := resolveCredentials(f.accessKey, f.secretKey, os.Getenv)
		if err != nil {
			return fmt.Errorf("bench: %w: %w", scenario.ErrUsage, err)
		}
		f.opts.Credentials = creds
	}
	f.opts.Log = stderr
	if f.quiet {
		f.opts.Log = io.Discard
	}
	if out, ok := stdout.(*os.File); ok {
		f.opts.Progress = bench.ProgressOutput(out, f.jsonOut)
	}

	if f.scenario == scenario.Baseline {
		return benchBaseline(ctx, &f, stdout)
	}
	rep, runErr := scenario.Run(ctx, f.opts)
	if rep == nil {
		return fmt.Errorf("bench %s: %w", f.scenario, runErr)
	}
	if rep.StoppedBy == bench.StopInterrupted && !f.quiet {
		fmt.Fprintln(stderr, "interrupted: the report covers the run so far")
	}
	if err := benchPrint(rep, &f, stdout, stderr); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return fmt.Errorf("bench %s: %w", f.scenario, runErr)
	}
	return nil
}

// benchPrint writes the report (JSON or the table) and its .hgrm files.
func benchPrint(rep *bench.Report, f *benchFlags, stdout, stderr io.Writer) error {
	var err error
	if f.jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fmt.Errorf("bench: write the report: %w", err)
	}
	if f.hgrm != "" {
		paths, err := rep.WriteHgrmFiles(f.hgrm)
		if err != nil {
			return err
		}
		if !f.quiet {
			fmt.Fprintf(stderr, "latency distribution in %s\n", strings.Join(paths, ", "))
		}
	}
	return nil
}

// benchBaseline runs `sluice bench baseline`.
func benchBaseline(ctx context.Context, f *benchFlags, stdout io.Writer) error {
	dir := f.opts.DataDir
	if dir == "" {
		dir = "."
	}
	fmt.Fprintf(f.opts.Log, "measuring the machine in %s\n", dir)
	bl, err := scenario.MeasureBaseline(ctx, f.opts)
	if err != nil {
		return fmt.Errorf("bench baseline: %w", err)
	}
	if f.jsonOut {
		b, err := json.Marshal(struct {
			Scenario string          `json:"scenario"`
			Baseline *bench.Baseline `json:"baseline"`
		}{scenario.Baseline, bl})
		if err != nil {
			return fmt.Errorf("bench baseline: %w", err)
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	return bl.WriteText(stdout)
}

// notFlag is a boolean flag that stores its negation: --commit-log=false
// sets a NoCommitLog field.
type notFlag struct{ p *bool }

func (f notFlag) String() string {
	if f.p == nil {
		return "true"
	}
	return strconv.FormatBool(!*f.p)
}

func (f notFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*f.p = !v
	return nil
}

func (f notFlag) IsBoolFlag() bool { return true }
