// Package kms is sluice's key service: master keys that wrap and unwrap the
// data keys that encrypt records at rest, shaped like AWS KMS so that an
// external service (AWS KMS, Vault transit) can stand behind the same
// KeyService interface later.
//
// A master key has a KeyId (a UUID v4), an ARN
// (arn:aws:kms:REGION:ACCOUNT:key/UUID), a state (enabled or disabled),
// aliases (alias/NAME, or as an ARN arn:aws:kms:REGION:ACCOUNT:alias/NAME)
// and one or more versions of 256-bit key material. GenerateDataKey makes a
// fresh 256-bit data key and returns it in plaintext and wrapped
// (AES-256-GCM) under the newest version of the master key; Decrypt unwraps
// a wrapped data key under whichever version wrapped it, so rotation (a new
// version) leaves every older data key readable. Every operation that names
// a key accepts the KeyId, the key ARN, an alias name or an alias ARN. The
// alias alias/aws/kinesis, Kinesis' default key, is created with a key of
// its own on first use.
//
// Errors are *api.Error values with the codes Kinesis reports for its key
// service (api.CodeKMSNotFound, api.CodeKMSDisabled, ...): each front door
// words them in its own language.
//
// # Wrapped data keys
//
// A wrapped data key (a "blob", KMS' CiphertextBlob) is 81 bytes; integers
// little-endian. The GCM associated data is the first 21 bytes, so a blob
// cannot be moved to another key or version:
//
//	 0         1            17            21        33                    81
//	+---------+------------+-------------+---------+---------------------+
//	| version | key id     | key version | nonce   | sealed data key     |
//	| u8 = 1  | UUID bytes | u32         | 12 B    | 32 B + 16 B GCM tag |
//	+---------+------------+-------------+---------+---------------------+
//
// # The keyring
//
// Local keeps its keys in one file, DIR/keyring (DIR created 0700, the file
// 0600), rewritten whole on every change through DIR/keyring.tmp (write,
// fdatasync, rename, fsync of DIR): a crash leaves the old or the new
// keyring, never a mix. Its layout, integers little-endian; the CRC (the
// masked CRC-32C of package internal/checksum) covers every byte before it:
//
//	 0       4         6       8            12     28            32
//	+-------+---------+-------+------------+------+-------------+---------+-----+
//	| "SLKR"| version | flags | iterations | salt | payload len | payload | CRC |
//	|       | u16 = 1 | u16   | u32        | 16 B | u32         |         | u32 |
//	+-------+---------+-------+------------+------+-------------+---------+-----+
//
// The payload is JSON (the keys with their versions' material, and the
// aliases). With flags bit 0 (sealed) the keyring is sealed with a
// passphrase: the payload is a 12-byte nonce followed by the JSON sealed
// with AES-256-GCM under PBKDF2-HMAC-SHA256(passphrase, salt, iterations),
// with the 32 header bytes as associated data. The CRC tells a damaged file
// (bad CRC) from a wrong passphrase (good CRC, GCM refuses).
//
// Keeping the keyring on the same disk as the data protects segment files
// copied away on their own, not a stolen disk; put it elsewhere (another
// device, a secrets mount) or seal it with a passphrase for that.
package kms
