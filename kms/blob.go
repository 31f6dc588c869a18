package kms

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// The wrapped data key format (drawn in doc.go). Part of the on-disk format:
// blobs are stored in segment files.
const (
	blobVersion  = 1
	blobADLen    = 1 + 16 + 4
	blobNonceLen = 12
	// DataKeySize is the bytes of a data key: AES-256.
	DataKeySize = 32
	// BlobSize is the bytes of a wrapped data key.
	BlobSize = blobADLen + blobNonceLen + DataKeySize + 16
)

// blobHeader is the part of a blob that names its key: the GCM associated
// data.
type blobHeader struct {
	id      [16]byte
	version uint32
}

func parseBlob(b []byte) (blobHeader, error) {
	var h blobHeader
	if len(b) != BlobSize {
		return h, invalidBlob(fmt.Sprintf("%d bytes; a wrapped data key is %d", len(b), BlobSize))
	}
	if b[0] != blobVersion {
		return h, invalidBlob(fmt.Sprintf("format version %d; this server reads version %d", b[0], blobVersion))
	}
	copy(h.id[:], b[1:17])
	h.version = binary.LittleEndian.Uint32(b[17:])
	return h, nil
}

// uuid formats 16 bytes as a UUID string.
func formatUUID(u [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// parseUUID parses the 36-character form of a UUID (any version). It does
// not allocate unless it fails.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, errNotUUID
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return u, errNotUUID
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, nil
}

var errNotUUID = errors.New("not a UUID (8-4-4-4-12 hexadecimal digits)")

func fromHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// BlobKeyID returns the KeyId (UUID) of the master key that wrapped blob,
// a data key GenerateDataKey returned, without unwrapping it.
func BlobKeyID(blob []byte) (string, error) {
	h, err := parseBlob(blob)
	if err != nil {
		return "", err
	}
	return formatUUID(h.id), nil
}
