package scenario

import (
	"crypto/tls"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// Names of the scenarios.
const (
	Put       = "put"       // producers put records: closed loop, or open loop at Rate
	Get       = "get"       // polling readers: catch-up from TRIM_HORIZON, or tail at LATEST
	Subscribe = "subscribe" // push subscriptions, fanned out to Consumers
	Mixed     = "mixed"     // producers and tail subscribers at once; the puts lead
	Limits    = "limits"    // conformance of one shard with the Kinesis shard limits
	Baseline  = "baseline"  // what the machine itself can do (no server)
)

// Scenarios lists the scenario names in the order help shows them.
var Scenarios = []string{Put, Get, Subscribe, Mixed, Limits, Baseline}

// Front doors a scenario can load.
const (
	APIWire    = "wire"    // sluice's binary protocol (every scenario)
	APIKinesis = "kinesis" // the Kinesis HTTP API, through the AWS SDK for Go (put, get)
)

// Where readers start.
const (
	FromTrim   = "trim"   // TRIM_HORIZON of a prefilled stream: catch-up readers
	FromLatest = "latest" // LATEST while producers put: tail readers
)

// Options configure a scenario. Zero fields take the documented defaults;
// the flags of `sluice bench` map onto them one to one.
type Options struct {
	// Scenario is one of the scenario names.
	Scenario string

	// Addr is the binary protocol address of a running server; default
	// 127.0.0.1:4568. Ignored with InProc.
	Addr string
	// InProc starts a server in this process on DataDir instead.
	InProc bool
	// Credentials, if set, are the access key the binary protocol's
	// connections authenticate with (a server started with --auth).
	Credentials *client.Credentials
	// DataDir is the in-process server's data directory, and where the
	// baseline measures the disk; default a fresh temporary directory,
	// removed afterwards (the baseline then measures the current directory's
	// file system when the server is remote).
	DataDir string
	// API is the front door to load: APIWire (default) or APIKinesis.
	API string
	// Endpoint is the Kinesis API's URL for APIKinesis; default the
	// in-process server's, or http://127.0.0.1:4567.
	Endpoint string
	// TLS, if set, is the TLS configuration of the connections to a
	// running server that serves TLS (binary protocol, and an https
	// Endpoint); nil means plaintext. Not with InProc.
	TLS *tls.Config

	// Stream names the stream the scenario creates (and deletes afterwards
	// unless Keep); default bench-<scenario>-<unix ms>. The limits scenario
	// creates two, with "-records" and "-bytes" appended.
	Stream string
	// Shards is the stream's shard count; default 1.
	Shards int
	// Fsync is the created stream's acknowledgement mode: always, interval or
	// none; default the server's. With InProc it is also the server's mode.
	Fsync string
	// NoCommitLog starts the InProc server without the node-wide commit
	// log (each shard syncs its own segment), to compare the two.
	NoCommitLog bool
	// Quotas are the created stream's per-shard limits: unlimited (default)
	// or kinesis. The limits scenario always uses kinesis.
	Quotas string
	// Keep keeps the stream (and an in-process server's DataDir) afterwards.
	Keep bool

	// Records bounds the run by records: those put (put, mixed), those
	// received by all readers together (get and subscribe from latest), or
	// the size of the prefill that catch-up readers read (from trim;
	// default 1,000,000).
	Records int64
	// Duration bounds the run by time; default 10 s when no Records bound
	// applies, 30 s for limits.
	Duration time.Duration
	// Warmup runs the load this long before measuring; default 0, and 2 s
	// for limits (a shard's one-second burst must drain first).
	Warmup time.Duration

	// Size is the data size of a record in bytes; default 100. Tail readers
	// need at least 8 (the producer's send time rides in the first 8 bytes).
	Size int
	// Batch is the records per put request (1..500); default 100. A batch of
	// 1 uses PutRecord, more use PutRecords.
	Batch int
	// Producers is the number of producer goroutines; default 4, and
	// LimitsProducers for each of the limits scenario's two put loads.
	Producers int
	// Conns is the number of connections the producers share; default one
	// each.
	Conns int
	// Keys is the partition key distribution: "random" (default: uniform over
	// 65,536 random 16-character keys) or a number N of distinct keys.
	Keys string
	// Rate makes the producers an open loop offering this many records per
	// second in total, with latencies corrected for coordinated omission;
	// 0 (default) is a closed loop at full speed.
	Rate float64

	// Readers is the number of polling readers of get, each reading every
	// shard; default 1.
	Readers int
	// Consumers is the number of subscribers of subscribe and mixed, each
	// subscribed to every shard; default 2.
	Consumers int
	// From is where readers start: FromTrim (catch-up over a prefilled
	// stream) or FromLatest (tail, beside producers). Default trim for get,
	// latest for subscribe; mixed is always latest.
	From string
	// MaxRecords bounds the records of one read; default 10,000 (the most
	// a read returns).
	MaxRecords int
	// Poll is how long a tail reader waits after a read found nothing new;
	// default 1 ms.
	Poll time.Duration
	// Window is a subscription's credit in bytes; default 4 MiB.
	Window int

	// Tolerance is the largest relative deviation from a Kinesis limit that
	// passes (limits); default 0.05.
	Tolerance float64
	// Offer is how many times each quota the limits scenario offers;
	// default 2 (more than 1 MiB/s and 1,000 records/s in, 2 MiB/s and
	// 5 reads/s out).
	Offer float64

	// Baseline measures the machine before the load (about 4 × BaselineBudget)
	// and states the report's figures as ratios to it.
	Baseline bool
	// BaselineBudget bounds each baseline measurement; default 1 s (2 s for
	// the baseline scenario).
	BaselineBudget time.Duration

	// Progress receives the one-line progress display, or nil for none.
	Progress io.Writer
	// ProgressInterval is the progress display's redraw period; default 1 s.
	ProgressInterval time.Duration
	// Log receives notes about the setup (server, stream, prefill); default
	// none.
	Log io.Writer
}

// Defaults of the options.
const (
	DefaultAddr     = "127.0.0.1:4568"
	DefaultEndpoint = "http://127.0.0.1:4567"
	// DefaultPrefill is the records catch-up readers read when Records is not
	// given.
	DefaultPrefill = 1_000_000
	// DefaultDuration bounds a run that has no Records bound.
	DefaultDuration = 10 * time.Second
	// LimitsWarmup is the default warm-up of the limits scenario: at twice
	// the quota offered, a shard's one-second burst drains in one second.
	LimitsWarmup = 2 * time.Second
	// LimitsProducers is the default number of goroutines of each limits put
	// load. Each has one request in flight, and a request whose records were
	// accepted waits for their fdatasync: enough of them keep offering while
	// a slow sync holds some, so that the shard, not the disk, decides what
	// is accepted.
	LimitsProducers = 32
	// LimitsDuration is the default length of the limits scenario. A shard
	// holds up to one second of quota as burst, so a stall of the load (a
	// slow fdatasync holds every producer) at the end of the warm-up lets it
	// start the measurement with up to a second in hand: at most 1/30 over
	// 30 s, within the default tolerance, where 10 s could be 10 % over.
	LimitsDuration = 30 * time.Second
	// randomKeys is the number of keys in the "random" distribution: enough
	// to spread evenly over thousands of shards.
	randomKeys = 1 << 16
	// stampLen is the producer's send time at the start of each record's
	// data: Unix nanoseconds, little-endian.
	stampLen = 8
)

// withDefaults fills in the defaults and checks the options.
func (o Options) withDefaults() (Options, error) {
	valid := false
	for _, s := range Scenarios {
		valid = valid || o.Scenario == s
	}
	if !valid {
		return o, fmt.Errorf("%w: unknown scenario %q; use one of %s", ErrUsage, o.Scenario, strings.Join(Scenarios, ", "))
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.API == "" {
		o.API = APIWire
	}
	if o.API != APIWire && o.API != APIKinesis {
		return o, fmt.Errorf("%w: --api %q; use wire or kinesis", ErrUsage, o.API)
	}
	if o.API == APIKinesis && o.Scenario != Put && o.Scenario != Get {
		return o, fmt.Errorf("%w: --api kinesis runs the put and get scenarios; %s needs --api wire", ErrUsage, o.Scenario)
	}
	if o.Stream == "" {
		o.Stream = fmt.Sprintf("bench-%s-%d", o.Scenario, time.Now().UnixMilli())
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.Shards < 1 || o.Shards > api.MaxShardsPerStream {
		return o, fmt.Errorf("%w: --shards %d; use 1 to %d", ErrUsage, o.Shards, api.MaxShardsPerStream)
	}
	if o.Fsync != "" {
		if _, err := api.ParseDurability(o.Fsync); err != nil {
			return o, fmt.Errorf("%w: --fsync %q; use always, interval or none", ErrUsage, o.Fsync)
		}
	}
	switch {
	case o.Scenario == Limits && o.Quotas != "" && o.Quotas != "kinesis":
		return o, fmt.Errorf("%w: limits checks the kinesis quotas; drop --quotas %s", ErrUsage, o.Quotas)
	case o.Scenario == Limits:
		o.Quotas = "kinesis"
	case o.Quotas == "":
		o.Quotas = "unlimited"
	case o.Quotas != "unlimited" && o.Quotas != "kinesis":
		return o, fmt.Errorf("%w: --quotas %q; use unlimited or kinesis", ErrUsage, o.Quotas)
	}
	if o.Records < 0 || o.Duration < 0 || o.Warmup < 0 {
		return o, fmt.Errorf("%w: --records, --duration and --warmup must not be negative", ErrUsage)
	}
	if o.Size == 0 {
		o.Size = 100
	}
	if o.Size < 0 || o.Size > api.MaxMaxRecord {
		return o, fmt.Errorf("%w: --size %d; use 0 to %d bytes", ErrUsage, o.Size, api.MaxMaxRecord)
	}
	if o.Batch == 0 {
		o.Batch = 100
	}
	if o.Batch < 1 || o.Batch > api.MaxPutRecords {
		return o, fmt.Errorf("%w: --batch %d; a put carries 1 to %d records", ErrUsage, o.Batch, api.MaxPutRecords)
	}
	if o.Producers == 0 {
		o.Producers = 4
		if o.Scenario == Limits {
			o.Producers = LimitsProducers
		}
	}
	if o.Readers == 0 {
		o.Readers = 1
	}
	if o.Consumers == 0 {
		o.Consumers = 2
	}
	if o.Producers < 1 || o.Readers < 1 || o.Consumers < 1 || o.Conns < 0 {
		return o, fmt.Errorf("%w: --producers, --readers and --consumers must be at least 1, --conns at least 0", ErrUsage)
	}
	if o.Keys == "" {
		o.Keys = "random"
	}
	if o.Keys != "random" {
		if n, err := strconv.Atoi(o.Keys); err != nil || n < 1 {
			return o, fmt.Errorf("%w: --keys %q; use random or a number of distinct keys", ErrUsage, o.Keys)
		}
	}
	if o.Rate < 0 {
		return o, fmt.Errorf("%w: --rate %v; use a positive number of records per second, or 0 for a closed loop", ErrUsage, o.Rate)
	}
	if o.From == "" {
		o.From = FromLatest
		if o.Scenario == Get {
			o.From = FromTrim
		}
	}
	if o.From != FromTrim && o.From != FromLatest {
		return o, fmt.Errorf("%w: --from %q; use trim (catch-up) or latest (tail)", ErrUsage, o.From)
	}
	if o.Scenario == Mixed && o.From != FromLatest {
		return o, fmt.Errorf("%w: mixed reads at the tail; drop --from %s", ErrUsage, o.From)
	}
	if o.API == APIKinesis && o.Scenario == Get && o.From != FromTrim {
		return o, fmt.Errorf("%w: --api kinesis reads catch-up only; drop --from %s", ErrUsage, o.From)
	}
	if o.MaxRecords == 0 {
		o.MaxRecords = api.MaxReadRecords
	}
	if o.MaxRecords < 1 || o.MaxRecords > api.MaxReadRecords {
		return o, fmt.Errorf("%w: --max-records %d; a read returns 1 to %d records", ErrUsage, o.MaxRecords, api.MaxReadRecords)
	}
	if o.Poll == 0 {
		o.Poll = time.Millisecond
	}
	if o.Window == 0 {
		o.Window = 4 << 20
	}
	if o.Poll < 0 || o.Window < 0 {
		return o, fmt.Errorf("%w: --poll and --window must be positive", ErrUsage)
	}
	if o.Tolerance == 0 {
		o.Tolerance = 0.05
	}
	if !(o.Tolerance > 0 && o.Tolerance < 1) {
		return o, fmt.Errorf("%w: --tolerance %v; use a fraction between 0 and 1", ErrUsage, o.Tolerance)
	}
	if o.Offer == 0 {
		o.Offer = 2
	}
	if !(o.Offer > 1) || o.Offer > 100 {
		return o, fmt.Errorf("%w: --offer %v; limits offers more than each quota: use a factor above 1 (at most 100)", ErrUsage, o.Offer)
	}
	if o.BaselineBudget < 0 {
		return o, fmt.Errorf("%w: --baseline-budget must be positive", ErrUsage)
	}
	if o.BaselineBudget == 0 {
		o.BaselineBudget = time.Second
		if o.Scenario == Baseline {
			o.BaselineBudget = 2 * time.Second
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Endpoint == "" && !o.InProc {
		o.Endpoint = DefaultEndpoint
	}
	return o, o.bounds()
}

// bounds sets the default bound of the run and checks the scenario's
// requirements on the load.
func (o *Options) bounds() error {
	tail := o.Scenario == Mixed || ((o.Scenario == Get || o.Scenario == Subscribe) && o.From == FromLatest)
	if tail && o.Size < stampLen {
		return fmt.Errorf("%w: --size %d; tail readers time each record by the send time in its first %d bytes: use at least %d", ErrUsage, o.Size, stampLen, stampLen)
	}
	catchUp := (o.Scenario == Get || o.Scenario == Subscribe) && o.From == FromTrim
	switch {
	case o.Scenario == Limits:
		if o.Records > 0 {
			return fmt.Errorf("%w: limits runs for a time; use --duration instead of --records", ErrUsage)
		}
		if o.Shards != 1 {
			return fmt.Errorf("%w: limits measures one shard; drop --shards %d", ErrUsage, o.Shards)
		}
		if o.Duration == 0 {
			o.Duration = LimitsDuration
		}
		if o.Warmup == 0 {
			o.Warmup = LimitsWarmup
		}
	case catchUp:
		if o.Records == 0 {
			o.Records = DefaultPrefill
		}
	case o.Records == 0 && o.Duration == 0:
		o.Duration = DefaultDuration
	}
	if o.Warmup > 0 && o.Records > 0 && !catchUp {
		return fmt.Errorf("%w: a warm-up needs a run bounded by --duration, not --records", ErrUsage)
	}
	return nil
}
