package kms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeKeyring: any bytes decode to a consistent keyring or to one of
// the open errors, never a panic; a decoded keyring re-encodes and decodes
// to the same keys.
func FuzzDecodeKeyring(f *testing.F) {
	d := &keyringData{Aliases: map[string]string{"alias/a": "1b4e28ba-2fa1-41d2-883f-0016d3cca427"},
		Keys: []*keyData{{ID: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", Created: time.Unix(1, 0).UTC(), Enabled: true,
			Versions: []versionData{{Version: 1, Material: bytes.Repeat([]byte{7}, 32)}}}}}
	plain, _ := encodeKeyring(d, "", 0, rand.Reader)
	sealed, _ := encodeKeyring(d, "pw", 2, rand.Reader)
	empty, _ := encodeKeyring(&keyringData{}, "", 0, rand.Reader)
	f.Add(plain, "")
	f.Add(sealed, "pw")
	f.Add(sealed, "")
	f.Add(empty, "")
	f.Add([]byte("SLKR"), "")
	f.Fuzz(func(t *testing.T, b []byte, pass string) {
		if len(pass) > 64 {
			return
		}
		got, _, err := decodeKeyring(b, "keyring", pass)
		if err != nil {
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrPassphraseRequired) {
				t.Fatalf("error %v is none of the keyring errors", err)
			}
			return
		}
		if err := got.check(); err != nil {
			t.Fatalf("decoded an inconsistent keyring: %v", err)
		}
		again, err := encodeKeyring(got, "", 0, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := decodeKeyring(again, "keyring", "")
		if err != nil || len(back.Keys) != len(got.Keys) || len(back.Aliases) != len(got.Aliases) {
			t.Fatalf("re-encoded keyring does not decode alike: %v", err)
		}
	})
}
