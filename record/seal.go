package record

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/internal/checksum"
)

// Sealed frames (drawn in doc.go). These constants are part of the on-disk
// format.
const (
	// SealOverhead is what sealing adds to a frame's data: the 16-byte GCM
	// tag.
	SealOverhead = 16
	// nonceSize is GCM's standard nonce: the sequence number, then zeros.
	nonceSize = 12
	// adSize is the associated data: incarnation, shard, then the frame's
	// sequence number, arrival time, flags and key length as stored.
	adSize = 4 + 4 + (HeaderSize - SeqOffset)
)

var errAuth = errors.New("sealed frame fails authentication: altered, or moved from another stream, shard or position")

// SealedFrameSize is the bytes the sealed frame of a record with a key of
// keyLen bytes and data of dataLen bytes takes in a segment.
func SealedFrameSize(keyLen, dataLen int) int { return FrameSize(keyLen, dataLen+SealOverhead) }

// PutUnsealed lays out in dst (at least SealedFrameSize bytes) the frame of
// a record that is to be sealed: flags FlagEncrypted, the key and data in
// the clear followed by SealOverhead zero bytes, and no CRC yet. Seal
// encrypts it in place and sets the CRC. It returns the bytes written and
// panics on a key or data over the limits, as PutFrame does.
func PutUnsealed(dst []byte, seq uint64, t int64, key, data []byte) int {
	if len(key) > MaxKeyLen || len(data)+SealOverhead > MaxDataLen {
		panic(fmt.Sprintf("record: PutUnsealed of a %d B key and %d B data; the limits are %d B and %d B",
			len(key), len(data), MaxKeyLen, MaxDataLen-SealOverhead))
	}
	n := HeaderSize + len(key) + len(data) + SealOverhead
	size := (n + Alignment - 1) &^ (Alignment - 1)
	f := dst[:size:size]
	binary.LittleEndian.PutUint32(f, 0)
	binary.LittleEndian.PutUint32(f[LengthOffset:], uint32(n-SeqOffset))
	binary.LittleEndian.PutUint64(f[SeqOffset:], seq)
	binary.LittleEndian.PutUint64(f[TimeOffset:], uint64(t))
	binary.LittleEndian.PutUint16(f[FlagsOffset:], FlagEncrypted)
	binary.LittleEndian.PutUint16(f[KeyLenOffset:], uint16(len(key)))
	copy(f[HeaderSize:], key)
	copy(f[HeaderSize+len(key):], data)
	clear(f[n-SealOverhead:])
	return size
}

// FrameCipher seals and opens the frames of one shard of one stream
// incarnation under one data key. Its scratch space makes Seal and Open
// allocation-free, so a FrameCipher is used by one goroutine at a time;
// copy it (a small value) to use the same key from another.
type FrameCipher struct {
	// AEAD is AES-256-GCM under the data key.
	AEAD cipher.AEAD
	// Incarnation and Shard are bound into every frame's associated data.
	Incarnation, Shard uint32

	nonce [nonceSize]byte
	ad    [adSize]byte
}

// setup fills the nonce and associated data of the frame header h.
func (c *FrameCipher) setup(h []byte) {
	copy(c.nonce[:8], h[SeqOffset:SeqOffset+8])
	binary.LittleEndian.PutUint32(c.ad[0:], c.Incarnation)
	binary.LittleEndian.PutUint32(c.ad[4:], c.Shard)
	copy(c.ad[8:], h[SeqOffset:HeaderSize])
}

// Seal encrypts in place the key and data of f, a frame laid out by
// PutUnsealed, and sets its CRC over the stored bytes. It does not allocate.
func (c *FrameCipher) Seal(f []byte) {
	n := SeqOffset + int(binary.LittleEndian.Uint32(f[LengthOffset:]))
	c.setup(f)
	c.AEAD.Seal(f[HeaderSize:HeaderSize], c.nonce[:], f[HeaderSize:n-SealOverhead], c.ad[:])
	binary.LittleEndian.PutUint32(f, checksum.Mask(checksum.Value(f[LengthOffset:len(f)])))
}

// Open decrypts the sealed frame at the start of src into dst as a frame
// in the clear (flags still FlagEncrypted, telling a reader the record is
// stored encrypted) with a fresh CRC. dst must hold at least the stored
// frame's size, which the frame in the clear never exceeds. It returns the
// bytes written to dst and the bytes of src the stored frame takes. A frame
// out of bounds, not sealed, or failing authentication (altered, or moved
// from another stream, shard or sequence number) yields a *CorruptionError
// and nothing usable in dst. Open checks no CRC: authentication covers
// every stored byte but the CRC itself. It does not allocate unless it
// fails.
func (c *FrameCipher) Open(dst, src []byte) (written, stored int, err error) {
	stored = FrameLen(src)
	if stored == 0 || stored > len(src) {
		return 0, 0, &CorruptionError{Err: fmt.Errorf("%w: sealed frame length out of bounds", errTruncated)}
	}
	f := src[:stored]
	n := SeqOffset + int(binary.LittleEndian.Uint32(f[LengthOffset:]))
	keyLen := int(binary.LittleEndian.Uint16(f[KeyLenOffset:]))
	flags := binary.LittleEndian.Uint16(f[FlagsOffset:])
	sealedLen := n - HeaderSize - keyLen // data and tag
	switch {
	case flags&FlagEncrypted == 0 || flags&^KnownFlags != 0:
		return 0, stored, &CorruptionError{Err: fmt.Errorf("frame flags %#x: not a sealed frame", flags)}
	case keyLen > MaxKeyLen || sealedLen < SealOverhead:
		return 0, stored, &CorruptionError{Err: fmt.Errorf("sealed frame with a %d B key and %d B of data and tag out of bounds", keyLen, sealedLen)}
	case len(dst) < stored:
		return 0, stored, fmt.Errorf("record: Open into %d B; the frame needs %d", len(dst), stored)
	}
	c.setup(f)
	plainEnd := n - SealOverhead
	out := dst[:stored:stored]
	if _, err := c.AEAD.Open(out[HeaderSize:HeaderSize], c.nonce[:], f[HeaderSize:n], c.ad[:]); err != nil {
		return 0, stored, &CorruptionError{Err: errAuth}
	}
	copy(out[LengthOffset:HeaderSize], f[LengthOffset:HeaderSize])
	binary.LittleEndian.PutUint32(out[LengthOffset:], uint32(plainEnd-SeqOffset))
	size := (plainEnd + Alignment - 1) &^ (Alignment - 1)
	clear(out[plainEnd:size])
	binary.LittleEndian.PutUint32(out, checksum.Mask(checksum.Value(out[LengthOffset:size])))
	return size, stored, nil
}
