// Package engine is sluice's storage engine: a set of Kinesis-style streams
// under one data directory. A stream is a set of shards, each an ordered,
// durable, append-only log (package segment); the engine routes records to
// shards by hash key, numbers them, commits them in groups, serves reads and
// waits for new data, reshards, applies retention and quotas, and keeps the
// catalog of it all. It knows nothing of sockets and words no message for a
// client: it returns an *api.Error that carries a code (the Kinesis
// exception), a reason and the names and numbers involved, and each front
// door (packages kinesis and wire/wireserver) words it in its own protocol.
//
// # Data directory
//
// Everything lives under Options.Dir:
//
//	DIR/
//	├── LOCK                            flock(LOCK_EX|LOCK_NB) while a server has DIR open
//	├── catalog.json                    the catalog: every stream, shard and setting
//	├── catalog.json.tmp                the next catalog, while it is being written
//	├── bounds.json                     every shard's retained range, written by a clean Close
//	├── commitlog/                      the node-wide commit log (package commitlog); empty after a clean Close
//	│   └── 00000000000000000007.log    files named by a number that only grows
//	└── streams/
//	    └── 1700000000/                 one per stream: its incarnation, %010d
//	        ├── stream.json             the stream's name, incarnation and creation settings
//	        ├── shardId-000000000000/   one per shard: its index, shardId-%012d
//	        │   ├── 00000000000000000000.seg    segment, named by its first sequence number (%020d)
//	        │   ├── 00000000000000000000.idx    its sparse index (package index)
//	        │   ├── 00000000000001048576.seg    the active (last) segment
//	        │   ├── 00000000000001048576.idx    only after a clean Close
//	        │   └── CLEAN                       clean-shutdown marker and checkpoint
//	        └── shardId-000000000001/
//	└── kms/keyring                    the default keyring of the key service (package kms), if the server uses it
//
// LOCK is taken through the file system seam (vfs.FS.Lock: flock on the
// real file system, an in-process lock on the in-memory one); a second server
// on the same directory fails to open with a message naming it. A stream's
// directory is named by its incarnation, not its name, so a stream deleted
// and re-created under the same name never meets the old files; it holds
// stream.json (the stream's name, incarnation and creation settings), from
// which --recover-catalog rebuilds a lost catalog. A clean Close writes
// bounds.json beside the catalog (every shard's retained range, so that
// describing streams after a restart opens no shard); Open removes it, and
// its absence at Open means the last run did not close cleanly, so every
// shard is recovered at start. A directory under streams/ that the catalog
// does not name (the leftover of a crash in the middle of a create or
// delete) is kept and logged unless Options.RemoveOrphans is set. Open
// refuses to start when the catalog is missing or damaged but stream
// directories exist, unless Options.RecoverCatalog is set. A shard's index is
// never reused within a stream (the catalog's next_shard), so a child of a
// reshard gets a new directory.
//
// The files inside a shard directory belong to package segment (formats drawn
// in segment/doc.go and index/doc.go): segment files %020d.seg with their
// .idx beside them, and CLEAN, written by a clean Close, which carries the
// checkpoint of the active segment (its base, end, frame count and last
// arrival time) so that the next Open trusts the active segment's .idx instead
// of scanning. Open removes CLEAN before it returns, so a later crash forces
// a scan. Files named *.tmp (an atomic write cut short) and *.deleted (a
// segment removed by retention, waiting for its last reader) are removed by
// the next Open.
//
// # Catalog
//
// The catalog is one JSON document rewritten whole on every change: write
// catalog.json.tmp, fdatasync, rename over catalog.json, fsync DIR. After any
// crash a reader finds either the old or the new document, never a mix. The
// document is wrapped in a one-line JSON envelope that carries a checksum of
// the document's exact bytes:
//
//	+--------+------------------------+---------+----------------------+----+
//	| {"crc":| masked CRC-32C, decimal| ,"doc": | document, JSON object| }  |
//	+--------+------------------------+---------+----------------------+----+
//	                                             |<----- CRC covers --->|
//
//	{"crc":<u32>,"doc":{"version":1,"last_incarnation":1700000000,"streams":[...]}}
//
// The CRC is internal/checksum's Mask of the CRC-32C of the bytes between
// "doc": and the closing brace, as written (the document is not re-encoded
// before checking). Open refuses a catalog that is not valid JSON, whose CRC
// does not match, whose version is not 1, or whose content is inconsistent
// (catalog_check.go), saying which; it never starts over an empty catalog in
// place of a damaged one. A missing catalog.json is an empty data directory.
//
// The document holds, per stream: name, incarnation, status, mode, creation
// time, retention hours, maximum record size, durability and quota overrides,
// tags, encryption, monitoring, policy, consumers, next_shard and every shard
// not yet removed by retention; per shard: index, parent and adjacent parent
// (-1 for none), hash key range [start, end] as decimals, closed, the
// internal sequence number one past its last record once closed (end_seq),
// and creation and closing times in Unix nanoseconds. last_incarnation is the
// highest incarnation ever issued here; a new stream takes
// max(last_incarnation+1, Unix seconds now).
//
// # Sequence numbers
//
// Inside a shard, records are numbered 0, 1, 2, ...: the internal sequence
// number, a uint64 that package segment stores in each frame and names its
// segment files by. It says nothing of the stream or shard.
//
// Outside (PutRecord's answer, iterators, the Kinesis API, the CLI) a record
// is named by a SeqNum: the stream's incarnation, the shard's index and the
// internal number. Its decimal form is one 128-bit unsigned integer:
//
//	 127           96 95            64 63                                  0
//	+----------------+----------------+-------------------------------------+
//	| incarnation u32| shard u32      | seq + 1  (mod 2^64)                 |
//	+----------------+----------------+-------------------------------------+
//
//	decimal = incarnation<<96 | shard<<64 | (seq+1 mod 2^64)    29 to 39 digits
//
// For example incarnation 1700000000, shard 0, the shard's first record
// (seq 0) is 134687876274249373909024715571200000001.
//
// The +1 keeps the low word 0 free for the shard's starting sequence number
// (Seq == StartSeq, all ones, which wraps to 0): it sorts before every record
// of the shard and is no record's, so AFTER_SEQUENCE_NUMBER of it starts at
// the first record. Within a shard, decimals compare numerically in record
// order (KCL compares them as big integers); a number from an earlier
// incarnation of a stream never resolves against the current one; and a
// number names its shard, so one used against another shard is a clear
// error. ParseSeqNum refuses a decimal whose incarnation is 0, which no
// stream has.
//
// # Group commit
//
// Each open shard has one writer goroutine (shard.writeLoop) fed by a bounded
// queue of requests (Options.QueueDepth); a full queue blocks producers.
// PutRecords groups a call's records by shard and hands each group to its
// shard's queue as one request, then waits for all of them:
//
//	producers ──► queue ──► writer: take one request, drain what else is queued
//	                         │      (up to Options.MaxBatchBytes, no waiting)
//	                         ├─ encode every record into one segment.Batch
//	                         │   (assigns the internal sequence numbers)
//	                         ├─ Log.Write: one pwritev per segment touched
//	                         ├─ durable (Always mode): the same bytes, by
//	                         │   reference, to the node-wide commit log (package
//	                         │   commitlog), where one pwritev and one fdatasync
//	                         │   make the batches of every shard committing at the
//	                         │   moment durable together
//	                         ├─ Log.Publish: the new high-watermark, an atomic store
//	                         ├─ wake: close the shard's notify channel (waiting readers)
//	                         └─ ack: complete every request of the batch
//
// There is no timer on this path: requests pile up in the queue while the
// previous commit runs, which is what makes batches grow under load, and
// the writers of many shards waiting on the commit log at one moment form
// one group there, so that the fdatasyncs a node issues do not grow with
// its shard count. The first writer to find no group being written writes
// one itself (a lone shard pays no hand-over); the others wait on a
// channel, and the next group is written by the oldest of them.
//
// The segments themselves are synced lazily: when a segment is sealed, when
// a shard goes idle (Park) or closes, and when the commit log needs the
// space of a file (it removes a file once every shard that committed into
// it has synced its segment). At Open, before anything reads a segment,
// the log's files are replayed: each entry names the stream incarnation,
// shard, segment file and offset its bytes were written to, and they are
// written there again (idempotently), synced, and the files removed; then
// each shard's log recovers as it always has. The commit log carries
// everything a Write put in a segment file, a new segment's key header
// included, so sealed frames are never durable without the key they were
// sealed under. If the commit log refuses a batch (its file failed a write
// or sync, or no new file could be made on a full disk), the writer syncs
// its own segment (Log.Sync, through the engine's Flusher, which issues the
// fdatasyncs of many shards in one io_uring submission) and the put
// succeeds; Options.NoCommitLog makes that the only path.
//
// Readers see only published records, so in Always mode only durable ones.
// In Interval mode the ack follows the write and a timer syncs a dirty log
// every Options.SyncInterval; in None mode syncing is left to the OS. The
// first write or sync error of a shard's own files is sticky: every later
// request to the shard fails with CodeInternal until restart (when the
// commit log puts back what it made durable), and an fdatasync is never
// retried.
//
// # Resharding
//
// SplitShard, MergeShards and UpdateShardCount (a series of splits, then
// merges) all go through reshard, one at a time per engine:
//
//  1. open the children's logs (new shard indexes from next_shard; a directory
//     left by an earlier reshard that crashed before step 3 is removed first);
//  2. stop each parent's writer after everything already queued to it, which
//     fixes its end sequence number; puts that arrive meanwhile wait for the
//     new routing table;
//  3. persist the catalog with the parents closed (end_seq, closed_ns) and the
//     children open;
//  4. install the children and the new routing table, which releases the
//     waiting puts to the children;
//  5. mark the parents closed for readers, so that a reader reaching a
//     parent's end always finds its children.
//
// A crash before step 3 leaves the old catalog: the reshard did not happen.
// After it, the new one. A parent stays readable until retention removes it;
// a reader that drains parents before children sees each key in order.
//
// On a replica of a cluster (Options.Replica) a reshard is ordered through
// the cluster instead (change_reshard.go): a seal entry in each parent's
// group fixes its end in that group's committed order (replica_seal.go),
// then a Reshard catalog change closes the parents at those ends and opens
// the children on every node, without stopping the parents' writers: a
// replica whose parent lags applies the records before the end after the
// change, and records entries after the end are refused on every replica.
//
// # Encryption at rest
//
// SetEncryption("KMS", key) (Kinesis' StartStreamEncryption) makes every
// record put afterwards stored encrypted; "NONE" makes later records plain
// again; records already stored stay as they are. The key service is
// Options.Keys (package kms); without one, KMS is refused. For each batch
// of an encrypted stream the writer asks the key service whether the key
// exists and is enabled (failing the batch's records with
// CodeKMSNotFound, CodeKMSDisabled, ... if not), then adds the records with
// segment.Batch.AddSealed: the log seals them in place with AES-256-GCM
// under the data key of the segment they land in, a fresh 256-bit key per
// segment from GenerateDataKey whose wrapped form heads the segment (see
// package segment, "Key headers", and record, "Sealed frames"). The
// associated data binds the stream incarnation, the shard and the
// sequence number.
//
// Reads of plaintext records are zero-copy views of the segment, as
// before. A read whose view holds sealed frames unwraps the segment's data
// key (Decrypt, cached by wrapped form; the master key must still be
// enabled on every read), opens every sealed frame into the ReadResult's
// buffer (reused while the result is pooled by a door) and re-frames it
// with a fresh CRC and FlagEncrypted, copying plain frames between; Frames
// and Iter hand out these, so the doors send or walk them unchanged and
// report EncryptionType per record (Record.Encrypted). A frame that fails
// to open ends the read before it, or fails a read that starts at it with
// a corruption error naming the record. Rewrap rewrites the stored data
// keys under the newest version of their master key after a rotation,
// touching no record.
//
// # Retention
//
// Every Options.RetentionInterval (and at once for a stream whose retention
// DecreaseRetention lowered), a pass computes each stream's cutoff, now minus
// its retention period, and for every shard:
//
//   - removes, through segment.Log.Expire, each whole segment whose newest
//     record arrived before the cutoff. Arrival times never go backwards in a
//     shard, so these are its oldest segments; an expired active segment with
//     records is sealed and an empty one started at the next sequence number.
//     A removed segment is renamed *.deleted, the directory synced, and the
//     file unmapped and unlinked when its last reader lets go. Records are
//     never trimmed one at a time: a segment lives until its newest record
//     expires.
//   - drops a closed shard that holds no record any more and closed before the
//     cutoff: it leaves the catalog (persisted first) and its directory is
//     removed, as Kinesis stops listing expired shards.
package engine
