// Package segment is the append-only log of one shard: CRC-framed records in
// segment files, written with pwritev and fdatasync, read zero-copy through a
// read-only mmap, indexed sparsely by package index, expired whole segments at
// a time, and recovered after a crash. It knows nothing of streams.
//
// # Frames
//
// Every record is one frame of package record (drawn in record/doc.go):
// CRC-32C, length, sequence number, arrival time, flags, key and data, padded
// to 8 bytes; a zero length word ends the data.
//
// # Segment files
//
// A shard's directory holds segment files named by the sequence number of
// their first frame (%020d.seg). A segment file has no header unless it
// holds sealed frames (below): frames are packed back to back from offset 0
// (KeyHeaderSize with a key header), the first one carrying the sequence
// number in the file name and each next one the previous plus one; the first
// zero length word (or the end of the file) ends the data. Files grow by
// fallocate (mode 0) in doubling steps from Options.InitialAllocation up to
// Options.MaxAllocationStep, so an idle segment costs little disk. A segment
// is sealed when the next frame would take it past Options.SegmentSize.
//
// # Key headers (segment format 2)
//
// A segment that holds sealed frames (record/doc.go: encrypted with
// AES-256-GCM under a data key) starts with a key header carrying that data
// key wrapped by the key service (see Sealer). It lives in the segment's own
// bytes, so that a segment copied or replicated as stored carries what it
// takes to open it. Each segment has its own data key: one that is to hold
// sealed frames gets a fresh one when it is started (or, if it is the empty
// active segment, when its first sealed frame comes), and a writer that
// finds the active segment without a key it made itself, or with one of a
// master key no longer the stream's, rolls to a new segment rather than go
// on under a key whose sequence numbers a crash may have cut and reissued;
// only a clean Open resumes the active segment's key. Segments of format 1
// (no key header, as every segment written before encryption existed) are
// read unchanged; a format 1 reader stops at a key header, whose length word
// is out of bounds. Little-endian; each slot's CRC covers its 244 bytes
// before it:
//
//	 0       4           8         10         16          264         512
//	+-------+-----------+---------+----------+-----------+-----------+
//	| "SLKH"| 0xFFFFFFFF| version | reserved | slot 0    | slot 1    |
//	|       | (no frame)| u16 = 1 | 6 B      | 248 B     | 248 B     |
//	+-------+-----------+---------+----------+-----------+-----------+
//
//	slot: | generation u32 | blob length u16 | reserved u16 | blob, zero-padded (236 B) | CRC u32 masked |
//
// The current slot is the intact one (CRC, non-zero generation and length)
// with the higher generation. Rewrap (after a rotation of the master key)
// writes the other slot with the next generation and fdatasyncs: a crash
// leaves the old blob or the new one, which unwrap to the same data key,
// and no record byte is touched. A header with no intact slot is torn (it
// is written in the same synced write as the frames after it, so none of
// those was acknowledged) in the active segment, which recovery empties; in
// a sealed segment it is damage from outside, and Open refuses
// (ErrKeyHeaderDamaged).
//
// Beside each sealed segment lies its sparse index X.idx (format in package
// index) whose trailer records the segment's end position, frame count and
// last arrival time: opening a sealed segment trusts the trailer and does not
// scan. The active (last) segment has an .idx only after a clean Close.
//
// # Recovery
//
// A clean Close also writes the marker file "CLEAN" (format below) naming the
// active segment and its checkpoint. Open with a valid marker that agrees with
// the active segment's .idx does not scan. Otherwise it scans the active
// segment frame by frame (with pread, verifying bounds, CRC, sequence number
// = previous + 1 from the file's base, and arrival times that never go
// backwards); the first frame that fails ends the log. Whatever follows it is
// cut: the file is truncated there (so that it reads as zeros when it grows
// again) and fsynced, the index is rebuilt, and any later segment is removed.
// A sealed segment whose .idx is missing or damaged is scanned the same way
// and its .idx rewritten; a bad frame in it ends the log there too. But a
// sealed segment whose intact .idx it contradicts (the file is shorter than
// the index records, or a frame there fails) cannot have been torn by a
// crash, since a segment's .idx is written only after its frames are
// synced: it was damaged outside the server, and Open refuses with
// ErrSealedDamaged rather than cut the log and remove every later segment.
// A gap in
// the sequence numbers between segment files also ends the log. Open removes
// the marker (and syncs the directory) before it returns, so a later crash
// forces a scan, and reports what it cut in a Recovery.
//
//	CLEAN marker, 40 bytes, little-endian; the CRC covers the 36 bytes before it:
//	 0        4         6          8             16           24                 32          36
//	+--------+---------+----------+-------------+------------+------------------+-----------+-----------+
//	| "SLCM" | version | reserved | active base | end        | last time        | count     | CRC       |
//	|        | u16 = 1 | u16 = 0  | u64         | u64 bytes  | i64 Unix ns      | u32       | u32 masked|
//	+--------+---------+----------+-------------+------------+------------------+-----------+-----------+
//
// # Flushing together
//
// Options.Flusher (package vfs) lets the Logs of a process flush together:
// Sync hands the active segment's file to the shared Flusher and waits for
// its own file's result, while the Flusher's one submitter puts the
// fdatasyncs of every Log syncing at the moment into one io_uring
// submission, which the kernel runs in parallel. What is durable, and when
// a Sync returns, is unchanged: only who makes the system call.
//
// # Resources
//
// An open Log holds no file descriptor and no mapping until it is used.
// Open reads the .idx files and scans with pread; it maps nothing. A write
// opens the active segment's file, and Park (after an fdatasync) closes it
// again. A read maps the segment it reads (a sealed one at its file's size,
// the active one at Options.SegmentSize) and closes the descriptor at once:
// the mapping outlives it. A Cache shared by the Logs of a process bounds
// the mappings (DefaultOpenSegments): past its bound it unmaps segments that
// no reader holds a lease on, by the CLOCK algorithm. A leased segment is
// never unmapped. Files are created 0600 and directories 0700.
//
// # Faults
//
// A failure before any byte of a batch reached a file (creating or opening a
// segment, writing an index, fallocate, a write refused whole for lack of
// space) fails that batch with a TransientError and the log goes on. A failed
// write after bytes went out, a failed fdatasync, or a segment file found
// shorter than its frames (truncated outside the server) fences the log (Err)
// until it is reopened. Reads touch the mapping with the runtime's
// panic-on-fault set, so a page that vanished with a truncated file makes that
// read fail with a CorruptionError (ErrMappingFault) instead of killing the
// process with SIGBUS.
//
// # Removal
//
// Retention renames a segment X.seg.deleted (and its index X.idx.deleted),
// syncs the directory, and unmaps and unlinks it when the last reader lease
// on it is released; Destroy unlinks every file the same way. Open removes
// leftover *.deleted and *.tmp files.
package segment
