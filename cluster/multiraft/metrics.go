package multiraft

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Metrics are a host's counters since it started, for the server to export.
type Metrics struct {
	Elections          uint64 // campaigns this node started (it became a candidate)
	LeaderChanges      uint64 // times a group on this node learned of a new leader
	ProposalsOK        uint64 // proposals committed and applied
	ProposalsDropped   uint64 // proposals certainly not committed (ErrProposalDropped)
	ProposalsNotLeader uint64 // proposals refused because this node is not the leader
	ProposalsUnknown   uint64 // proposals whose outcome this node could not learn
	ProposalsBounced   uint64 // forwarded proposals Raft dropped here, their proposers told so
	SnapshotsSent      uint64 // snapshot messages handed to the transport
	SnapshotsReceived  uint64 // snapshots from a leader applied here
	SnapshotsTaken     uint64 // snapshots taken for log compaction
	MessagesOut        uint64
	MessagesIn         uint64
	Saves              uint64 // Store.Save calls (one per scheduler round with anything to save)
	Rounds             uint64 // scheduler rounds
	Ticks              uint64 // group ticks (quiesced groups are not ticked)
	Groups             uint64 // groups running
	GroupsQuiesced     uint64 // groups quiesced now
}

type counters struct {
	elections, leaderChanges                            atomic.Uint64
	propOK, propDropped, propNotLeader, propUnknown     atomic.Uint64
	propBounced                                         atomic.Uint64
	snapsSent, snapsReceived, snapsTaken                atomic.Uint64
	msgsOut, msgsIn, saves, rounds, ticks, groups, quie atomic.Uint64

	latencyMu sync.Mutex              // guards latency
	latency   *hdrhistogram.Histogram // µs from Propose to applied, 1 µs to 60 s
}

func newCounters() *counters {
	return &counters{latency: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)}
}

func (c *counters) recordLatency(d time.Duration) {
	c.latencyMu.Lock()
	_ = c.latency.RecordValue(int64(d / time.Microsecond))
	c.latencyMu.Unlock()
}

// Metrics returns the host's counters now.
func (h *Host) Metrics() Metrics {
	c := h.counters
	return Metrics{
		Elections:          c.elections.Load(),
		LeaderChanges:      c.leaderChanges.Load(),
		ProposalsOK:        c.propOK.Load(),
		ProposalsDropped:   c.propDropped.Load(),
		ProposalsNotLeader: c.propNotLeader.Load(),
		ProposalsUnknown:   c.propUnknown.Load(),
		ProposalsBounced:   c.propBounced.Load(),
		SnapshotsSent:      c.snapsSent.Load(),
		SnapshotsReceived:  c.snapsReceived.Load(),
		SnapshotsTaken:     c.snapsTaken.Load(),
		MessagesOut:        c.msgsOut.Load(),
		MessagesIn:         c.msgsIn.Load(),
		Saves:              c.saves.Load(),
		Rounds:             c.rounds.Load(),
		Ticks:              c.ticks.Load(),
		Groups:             c.groups.Load(),
		GroupsQuiesced:     c.quie.Load(),
	}
}

// CommitLatency returns a copy of the histogram of commit latencies in
// microseconds: from a Propose call on this node to its entry applied here.
func (h *Host) CommitLatency() *hdrhistogram.Histogram {
	c := h.counters
	c.latencyMu.Lock()
	defer c.latencyMu.Unlock()
	return hdrhistogram.Import(c.latency.Export())
}
