package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sluicedb/sluice/internal/checksum"
)

// The keyring file format (drawn in doc.go). Part of the on-disk format.
const (
	keyringMagic    = "SLKR"
	keyringVersion  = 1
	flagSealed      = 1 << 0
	saltSize        = 16
	keyringHeader   = 4 + 2 + 2 + 4 + saltSize + 4
	keyringTrailer  = 4
	keyringMaxBytes = 64 << 20 // a keyring past 64 MiB is not one sluice wrote

	// DefaultKDFIterations is PBKDF2-HMAC-SHA256's work factor for a
	// sealed keyring: 600,000, OWASP's figure for it (about 0.3 s at open).
	DefaultKDFIterations = 600_000
	minKDFIterations     = 1
	maxKDFIterations     = 100_000_000
)

// keyringData is the JSON payload of the keyring.
type keyringData struct {
	Keys    []*keyData        `json:"keys"`
	Aliases map[string]string `json:"aliases"` // alias/NAME -> key UUID
}

type keyData struct {
	ID          string        `json:"id"`
	Description string        `json:"description,omitempty"`
	Created     time.Time     `json:"created"`
	Enabled     bool          `json:"enabled"`
	Versions    []versionData `json:"versions"`
}

type versionData struct {
	Version  uint32    `json:"version"`
	Created  time.Time `json:"created"`
	Material []byte    `json:"material"` // 32 bytes (base64 in JSON)
}

// encodeKeyring lays out the keyring file of d, sealed under passphrase if
// it is not empty (with salt and nonce from rnd).
func encodeKeyring(d *keyringData, passphrase string, iterations int, rnd io.Reader) ([]byte, error) {
	payload, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, keyringHeader)
	copy(hdr, keyringMagic)
	binary.LittleEndian.PutUint16(hdr[4:], keyringVersion)
	if passphrase != "" {
		binary.LittleEndian.PutUint16(hdr[6:], flagSealed)
		binary.LittleEndian.PutUint32(hdr[8:], uint32(iterations))
		if _, err := io.ReadFull(rnd, hdr[12:12+saltSize]); err != nil {
			return nil, err
		}
		aead, err := passphraseAEAD(passphrase, hdr[12:12+saltSize], iterations)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(payload)+aead.Overhead())
		if _, err := io.ReadFull(rnd, nonce); err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint32(hdr[28:], uint32(len(nonce)+len(payload)+aead.Overhead()))
		payload = aead.Seal(nonce, nonce, payload, hdr)
	} else {
		binary.LittleEndian.PutUint32(hdr[28:], uint32(len(payload)))
	}
	out := append(hdr, payload...)
	return binary.LittleEndian.AppendUint32(out, checksum.Mask(checksum.Value(out))), nil
}

// decodeKeyring reads a keyring file. path only words errors.
func decodeKeyring(b []byte, path, passphrase string) (*keyringData, bool, error) {
	damaged := func(why string, args ...any) error {
		return fmt.Errorf("%w: %s %s; restore it from a backup", ErrDamaged, path, fmt.Sprintf(why, args...))
	}
	if len(b) < keyringHeader+keyringTrailer {
		return nil, false, damaged("is %d bytes, shorter than a keyring's %d byte header", len(b), keyringHeader+keyringTrailer)
	}
	if string(b[:4]) != keyringMagic {
		return nil, false, damaged("does not start with %q: it is not a keyring", keyringMagic)
	}
	n := len(b) - keyringTrailer
	if checksum.Mask(checksum.Value(b[:n])) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, false, damaged("fails its checksum")
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != keyringVersion {
		return nil, false, damaged("has format version %d; this server reads version %d", v, keyringVersion)
	}
	flags := binary.LittleEndian.Uint16(b[6:])
	if flags&^flagSealed != 0 {
		return nil, false, damaged("has unknown flags %#x", flags)
	}
	plen := int(binary.LittleEndian.Uint32(b[28:]))
	if plen != n-keyringHeader {
		return nil, false, damaged("says its payload is %d bytes but holds %d", plen, n-keyringHeader)
	}
	hdr, payload := b[:keyringHeader], b[keyringHeader:n]
	sealed := flags&flagSealed != 0
	if sealed {
		if passphrase == "" {
			return nil, true, fmt.Errorf("%w: %s; set %s to its passphrase", ErrPassphraseRequired, path, PassphraseEnv)
		}
		iter := int(binary.LittleEndian.Uint32(hdr[8:]))
		if iter < minKDFIterations || iter > maxKDFIterations {
			return nil, true, damaged("has %d key derivation iterations, outside [%d, %d]", iter, minKDFIterations, maxKDFIterations)
		}
		aead, err := passphraseAEAD(passphrase, hdr[12:12+saltSize], iter)
		if err != nil {
			return nil, true, err
		}
		if len(payload) < aead.NonceSize()+aead.Overhead() {
			return nil, true, damaged("has a %d byte sealed payload, too short to be sealed", len(payload))
		}
		plain, err := aead.Open(nil, payload[:aead.NonceSize()], payload[aead.NonceSize():], hdr)
		if err != nil {
			return nil, true, fmt.Errorf("%w: %s is sealed with another passphrase than the one in %s", ErrWrongPassphrase, path, PassphraseEnv)
		}
		payload = plain
	}
	var d keyringData
	if err := json.Unmarshal(payload, &d); err != nil {
		return nil, sealed, damaged("does not decode: %v", err)
	}
	if err := d.check(); err != nil {
		return nil, sealed, damaged("is inconsistent: %v", err)
	}
	return &d, sealed, nil
}

// check verifies what decoding cannot: ids, materials, versions, aliases.
func (d *keyringData) check() error {
	ids := map[string]bool{}
	for _, k := range d.Keys {
		if k == nil {
			return fmt.Errorf("a null key")
		}
		if _, err := parseUUID(k.ID); err != nil {
			return fmt.Errorf("key id %q: %v", k.ID, err)
		}
		if ids[k.ID] {
			return fmt.Errorf("key %s appears twice", k.ID)
		}
		ids[k.ID] = true
		if len(k.Versions) == 0 {
			return fmt.Errorf("key %s has no version", k.ID)
		}
		for i, v := range k.Versions {
			if v.Version != uint32(i+1) {
				return fmt.Errorf("key %s: version %d at place %d", k.ID, v.Version, i+1)
			}
			if len(v.Material) != 32 {
				return fmt.Errorf("key %s version %d: %d bytes of material, want 32", k.ID, v.Version, len(v.Material))
			}
		}
	}
	for a, id := range d.Aliases {
		if err := checkAliasName(a); err != nil {
			return err
		}
		if !ids[id] {
			return fmt.Errorf("alias %s names key %s, which is not in the keyring", a, id)
		}
	}
	return nil
}

// passphraseAEAD derives the keyring's sealing key from a passphrase.
func passphraseAEAD(passphrase string, salt []byte, iterations int) (cipher.AEAD, error) {
	key, err := pbkdf2.Key(sha256.New, passphrase, salt, iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("kms: derive the keyring key: %w", err)
	}
	return newGCM(key)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
