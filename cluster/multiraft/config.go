package multiraft

import (
	"errors"
	"log/slog"
	"time"

	"github.com/sluicedb/sluice/cluster"
)

// Config configures a Host. Zero fields take the documented defaults.
type Config struct {
	// NodeID is this node's id in every group; never 0, never reused.
	NodeID uint64
	// Store keeps every group's log and hard state. Required.
	Store cluster.Store
	// Transport carries messages to other nodes. It may be set after New
	// with SetTransport (the transport needs the host as its Receiver);
	// messages sent before are dropped and Raft sends them again.
	Transport cluster.Transport
	// StateMachine applies committed entries. Required.
	StateMachine StateMachine

	// TickInterval: 100 ms. One Raft tick; elections and heartbeats are
	// counted in ticks.
	TickInterval time.Duration
	// ElectionTicks: 10, so a follower that hears nothing from its leader
	// for 1 to 2 s (Raft randomises in [ElectionTicks, 2*ElectionTicks))
	// starts an election. Lower fails over faster and risks needless
	// elections when the machine is loaded.
	ElectionTicks int
	// HeartbeatTicks: 1. A leader of a group that is not quiesced sends
	// heartbeats every HeartbeatTicks ticks.
	HeartbeatTicks int
	// MaxSizePerMsg: 1 MiB. The bytes of entries in one append message.
	MaxSizePerMsg uint64
	// MaxInflightMsgs: 256. Append messages in flight to one follower of
	// one group before the leader waits for acknowledgements.
	MaxInflightMsgs int
	// MaxUncommittedBytes: 64 MiB. A leader drops proposals of a group
	// (ErrProposalDropped) while this much of its log is uncommitted.
	MaxUncommittedBytes uint64
	// ForwardProposals lets a follower that knows its group's leader take
	// a proposal (not a membership change) and pass it to the leader
	// through Raft, instead of refusing it with a NotLeaderError; it is
	// answered once the entry is applied here. A forwarded proposal lost
	// on the way (the leader fell) is never seen again: it ends with
	// ErrOutcomeUnknown after ForwardTimeout (default 2 election
	// timeouts) or when the caller's context ends.
	ForwardProposals bool
	ForwardTimeout   time.Duration
	// SnapshotEntries: 10,000. After this many entries applied since a
	// group's last snapshot, the host takes a snapshot from the state
	// machine and compacts the log. Larger keeps more log, fewer snapshots.
	SnapshotEntries uint64
	// SnapshotBytes: 64 MiB. A snapshot is also taken once this many
	// bytes of entries were applied since the last one, whichever of the
	// two comes first.
	SnapshotBytes uint64
	// CompactionTail: 1,000. Entries kept before a snapshot's index, so a
	// follower a little behind catches up from the log, not a snapshot.
	CompactionTail uint64
	// KeepForFollowers: 100,000. A leader compacts no entry a follower
	// still needs, so that a node that was down catches up from the log,
	// unless the follower is more than this many entries behind: then it
	// is sent a snapshot.
	KeepForFollowers uint64

	// Ticker drives the ticks; nil means a time.Ticker of TickInterval.
	// Tests pass a channel they send on to tick by hand.
	Ticker Ticker
	// Logger: slog.Default(). Raft's own chatter goes at Debug level.
	Logger *slog.Logger

	noQuiesce bool // benchmarks: never quiesce, to measure what quiescing saves
}

// Ticker delivers ticks.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time { return t.t.C }
func (t timeTicker) Stop()               { t.t.Stop() }

// ChanTicker is a Ticker a test ticks by sending on it.
type ChanTicker chan time.Time

// C returns the channel.
func (c ChanTicker) C() <-chan time.Time { return c }

// Stop does nothing.
func (c ChanTicker) Stop() {}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.NodeID == 0 {
		return cfg, errors.New("multiraft: Config.NodeID is 0; give every node a distinct id from 1 up")
	}
	if cfg.Store == nil {
		return cfg, errors.New("multiraft: Config.Store is nil; a host needs a store for its Raft logs")
	}
	if cfg.StateMachine == nil {
		return cfg, errors.New("multiraft: Config.StateMachine is nil; a host needs a state machine to apply to")
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.ElectionTicks <= cfg.HeartbeatTicks {
		return cfg, errors.New("multiraft: Config.ElectionTicks must exceed HeartbeatTicks (10 and 1 are the defaults)")
	}
	if cfg.MaxSizePerMsg == 0 {
		cfg.MaxSizePerMsg = 1 << 20
	}
	if cfg.MaxInflightMsgs <= 0 {
		cfg.MaxInflightMsgs = 256
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Duration(cfg.ElectionTicks) * cfg.TickInterval
	}
	if cfg.MaxUncommittedBytes == 0 {
		cfg.MaxUncommittedBytes = 64 << 20
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = 10_000
	}
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = 64 << 20
	}
	if cfg.CompactionTail == 0 {
		cfg.CompactionTail = 1_000
	}
	if cfg.KeepForFollowers == 0 {
		cfg.KeepForFollowers = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}
