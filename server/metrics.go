package server

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/budget"
)

// metrics exposes the engine's per-shard counters and the server's own
// instruments in the Prometheus format.
type metrics struct {
	eng    *engine.Engine
	budget *budget.Budget

	fsync       prometheus.Histogram
	connections *prometheus.GaugeVec
	accepted    *prometheus.CounterVec

	inBytes, inRecords, outBytes, outRecords *prometheus.Desc
	writeThrottled, readThrottled            *prometheus.Desc
	iteratorAge                              *prometheus.Desc
	inflight, inflightLimit                  *prometheus.Desc
	shardFault                               *prometheus.Desc
	streams, shards, openLogs, writers       *prometheus.Desc
	clogGroups, clogBatches, clogBytes       *prometheus.Desc
	clogFallbacks, clogTrimmed               *prometheus.Desc
	groupLagRecords, groupLagMillis          *prometheus.Desc
	groupMoves, groupFenced                  *prometheus.Desc
	scaleDecisions, hotKey                   *prometheus.Desc
}

func newMetrics(reg *prometheus.Registry) *metrics {
	labels := []string{"stream", "shard"}
	m := &metrics{
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_fsync_seconds",
			Help:    "Latency of the fdatasync calls that make shard writes durable.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16), // 25 µs .. ~0.8 s
		}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_connections",
			Help: "Open client connections, by front door.",
		}, []string{"door"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connections_accepted_total",
			Help: "Client connections accepted, by front door.",
		}, []string{"door"}),
		inBytes:        prometheus.NewDesc("sluice_shard_incoming_bytes_total", "Bytes (partition keys and data) stored in the shard.", labels, nil),
		inRecords:      prometheus.NewDesc("sluice_shard_incoming_records_total", "Records stored in the shard.", labels, nil),
		outBytes:       prometheus.NewDesc("sluice_shard_outgoing_bytes_total", "Bytes (partition keys and data) read from the shard.", labels, nil),
		outRecords:     prometheus.NewDesc("sluice_shard_outgoing_records_total", "Records read from the shard.", labels, nil),
		writeThrottled: prometheus.NewDesc("sluice_shard_write_throttled_total", "Records refused because the shard's write quota was exceeded.", labels, nil),
		readThrottled:  prometheus.NewDesc("sluice_shard_read_throttled_total", "Reads refused because the shard's read quota was exceeded.", labels, nil),
		iteratorAge:    prometheus.NewDesc("sluice_shard_iterator_age_milliseconds", "How far the most recent read of the shard was behind its newest record.", labels, nil),
		inflight:       prometheus.NewDesc("sluice_inflight_bytes", "Bytes of requests in flight reserved in the server-wide budget, both front doors.", nil, nil),
		inflightLimit:  prometheus.NewDesc("sluice_inflight_limit_bytes", "The server-wide budget of in-flight request bytes (0: unlimited).", nil, nil),
		shardFault:     prometheus.NewDesc("sluice_shard_faulted", "1 for each shard that failed (could not open, or a write or sync failed) and refuses requests until the server restarts.", []string{"stream", "shard", "reason"}, nil),
		streams:        prometheus.NewDesc("sluice_streams", "Streams the server holds.", nil, nil),
		shards:         prometheus.NewDesc("sluice_shards", "Shards the server holds, open and closed.", nil, nil),
		openLogs:       prometheus.NewDesc("sluice_shard_logs_open", "Shard logs open (a file and mappings each); the others are dormant.", nil, nil),
		writers:        prometheus.NewDesc("sluice_shard_writers", "Shard writer goroutines running.", nil, nil),
		clogGroups:     prometheus.NewDesc("sluice_commitlog_groups_total", "Groups written to the node-wide commit log, one fdatasync each.", nil, nil),
		clogBatches:    prometheus.NewDesc("sluice_commitlog_batches_total", "Shard batches made durable through the commit log.", nil, nil),
		clogBytes:      prometheus.NewDesc("sluice_commitlog_bytes_total", "Bytes written to the commit log, entry headers included.", nil, nil),
		clogFallbacks:  prometheus.NewDesc("sluice_commitlog_fallbacks_total", "Durable batches the commit log refused (a failed write or sync, a full disk), synced in their own shard's segment instead.", nil, nil),
		clogTrimmed:    prometheus.NewDesc("sluice_commitlog_files_trimmed_total", "Commit log files removed once the shards they covered had synced.", nil, nil),
		scaleDecisions: prometheus.NewDesc("sluice_autoscale_decisions_total", "Scaling decisions of ON_DEMAND streams: split (a hot shard), merge (two cold neighbours), minimum (raised to 4 shards), hot_key (a single key splitting cannot spread, reported instead), refused (a split or merge the engine refused).", []string{"decision"}, nil),
		hotKey:         prometheus.NewDesc("sluice_autoscale_hot_key", "Share of its shard's records carried by a single hot hash key that keeps the shard over quota; splitting cannot spread it.", []string{"stream", "shard", "hash_key"}, nil),

		groupLagRecords: prometheus.NewDesc("sluice_group_lag_records", "Records of the shard after the consumer group's checkpoint.", []string{"stream", "group", "shard"}, nil),
		groupLagMillis:  prometheus.NewDesc("sluice_group_lag_milliseconds", "Age of the oldest record of the shard after the consumer group's checkpoint (0 when none).", []string{"stream", "group", "shard"}, nil),
		groupMoves:      prometheus.NewDesc("sluice_group_lease_moves_total", "Leases of the consumer group given to a new owner since the server started.", []string{"stream", "group"}, nil),
		groupFenced:     prometheus.NewDesc("sluice_group_fenced_checkpoints_total", "Checkpoints refused because the member no longer held the lease, since the server started.", []string{"stream", "group"}, nil),
	}
	reg.MustRegister(m.fsync, m.connections, m.accepted, m, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// observeSync is the engine's OnSync hook.
func (m *metrics) observeSync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.inBytes, m.inRecords, m.outBytes, m.outRecords, m.writeThrottled, m.readThrottled, m.iteratorAge, m.inflight, m.inflightLimit, m.shardFault, m.streams, m.shards, m.openLogs, m.writers, m.clogGroups, m.clogBatches, m.clogBytes, m.clogFallbacks, m.clogTrimmed, m.scaleDecisions, m.hotKey} {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{m.groupLagRecords, m.groupLagMillis, m.groupMoves, m.groupFenced} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one sample per shard and counter,
// read from the engine's atomics at scrape time.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(m.inflight, prometheus.GaugeValue, float64(m.budget.InUse()))
	ch <- prometheus.MustNewConstMetric(m.inflightLimit, prometheus.GaugeValue, float64(m.budget.Limit()))
	if m.eng == nil {
		return
	}
	for _, f := range m.eng.Faults() {
		reason, _, _ := strings.Cut(f.Reason, ":") // the kind (open, write, sync, ...), not the whole error
		ch <- prometheus.MustNewConstMetric(m.shardFault, prometheus.GaugeValue, 1, f.Stream, f.Shard, reason)
	}
	u := m.eng.Usage()
	ch <- prometheus.MustNewConstMetric(m.streams, prometheus.GaugeValue, float64(u.Streams))
	ch <- prometheus.MustNewConstMetric(m.shards, prometheus.GaugeValue, float64(u.Shards))
	ch <- prometheus.MustNewConstMetric(m.openLogs, prometheus.GaugeValue, float64(u.OpenLogs))
	ch <- prometheus.MustNewConstMetric(m.writers, prometheus.GaugeValue, float64(u.Writers))
	cl := m.eng.CommitLogStats()
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{{m.clogGroups, cl.Groups}, {m.clogBatches, cl.Batches}, {m.clogBytes, cl.Bytes}, {m.clogFallbacks, cl.Fallbacks}, {m.clogTrimmed, cl.Trimmed}} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
	as := m.eng.AutoscaleStats()
	for _, d := range []struct {
		name string
		v    uint64
	}{{"split", as.Splits}, {"merge", as.Merges}, {"minimum", as.MinScaleUps}, {"hot_key", as.HotKeys}, {"refused", as.Refused}} {
		ch <- prometheus.MustNewConstMetric(m.scaleDecisions, prometheus.CounterValue, float64(d.v), d.name)
	}
	for _, hk := range m.eng.HotKeys("") {
		ch <- prometheus.MustNewConstMetric(m.hotKey, prometheus.GaugeValue, hk.Share, hk.Stream, hk.Shard, hk.HashKey.String())
	}
	m.eng.Metrics(func(s engine.ShardMetrics) {
		c := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), s.Stream, s.Shard)
		}
		c(m.inBytes, s.IncomingBytes)
		c(m.inRecords, s.IncomingRecords)
		c(m.outBytes, s.OutgoingBytes)
		c(m.outRecords, s.OutgoingRecords)
		c(m.writeThrottled, s.WriteThrottled)
		c(m.readThrottled, s.ReadThrottled)
		ch <- prometheus.MustNewConstMetric(m.iteratorAge, prometheus.GaugeValue, float64(s.IteratorAgeMillis), s.Stream, s.Shard)
	})
	m.collectGroups(ch)
}

// collectGroups reports every consumer group's lag per shard and its
// counters.
func (m *metrics) collectGroups(ch chan<- prometheus.Metric) {
	type key struct{ stream, group string }
	seen := map[key]bool{}
	for _, g := range m.eng.GroupMetrics() {
		ch <- prometheus.MustNewConstMetric(m.groupLagRecords, prometheus.GaugeValue, float64(g.LagRecords), g.Stream, g.Group, g.Shard)
		ch <- prometheus.MustNewConstMetric(m.groupLagMillis, prometheus.GaugeValue, float64(g.LagMillis), g.Stream, g.Group, g.Shard)
		if k := (key{g.Stream, g.Group}); !seen[k] {
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(m.groupMoves, prometheus.CounterValue, float64(g.LeaseMoves), g.Stream, g.Group)
			ch <- prometheus.MustNewConstMetric(m.groupFenced, prometheus.CounterValue, float64(g.FencedCheckpoints), g.Stream, g.Group)
		}
	}
}
