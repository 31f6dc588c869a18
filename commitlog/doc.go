// Package commitlog is the node-wide commit log: it makes the writes of
// every shard durable with one fdatasync of one file instead of one per
// shard.
//
// # Why
//
// A durable put is acknowledged once its records are on disk. With a
// segment file per shard, a node with many busy shards syncs many files
// at once, and a put that spans shards waits for each of their syncs. The
// disk does not need that many: what it needs is the bytes. So each shard
// writer still writes its batch into its own segment (pwritev into the page
// cache, where readers find it through the mapping, with no copy), and then
// hands the same bytes, by reference, to this log. The writers waiting at
// one moment form a group: one of them writes every batch of the group into
// the log's current file with one pwritev and one fdatasync, and all of
// them are durable. The segments are synced later and lazily: when a shard
// goes idle, when a segment is sealed, when the server closes, and when the
// log needs the space of a file.
//
// # Group commit
//
// Commit takes no goroutine of its own. A caller that finds no group being
// written leads: it writes its batch (and any others that arrived) itself,
// so a lone writer pays nothing for the hand-over. Callers that arrive
// while a group is being written wait; when it is done, the leader wakes
// them and hands the lead to the oldest of the next waiters, which writes
// everything that queued meanwhile as the next group. One fdatasync is
// under way at a time (Options.MaxInFlight allows more, completed in
// order), and group size grows with load. Writers announce a batch before
// they write it into their segment (Expect), and a leader waits for the
// announced batches before it takes its group: the writers a group
// releases come back together, and without the wait the first of them
// would write a group of one while the rest waited a whole fdatasync.
//
// # Files and trimming
//
// Files are preallocated (Options.FileSize, 64 MiB by default), named by
// a number that only grows, and written once from start to end (the layout
// is drawn in format.go). When a group does not fit, the file is sealed and
// the next one started. A sealed file is removed once every owner (a
// shard's segment log) that committed into it has flushed (Owner.Flush:
// fdatasync of its own files, nothing to do if it was closed cleanly), so
// that the log holds only what may not yet be durable in the segments; in
// steady state that is the current file and perhaps one sealed file.
//
// # Recovery
//
// Open replays the files left by the last run, oldest first, before anything
// else opens a segment: each entry names a stream incarnation, a shard, a
// segment file and an offset, and its bytes are written back there (a
// segment that no longer exists is skipped). Replay is idempotent: an
// entry's bytes are what its owner wrote at that offset, and a segment's
// bytes at an offset never change once written and acknowledged, so a file
// whose removal did not reach the disk replays to no effect. The one
// exception is a segment's key header, which a Rewrap rewrites (and
// syncs) under a newer master key version: the engine's replay keeps a
// header whose generation is higher than the logged one. Then the
// segments are synced, the files removed, and each segment log recovers as
// it always has (a scan of its active segment cuts whatever is torn after
// the last whole frame).
//
// Entries are checked by a CRC-32C over their header and data. A file's
// entries end at the first zero length (the preallocated space after the
// last one) or at the first header that does not check: the tail of a
// group that a crash cut, never acknowledged. A file whose own header does
// not check (and is not all zeros, a file created but never written) stops
// the server from starting, naming the file: it may hold acknowledged
// records that are nowhere else.
//
// # Failures
//
// A failed write or sync of the log's file (an I/O error, a full disk when a
// new file is needed) fails the group's commits; their callers then sync
// their own segments, as they would without the log, so the error costs
// speed, not availability. The failed file takes no more groups; the next
// group starts a new file, and after a failure to create one the log
// refuses commits for Options.RetryAfter before it tries again.
//
// # Replication
//
// Under replication (each shard a Raft group whose log is the shard's
// segment files), the commit log keeps its place below the segments: a
// leader's or follower's append of entries to a shard is a segment Write,
// made durable by a Commit before the node answers for it (the leader's
// own vote towards the quorum, a follower's append response), so one
// fdatasync still covers every group that appended at the moment, however
// many groups a node hosts. This is the node-wide log of CockroachDB and
// TiKV, except that entries are written once into their segments and the
// log holds them only until the segments are synced. A group's hard state
// (term, vote, commit index) is small and changes with its entries: it can
// go into the same group as another entry kind, replayed into the group's
// state file, so that it costs no fdatasync of its own. Replay happens
// before any group starts, so a restarted node's segments hold everything
// it acknowledged before it answers a peer.
package commitlog
