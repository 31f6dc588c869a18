package kms

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
)

// KeyringFile is the name of the keyring file in the keyring directory.
const KeyringFile = "keyring"

// Options configure Local. Zero fields take their defaults.
type Options struct {
	// FS is the file system; default vfs.OS.
	FS vfs.FS
	// Passphrase seals the keyring (see the package documentation); ""
	// keeps it unsealed. An unsealed keyring opened with a passphrase is
	// sealed with it at once. The server reads it from PassphraseEnv.
	Passphrase string
	// Region and Account make up the keys' ARNs; default "us-east-1" and
	// "000000000000", the Kinesis door's defaults.
	Region, Account string
	// Create makes an empty keyring if the directory holds none. Without it,
	// a missing keyring is an error (ErrNoKeyring): a server whose data was
	// encrypted must not start with a fresh keyring that cannot read it.
	Create bool
	// KDFIterations is the PBKDF2 work factor used when the keyring is
	// (re)sealed; default DefaultKDFIterations. Fewer make opening faster
	// and a guessed passphrase cheaper to try.
	KDFIterations int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the source of key material, salts and nonces; default
	// crypto/rand.Reader.
	Rand io.Reader
}

// Local is the key service of one keyring directory. It is safe for
// concurrent use.
type Local struct {
	dir, path string
	opts      Options
	arnPrefix string // arn:aws:kms:REGION:ACCOUNT:

	mu      sync.RWMutex // guards the fields below and writing the keyring file
	data    *keyringData
	keys    map[[16]byte]*localKey
	order   []*localKey // creation order
	aliases map[string][16]byte
}

// localKey is a master key with its versions' ciphers.
type localKey struct {
	d     *keyData
	id    [16]byte
	arn   string
	aeads []cipher.AEAD // aeads[v-1] seals under version v
}

var _ KeyService = (*Local)(nil)

// Open opens (with Options.Create, creates) the keyring in dir. It refuses
// a missing keyring (ErrNoKeyring), a sealed one without the right
// passphrase (ErrPassphraseRequired, ErrWrongPassphrase) and a damaged one
// (ErrDamaged), each with a message saying what to do.
func Open(dir string, o Options) (*Local, error) {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "000000000000"
	}
	if o.KDFIterations <= 0 {
		o.KDFIterations = DefaultKDFIterations
	}
	if o.KDFIterations > maxKDFIterations {
		return nil, fmt.Errorf("kms: %d key derivation iterations; at most %d", o.KDFIterations, maxKDFIterations)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	dir = filepath.Clean(dir)
	l := &Local{dir: dir, path: filepath.Join(dir, KeyringFile), opts: o, arnPrefix: "arn:aws:kms:" + o.Region + ":" + o.Account + ":"}
	b, err := readKeyring(o.FS, l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.Create:
		if err := vfs.MkdirAllSync(o.FS, dir); err != nil {
			return nil, fmt.Errorf("kms: create keyring directory %s: %w", dir, err)
		}
		l.install(&keyringData{Aliases: map[string]string{}})
		if err := l.persist(l.data); err != nil {
			return nil, err
		}
		return l, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w at %s: the keys that encrypt this server's streams live there; restore the keyring or point --kms-keys at it", ErrNoKeyring, l.path)
	case err != nil:
		return nil, fmt.Errorf("kms: read keyring %s: %w", l.path, err)
	}
	d, sealed, err := decodeKeyring(b, l.path, o.Passphrase)
	if err != nil {
		return nil, err
	}
	if d.Aliases == nil {
		d.Aliases = map[string]string{}
	}
	l.install(d)
	if !sealed && o.Passphrase != "" {
		if err := l.persist(d); err != nil {
			return nil, fmt.Errorf("kms: seal keyring %s with the passphrase: %w", l.path, err)
		}
	}
	return l, nil
}

// Dir is the keyring directory.
func (l *Local) Dir() string { return l.dir }

// install makes d the keyring in memory. Callers hold mu (or own l).
func (l *Local) install(d *keyringData) {
	l.data = d
	l.keys = map[[16]byte]*localKey{}
	l.order = l.order[:0]
	for _, kd := range d.Keys {
		l.addKey(kd)
	}
	l.aliases = map[string][16]byte{}
	for a, id := range d.Aliases {
		u, _ := parseUUID(id)
		l.aliases[a] = u
	}
}

func (l *Local) addKey(kd *keyData) *localKey {
	u, _ := parseUUID(kd.ID)
	k := &localKey{d: kd, id: u, arn: l.keyARN(kd.ID)}
	for _, v := range kd.Versions {
		a, err := newGCM(v.Material)
		if err != nil {
			panic(err) // 32-byte material, checked when decoded or made
		}
		k.aeads = append(k.aeads, a)
	}
	l.keys[u] = k
	l.order = append(l.order, k)
	return k
}

func (l *Local) keyARN(id string) string { return l.arnPrefix + "key/" + id }

func (l *Local) aliasARN(name string) string { return l.arnPrefix + name }

// persist writes d as the keyring file: temp file, fdatasync, rename,
// fsync of the directory. Callers hold mu (or own l).
func (l *Local) persist(d *keyringData) error {
	b, err := encodeKeyring(d, l.opts.Passphrase, l.opts.KDFIterations, l.opts.Rand)
	if err != nil {
		return fmt.Errorf("kms: encode keyring: %w", err)
	}
	fsys := l.opts.FS
	tmp := l.path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, vfs.FileMode)
	if err != nil {
		return fmt.Errorf("kms: write keyring: %w", err)
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, l.path)
	}
	if err == nil {
		err = fsys.SyncDir(l.dir)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("kms: write keyring %s: %w", l.path, err)
	}
	return nil
}

// readKeyring reads the keyring file; one larger than any keyring is
// damaged.
func readKeyring(fsys vfs.FS, path string) ([]byte, error) {
	b, err := vfs.ReadFile(fsys, path, keyringMaxBytes)
	if errors.Is(err, vfs.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return b, err
}

// resolve finds the key keyID names. Callers hold mu (read or write).
func (l *Local) resolve(keyID string) (*localKey, error) {
	s := keyID
	if strings.HasPrefix(s, "arn:") {
		rest, ok := strings.CutPrefix(s, l.arnPrefix)
		if !ok {
			return nil, notFound(keyID)
		}
		s = rest
		if id, ok := strings.CutPrefix(s, "key/"); ok {
			s = id
		} else if !strings.HasPrefix(s, "alias/") {
			return nil, notFound(keyID)
		}
	}
	if strings.HasPrefix(s, "alias/") {
		u, ok := l.aliases[s]
		if !ok {
			return nil, notFound(keyID)
		}
		return l.keys[u], nil
	}
	u, err := parseUUID(s)
	if err != nil {
		if keyID == "" {
			return nil, api.Errorf(api.CodeInvalidArgument, "the key id is empty; name a key by its id, ARN, alias or alias ARN")
		}
		return nil, notFound(keyID)
	}
	k, ok := l.keys[u]
	if !ok {
		return nil, notFound(keyID)
	}
	return k, nil
}

// lookup resolves keyID, creating the default alias and its key on first
// use. It takes mu itself and returns with mu held for reading; the caller
// calls l.mu.RUnlock.
func (l *Local) lookup(keyID string) (*localKey, error) {
	l.mu.RLock()
	k, err := l.resolve(keyID)
	if err == nil || !l.isDefaultAlias(keyID) {
		return k, err
	}
	l.mu.RUnlock()
	l.mu.Lock()
	k, err = l.resolve(keyID)
	if err != nil {
		var kd *keyData
		if kd, err = l.newKeyData("Default key that protects my Kinesis data when no other key is defined"); err == nil {
			next := l.data.clone()
			next.Keys = append(next.Keys, kd)
			next.Aliases[DefaultAlias] = kd.ID
			if err = l.persist(next); err == nil {
				l.install(next)
				k, err = l.resolve(keyID)
			}
		}
	}
	l.mu.Unlock()
	l.mu.RLock()
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (l *Local) isDefaultAlias(keyID string) bool {
	a, ok := strings.CutPrefix(keyID, l.arnPrefix)
	return keyID == DefaultAlias || ok && a == DefaultAlias
}

func (d *keyringData) clone() *keyringData {
	n := &keyringData{Keys: slices.Clone(d.Keys), Aliases: make(map[string]string, len(d.Aliases))}
	for a, id := range d.Aliases {
		n.Aliases[a] = id
	}
	return n
}

// newKeyData makes a key with one version of fresh material.
func (l *Local) newKeyData(desc string) (*keyData, error) {
	var u [16]byte
	if _, err := io.ReadFull(l.opts.Rand, u[:]); err != nil {
		return nil, fmt.Errorf("kms: make a key id: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	now := l.opts.Now().UTC()
	v, err := l.newVersion(1, now)
	if err != nil {
		return nil, err
	}
	return &keyData{ID: formatUUID(u), Description: desc, Created: now, Enabled: true, Versions: []versionData{v}}, nil
}

func (l *Local) newVersion(n uint32, now time.Time) (versionData, error) {
	m := make([]byte, 32)
	if _, err := io.ReadFull(l.opts.Rand, m); err != nil {
		return versionData{}, fmt.Errorf("kms: make key material: %w", err)
	}
	return versionData{Version: n, Created: now, Material: m}, nil
}

func (k *localKey) meta() KeyMetadata {
	last := k.d.Versions[len(k.d.Versions)-1]
	return KeyMetadata{KeyID: k.d.ID, ARN: k.arn, Description: k.d.Description, Created: k.d.Created,
		Enabled: k.d.Enabled, Version: int(last.Version), Rotated: last.Created}
}

// CreateKey makes a new enabled key.
func (l *Local) CreateKey(description string) (KeyMetadata, error) {
	if len(description) > 8192 {
		return KeyMetadata{}, api.Errorf(api.CodeInvalidArgument, "the description is %d bytes; the limit is 8192", len(description))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	kd, err := l.newKeyData(description)
	if err != nil {
		return KeyMetadata{}, err
	}
	next := l.data.clone()
	next.Keys = append(next.Keys, kd)
	if err := l.persist(next); err != nil {
		return KeyMetadata{}, err
	}
	l.install(next)
	return l.keys[mustUUID(kd.ID)].meta(), nil
}

func mustUUID(s string) [16]byte {
	u, err := parseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// DescribeKey returns the metadata of the key keyID names.
func (l *Local) DescribeKey(keyID string) (KeyMetadata, error) {
	k, err := l.lookup(keyID)
	defer l.mu.RUnlock()
	if err != nil {
		return KeyMetadata{}, err
	}
	return k.meta(), nil
}

// ListKeys returns every key, oldest first.
func (l *Local) ListKeys() ([]KeyMetadata, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]KeyMetadata, 0, len(l.order))
	for _, k := range l.order {
		out = append(out, k.meta())
	}
	return out, nil
}

// CheckAlias checks that alias is a name CreateAlias can give: alias/NAME
// with NAME of 1..250 characters from [a-zA-Z0-9/_-], outside the reserved
// alias/aws/ names.
func CheckAlias(alias string) error {
	if err := checkAliasName(alias); err != nil {
		return err
	}
	if strings.HasPrefix(alias, "alias/aws/") {
		return api.Errorf(api.CodeInvalidArgument, "aliases beginning with alias/aws/ are reserved")
	}
	return nil
}

// checkAliasName accepts alias/NAME with NAME of 1..250 characters from
// [a-zA-Z0-9/_-], as KMS does.
func checkAliasName(a string) error {
	name, ok := strings.CutPrefix(a, "alias/")
	if !ok || len(name) == 0 || len(name) > 250 {
		return api.Errorf(api.CodeInvalidArgument, "alias %q must be alias/ followed by 1 to 250 characters", api.Clip(a))
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-') {
			return api.Errorf(api.CodeInvalidArgument, "alias %q may hold only letters, digits, '/', '_' and '-' after alias/", api.Clip(a))
		}
	}
	return nil
}

// CreateAlias points alias at the key keyID names. An alias already naming
// another key is refused (api.CodeResourceInUse); naming the same key again
// does nothing. The default alias cannot be pointed elsewhere.
func (l *Local) CreateAlias(alias, keyID string) error {
	if err := checkAliasName(alias); err != nil {
		return err
	}
	if strings.HasPrefix(keyID, "alias/") || strings.Contains(keyID, ":alias/") {
		return api.Errorf(api.CodeInvalidArgument, "an alias names a key by its id or ARN, not by another alias (%s)", api.Clip(keyID))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k, err := l.resolve(keyID)
	if err != nil {
		return err
	}
	if cur, ok := l.aliases[alias]; ok {
		if cur == k.id {
			return nil
		}
		return api.Errorf(api.CodeResourceInUse, "alias %s already names key %s", alias, formatUUID(cur))
	}
	if err := CheckAlias(alias); err != nil { // alias/aws/ names are reserved
		return err
	}
	next := l.data.clone()
	next.Aliases[alias] = k.d.ID
	if err := l.persist(next); err != nil {
		return err
	}
	l.install(next)
	return nil
}

// ListAliases returns every alias sorted by name.
func (l *Local) ListAliases() ([]Alias, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Alias, 0, len(l.aliases))
	for a, u := range l.aliases {
		out = append(out, Alias{Name: a, ARN: l.aliasARN(a), KeyID: formatUUID(u)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// EnableKey enables a key.
func (l *Local) EnableKey(keyID string) error { return l.setEnabled(keyID, true) }

// DisableKey disables a key: it neither makes nor unwraps data keys until
// enabled again.
func (l *Local) DisableKey(keyID string) error { return l.setEnabled(keyID, false) }

func (l *Local) setEnabled(keyID string, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, err := l.resolve(keyID)
	if err != nil {
		return err
	}
	if k.d.Enabled == on {
		return nil
	}
	next := l.data.clone()
	i := slices.Index(next.Keys, k.d)
	kd := *k.d
	kd.Enabled = on
	next.Keys[i] = &kd
	if err := l.persist(next); err != nil {
		return err
	}
	l.install(next)
	return nil
}

// RotateKey adds a version of the key's material.
func (l *Local) RotateKey(keyID string) (KeyMetadata, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, err := l.resolve(keyID)
	if err != nil {
		return KeyMetadata{}, err
	}
	if !k.d.Enabled {
		return KeyMetadata{}, api.Errorf(api.CodeKMSInvalidState, "key %s is disabled; enable it before rotating it", k.arn)
	}
	v, err := l.newVersion(uint32(len(k.d.Versions)+1), l.opts.Now().UTC())
	if err != nil {
		return KeyMetadata{}, err
	}
	next := l.data.clone()
	i := slices.Index(next.Keys, k.d)
	kd := *k.d
	kd.Versions = append(slices.Clip(kd.Versions), v)
	next.Keys[i] = &kd
	if err := l.persist(next); err != nil {
		return KeyMetadata{}, err
	}
	l.install(next)
	return l.keys[k.id].meta(), nil
}

// GenerateDataKey makes a fresh data key wrapped under the newest version
// of the key keyID names.
func (l *Local) GenerateDataKey(keyID string) (DataKey, error) {
	k, err := l.lookup(keyID)
	defer l.mu.RUnlock()
	if err != nil {
		return DataKey{}, err
	}
	if !k.d.Enabled {
		return DataKey{}, disabled(k.arn)
	}
	plain := make([]byte, DataKeySize)
	if _, err := io.ReadFull(l.opts.Rand, plain); err != nil {
		return DataKey{}, fmt.Errorf("kms: make a data key: %w", err)
	}
	blob, err := l.wrap(k, uint32(len(k.aeads)), plain)
	if err != nil {
		return DataKey{}, err
	}
	return DataKey{Plaintext: plain, Blob: blob, KeyID: k.d.ID, KeyARN: k.arn}, nil
}

// wrap seals a data key under version v of k. Callers hold mu.
func (l *Local) wrap(k *localKey, v uint32, plain []byte) ([]byte, error) {
	b := make([]byte, blobADLen+blobNonceLen, BlobSize)
	b[0] = blobVersion
	copy(b[1:17], k.id[:])
	binary.LittleEndian.PutUint32(b[17:], v)
	if _, err := io.ReadFull(l.opts.Rand, b[blobADLen:]); err != nil {
		return nil, fmt.Errorf("kms: make a nonce: %w", err)
	}
	return k.aeads[v-1].Seal(b, b[blobADLen:], plain, b[:blobADLen]), nil
}

// unwrap opens a blob. Callers hold mu.
func (l *Local) unwrap(blob []byte) (*localKey, blobHeader, []byte, error) {
	h, err := parseBlob(blob)
	if err != nil {
		return nil, h, nil, err
	}
	k, ok := l.keys[h.id]
	if !ok {
		return nil, h, nil, notFound(formatUUID(h.id))
	}
	if !k.d.Enabled {
		return nil, h, nil, disabled(k.arn)
	}
	if h.version == 0 || int(h.version) > len(k.aeads) {
		return nil, h, nil, invalidBlob(fmt.Sprintf("key %s has no version %d", k.arn, h.version))
	}
	plain, err := k.aeads[h.version-1].Open(nil, blob[blobADLen:blobADLen+blobNonceLen], blob[blobADLen+blobNonceLen:], blob[:blobADLen])
	if err != nil {
		return nil, h, nil, invalidBlob("it fails authentication under key " + k.arn)
	}
	return k, h, plain, nil
}

// Decrypt unwraps a data key.
func (l *Local) Decrypt(blob []byte) ([]byte, string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	k, _, plain, err := l.unwrap(blob)
	if err != nil {
		return nil, "", err
	}
	return plain, k.arn, nil
}

// ReEncrypt rewraps a data key under the newest version of its key.
func (l *Local) ReEncrypt(blob []byte) ([]byte, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	k, h, plain, err := l.unwrap(blob)
	if err != nil {
		return nil, false, err
	}
	newest := uint32(len(k.aeads))
	if h.version == newest {
		return blob, false, nil
	}
	nb, err := l.wrap(k, newest, plain)
	clear(plain)
	return nb, err == nil, err
}
