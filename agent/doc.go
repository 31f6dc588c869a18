// Package agent is the engine of `sluice agent`: it tails log files the way
// the Kinesis Agent does and ships their lines into streams, through the
// binary protocol (WireDestination) or the Kinesis API (KinesisDestination),
// without losing a line across rotations, restarts and kill -9.
//
// # Pipeline
//
// Each flow of the configuration (one glob into one stream) has a tailer
// goroutine and a sender goroutine. The tailer polls the glob, follows each
// file by its device and inode through renames and deletion (reading a
// renamed or deleted file to its end from the handle it holds open) and by
// a fingerprint of its first bytes through copy-truncate rotation (finishing
// the file from its copy), splits lines or multi-line records, runs the
// processing options, picks a partition key and fills a batch. Full or aged
// batches go to the sender through a queue of two: when the destination is
// slow the queue fills and the tailer stops reading (at most four batches
// per flow are in memory). The sender puts one batch at a time, retrying
// refused records with backoff until they are stored; then it moves each
// file's acknowledged offset and wakes the checkpointer, which writes every
// file's acknowledged offset into the checkpoint file, crash-atomically.
//
// A file's generations (app.log, then app.log.1 after a rotation, or a new
// app.log) form a chain; only the oldest unfinished one of a chain is read,
// so a rotated file is finished before the file that replaced it is begun,
// and the lines of a log reach the stream in the order they were written.
//
// # Checkpoint file
//
// Little-endian; the CRC-32C (masked, internal/checksum) covers every byte
// before it. The file is replaced as a whole: written to a temporary file,
// fdatasync'd, renamed over the old one, and the directory synced.
//
//	| magic "sluiceAC" (8) | version u16 = 1 | entries u32 | entry ... | CRC u32 |
//
//	entry:
//	| flow len u16 | flow | chain len u16 | chain | path len u16 | path |
//	| device u64 | inode u64 | offset u64 | fingerprint len u16 | fingerprint CRC u32 | flags u8 |
//
// flow is the flow's filePattern and stream ("/var/log/*.log -> logs");
// chain is the path the file's log is written at; path is where the file
// was last seen; offset is the byte after the last line acknowledged; the
// fingerprint is the CRC-32C of the file's first fingerprint-len bytes (up
// to 1,024). Flags: 1 the file has rotated away from its chain's path and
// is finished before the next generation; 2 it was finished (kept only so
// that a glob matching it does not read it again). Strings are at most
// 4,096 bytes.
//
// On start each entry's file is looked for at its path, then by inode in
// its directory (renamed while the agent was down), then, if its first
// bytes changed (truncated and refilled), as a copy in its directory named
// after it with those first bytes. A file found resumes at its offset; one
// that is gone is logged with the offset its unsent lines began at.
package agent
