package kms

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
)

// openTest opens (creating) a keyring in a fresh directory with a cheap KDF.
func openTest(t *testing.T, dir, pass string) *Local {
	t.Helper()
	l, err := Open(dir, Options{Create: true, Passphrase: pass, KDFIterations: 10})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func wantCode(t *testing.T, err error, c api.Code) {
	t.Helper()
	if err == nil || api.CodeOf(err) != c {
		t.Fatalf("error %v; want code %v", err, c)
	}
}

func TestLocal_KeyNamedFourWays(t *testing.T) {
	l := openTest(t, t.TempDir(), "")
	m, err := l.CreateKey("orders")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ARN, "arn:aws:kms:us-east-1:000000000000:key/") || m.KeyID[14] != '4' || !m.Enabled || m.Version != 1 {
		t.Fatalf("metadata %+v: want an enabled v4-UUID key with an ARN", m)
	}
	if err := l.CreateAlias("alias/orders", m.KeyID); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{m.KeyID, m.ARN, "alias/orders", "arn:aws:kms:us-east-1:000000000000:alias/orders"} {
		got, err := l.DescribeKey(name)
		if err != nil || got.KeyID != m.KeyID {
			t.Errorf("DescribeKey(%s) = %+v, %v; want key %s", name, got, err, m.KeyID)
		}
	}
	for _, name := range []string{"alias/none", "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "arn:aws:kms:eu-west-1:000000000000:key/" + m.KeyID, "garbage"} {
		_, err := l.DescribeKey(name)
		wantCode(t, err, api.CodeKMSNotFound)
	}
	if err := l.CreateAlias("alias/orders", m.KeyID); err != nil {
		t.Fatalf("repeating an alias: %v", err)
	}
	other, _ := l.CreateKey("")
	wantCode(t, l.CreateAlias("alias/orders", other.KeyID), api.CodeResourceInUse)
	wantCode(t, l.CreateAlias("orders", other.KeyID), api.CodeInvalidArgument)
}

func TestLocal_DefaultAliasCreatedOnFirstUse(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, "")
	if keys, _ := l.ListKeys(); len(keys) != 0 {
		t.Fatalf("a new keyring holds %d keys", len(keys))
	}
	dk, err := l.GenerateDataKey(DefaultAlias)
	if err != nil {
		t.Fatal(err)
	}
	al, _ := l.ListAliases()
	if len(al) != 1 || al[0].Name != DefaultAlias || al[0].KeyID != dk.KeyID {
		t.Fatalf("aliases %+v; want %s naming key %s", al, DefaultAlias, dk.KeyID)
	}
	// It survives a reopen, and is not made twice.
	l2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l2.DescribeKey("arn:aws:kms:us-east-1:000000000000:alias/aws/kinesis")
	if err != nil || m.KeyID != dk.KeyID {
		t.Fatalf("after reopen: %+v, %v; want key %s", m, err, dk.KeyID)
	}
	if keys, _ := l2.ListKeys(); len(keys) != 1 {
		t.Fatalf("%d keys after reopen; want 1", len(keys))
	}
}

func TestLocal_RotateKeepsOldDataKeysAndReEncryptMovesThem(t *testing.T) {
	l := openTest(t, t.TempDir(), "")
	m, _ := l.CreateKey("")
	old, err := l.GenerateDataKey(m.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if m2, err := l.RotateKey(m.ARN); err != nil || m2.Version != 2 {
		t.Fatalf("RotateKey = %+v, %v; want version 2", m2, err)
	}
	fresh, _ := l.GenerateDataKey(m.KeyID)
	if v := fresh.Blob[17]; v != 2 {
		t.Fatalf("a data key made after rotation is wrapped under version %d; want 2", v)
	}
	for _, dk := range []DataKey{old, fresh} {
		p, arn, err := l.Decrypt(dk.Blob)
		if err != nil || !bytes.Equal(p, dk.Plaintext) || arn != m.ARN {
			t.Fatalf("Decrypt: %v, arn %s", err, arn)
		}
	}
	nb, changed, err := l.ReEncrypt(old.Blob)
	if err != nil || !changed || nb[17] != 2 {
		t.Fatalf("ReEncrypt = changed %v, version %d, %v; want version 2", changed, nb[17], err)
	}
	if p, _, err := l.Decrypt(nb); err != nil || !bytes.Equal(p, old.Plaintext) {
		t.Fatalf("rewrapped key does not unwrap to the same data key: %v", err)
	}
	if _, changed, _ := l.ReEncrypt(nb); changed {
		t.Fatal("ReEncrypt of a blob under the newest version changed it")
	}
}

func TestLocal_DisabledAndMissingKeys(t *testing.T) {
	l := openTest(t, t.TempDir(), "")
	m, _ := l.CreateKey("")
	dk, _ := l.GenerateDataKey(m.KeyID)
	if err := l.DisableKey(m.KeyID); err != nil {
		t.Fatal(err)
	}
	_, err := l.GenerateDataKey(m.KeyID)
	wantCode(t, err, api.CodeKMSDisabled)
	_, _, err = l.Decrypt(dk.Blob)
	wantCode(t, err, api.CodeKMSDisabled)
	if err := l.EnableKey(m.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Decrypt(dk.Blob); err != nil {
		t.Fatalf("after enable: %v", err)
	}
	// A blob of a key this keyring does not hold.
	other := openTest(t, t.TempDir(), "")
	om, _ := other.CreateKey("")
	odk, _ := other.GenerateDataKey(om.KeyID)
	_, _, err = l.Decrypt(odk.Blob)
	wantCode(t, err, api.CodeKMSNotFound)
	// A tampered blob.
	bad := bytes.Clone(dk.Blob)
	bad[40] ^= 1
	_, _, err = l.Decrypt(bad)
	wantCode(t, err, api.CodeKMSInvalidState)
	_, _, err = l.Decrypt(dk.Blob[:10])
	wantCode(t, err, api.CodeKMSInvalidState)
}

func TestOpen_RefusesMissingSealedAndDamagedKeyrings(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none"), Options{}); !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), "--kms-keys") {
		t.Fatalf("missing keyring: %v; want ErrNoKeyring saying what to do", err)
	}
	sealed := filepath.Join(dir, "sealed")
	l := openTest(t, sealed, "correct horse")
	m, _ := l.CreateKey("secret")
	if _, err := Open(sealed, Options{}); !errors.Is(err, ErrPassphraseRequired) || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Fatalf("sealed keyring without passphrase: %v", err)
	}
	if _, err := Open(sealed, Options{Passphrase: "wrong"}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	l2, err := Open(sealed, Options{Passphrase: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l2.DescribeKey(m.KeyID); err != nil || got.Description != "secret" {
		t.Fatalf("reopened sealed keyring: %+v, %v", got, err)
	}
	b, _ := os.ReadFile(filepath.Join(sealed, KeyringFile))
	if bytes.Contains(b, []byte("secret")) || bytes.Contains(b, []byte(m.KeyID)) {
		t.Fatal("a sealed keyring shows its contents in the clear")
	}
	b[len(b)/2] ^= 0x40
	os.WriteFile(filepath.Join(sealed, KeyringFile), b, 0o600)
	if _, err := Open(sealed, Options{Passphrase: "correct horse"}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged keyring: %v; want ErrDamaged", err)
	}
}

func TestOpen_SealsAnUnsealedKeyringWithAPassphrase(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, "")
	m, _ := l.CreateKey("")
	if _, err := Open(dir, Options{Passphrase: "p", KDFIterations: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("after opening with a passphrase the keyring opens without one: %v", err)
	}
	l3, err := Open(dir, Options{Passphrase: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l3.DescribeKey(m.KeyID); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_FileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kms")
	openTest(t, dir, "")
	di, _ := os.Stat(dir)
	fi, _ := os.Stat(filepath.Join(dir, KeyringFile))
	if di.Mode().Perm() != 0o700 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("modes: dir %v, file %v; want 0700 and 0600", di.Mode().Perm(), fi.Mode().Perm())
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Fatalf("keyring directory holds %d entries; want only the keyring", len(names))
	}
}

func TestDescribeKey_NoAllocationByIDOrARN(t *testing.T) {
	l := openTest(t, t.TempDir(), "")
	m, _ := l.CreateKey("")
	for _, id := range []string{m.KeyID, m.ARN} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := l.DescribeKey(id); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Fatalf("DescribeKey(%s) allocates %.0f times", id, n)
		}
	}
}
