// Package raftlog is the node-wide durable storage of a sluice cluster's
// Raft groups: every group's log entries, hard state and snapshot in one
// write-ahead log, so that one fdatasync covers the appends of every group
// that has any at the moment, however many groups the node hosts (the
// shape CockroachDB and TiKV use). It implements cluster.Store; the Raft
// host calls Save once per scheduling round with the Ready of every group
// that has one.
//
// # Files
//
// The log is one append-only series of files in one directory (the node
// uses DATA_DIR/raft), each named by a number that only grows
// (00000000000000000001.raftlog, ...), preallocated with fallocate
// (Options.FileSize, 64 MiB by default) and written once from start to
// end. A Save becomes one batch: its records back to back and a commit
// record, written with one pwritev at the end of the current file (the
// entries' data straight from the caller's slices) and made durable with
// one fdatasync; a Save with nothing to make durable (its groups' Readys
// held only messages) writes nothing. A batch never spans two files: when it does not fit, the
// file is sealed and the next one started (as large as the batch if the
// batch is larger than a file).
//
//	file header, 32 B
//	  0  magic "SLRAFTLG"
//	  8  u32 format version (1)
//	 12  u32 reserved, zero
//	 16  u64 the file's number (as in its name)
//	 24  u32 masked CRC-32C of bytes 0..24
//	 28  u32 reserved, zero
//
//	record, 40 B header + payload, back to back from offset 32
//	  0  u32 payload length
//	  4  u32 masked CRC-32C of header bytes 8..40, then the payload
//	  8  u8  kind (never 0: a zero kind is the preallocated space after the last record)
//	  9  u8  flags: an entry's type; for a snapshot, 1 if it replaces the log
//	 10  6 B reserved, zero
//	 16  u64 group
//	 24  u64 a
//	 32  u64 b
//	 40  payload
//
//	kind          a                b                payload
//	1 entry       index            term             the entry's data
//	2 hard state  term             vote             u64 commit
//	3 snapshot    index            term             conf state, then the state machine's data
//	4 compaction  compacted index  its term         none
//	5 removal     0                0                none (the group and all stored for it are gone)
//	6 commit      batch sequence   records before   u32 CRC-32C of the masked CRCs of the
//	              (group 0)        it in the batch  batch's records, little endian, in order
//
//	conf state: u32 voters, u32 learners, u32 outgoing voters, u32 next learners (counts),
//	            u8 auto leave (0 or 1), 3 B zero, then the ids of each list as u64s in that order
//
// All integers are little endian; CRCs are masked as everywhere in sluice
// (internal/checksum).
//
// # Batches and replay
//
// Open reads every file in order. A batch's records take effect only when
// its commit record is read and checks: it counts them, chains their CRCs
// and carries the sequence number after the previous batch's. So a Save is
// all or nothing after a crash, even when the disk kept some sectors of a
// torn write and not others. Replay stops at the first record that does not
// check. In the last file that is the normal end of a power cut (the write
// was never acknowledged): the tail is cut off (ftruncate and fdatasync), so
// that the file ends on a whole batch, and a new file takes the next
// writes. In any other file, a record that does not check followed by
// anything but zeros is damage to acknowledged data: Open fails with a
// *CorruptionError naming the file and the offset.
//
// Replay rebuilds each group as the writes made it: an entry replaces the
// entries of its index and after; a snapshot received from a leader
// replaces the whole log; a compaction point drops the entries up to it; a
// removal forgets the group. Entries are not read into memory: each group
// keeps an index (index -> file, offset, term, length), and reads that miss
// the cache read the records back with pread (one per run of records that
// lie back to back, as an update's entries do) and check their CRCs.
//
// # Reads and the cache
//
// Each group's storage is guarded by its own RWMutex, taken once per call:
// Entries copies what it needs under the read lock and reads any entry
// not in the cache from the files after releasing it (a file is closed
// only once the reads under way in it are done). Recent entries stay in
// memory up to Options.CacheBytes across all groups, evicted oldest
// written first, so a leader serves its followers from memory and a
// follower far behind is caught up from disk without the node holding
// every log in memory.
//
// # Compaction and trimming
//
// CreateSnapshot and Compact change the group at once and queue their
// record for the next write (Save, RemoveGroup or Close): they cost no
// fdatasync of their own. Losing them in a crash is harmless, since a file
// is removed only after a write that carries them is durable.
//
// Files are removed oldest first, never out of order: a later file may
// hold the entries that truncated an older one's, so removing it while the
// older one stays could bring truncated entries back. A file is removed
// once no group has a live entry in it (every group that wrote entries
// there has compacted past them, or truncated them, or was removed). Each
// group keeps, per file, the range of its indexes that may still be live
// there, and each file counts the groups that pin it.
//
// The small records a removed file may hold, a group's latest hard state,
// snapshot and compaction point, are written again into the head by the
// write that retires it (in the same batch, before the file is removed).
// We chose this over a separate state file written crash-atomically
// (write, fsync, rename, fsync of the directory for every change) because
// hard states change with nearly every Save: in the log they ride in the
// batch's one fdatasync, while a state file would add a write and two
// syncs per round or lag behind the log. Rewriting costs one record per
// group that has not written one since, per retired file: at most a few
// hundred kilobytes for ten thousand groups, once per 64 MiB of log.
//
// A group that never compacts pins the oldest file it wrote to, and with
// it every file after (removal is in order): the Raft host compacts every
// group, idle ones included, once its entries are applied.
//
// # Failures
//
// A Save whose file cannot be created (a full disk) fails with nothing
// written and nothing changed; the next Save tries again. A failed write
// cuts the file back to where the batch began (ftruncate, fdatasync) and
// the next batch starts a new file. A failed fdatasync is final: the pages
// it failed to write may be gone from the page cache, so every later call
// fails, and reopening the log finds what is durable.
package raftlog
