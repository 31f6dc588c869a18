// Package record is the frame format of sluice's records: how one record
// (sequence number, arrival time, flags, partition key, data) is laid out in a
// segment file and, byte for byte the same, in the read results and events
// of the binary protocol. The server's segments and the Go client both import
// it, and nothing else: a client verifies every record's CRC end to end
// without linking any storage code.
//
// # Frames
//
// Every record is one frame. All integers are little-endian; a frame starts
// 8-byte aligned and is padded with zeros to the next multiple of 8:
//
//	 0       4       8               16              24      26      28
//	+-------+-------+---------------+---------------+-------+-------+-----+------+---------+
//	| CRC   | len   | seq           | arrival time  | flags | klen  | key | data | padding |
//	| u32   | u32   | u64           | i64 (Unix ns) | u16   | u16   |     |      | 0..7 B  |
//	+-------+-------+---------------+---------------+-------+-------+-----+------+---------+
//	        |<------------------------- len ------------------------------------>|
//	        |<-------------------- covered by the CRC ---------------------------------->|
//
// The fields:
//
//   - CRC is the masked CRC-32C (internal/checksum) of everything after
//     itself: the length field, the header, key, data and the padding.
//   - len counts the bytes after the length field up to the end of data
//     (20 + klen + data length); it excludes the padding, which must be
//     zeros. A zero length word means end of data, so zero-filled
//     preallocated space reads as the end of the log.
//   - flags bit 0 is FlagEncrypted, bit 1 FlagCompressed (reserved); any
//     other bit set makes the frame corrupt.
//   - klen is at most MaxKeyLen and the data at most MaxDataLen; a decoder
//     rejects larger values before looking at the bytes they describe.
//
// # Sealed frames
//
// A frame with FlagEncrypted is sealed when it is stored (in a segment
// file): its key and data are encrypted with AES-256-GCM under the data key
// of the segment that holds it, and the 16-byte GCM tag follows the data,
// so klen is the key's length and the data field is ciphertext + tag:
//
//	+--------+-------+-----+-----+-------+-------+-------------+--------------+-----+---------+
//	| CRC    | len   | seq | time| flags | klen  | sealed key  | sealed data  | tag | padding |
//	|        |       |     |     | = 1   |       | (klen B)    |              | 16 B|         |
//	+--------+-------+-----+-----+-------+-------+-------------+--------------+-----+---------+
//
// The nonce is the sequence number (8 bytes little-endian) followed by 4
// zero bytes: a data key belongs to one segment of one shard, and every
// writer that starts on a segment whose tail may have been cut by recovery
// starts a new segment with a new data key, so a (data key, sequence number)
// pair never seals two different frames. The associated data is the stream
// incarnation (u32), the shard index (u32) and the stored header from seq
// to klen (seq, time, flags, klen): a frame copied to another stream, shard
// or position, or with an altered header, fails to open. The CRC covers
// the stored (sealed) bytes, so recovery verifies sealed frames without the
// key.
//
// In the read results of the engine and the binary protocol an encrypted
// record travels in the clear, as a frame of the plain layout with a fresh
// CRC: FlagEncrypted then tells the reader that the record is stored
// encrypted (Kinesis' EncryptionType KMS) and its key and data are not
// sealed.
//
// The constants of the format (HeaderSize, Alignment, the field offsets,
// the flags, MaxKeyLen, MaxDataLen, SealOverhead, the nonce and associated
// data of sealed frames) are part of the on-disk format: a change
// to any of them is a format version bump.
package record
