package engine

import (
	"errors"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/kms"
)

// streamEnc is a stream's encryption setting as the put path sees it.
type streamEnc struct {
	keyID string // as given to SetEncryption: a KeyId, key ARN, alias or alias ARN
}

// encryption is the stream's key while its records are written encrypted,
// nil while they are written in the clear.
func (st *stream) encryption() *streamEnc { return st.enc.Load() }

// SetEncryption sets a stream's server-side encryption: "KMS" with a key
// (its KeyId, key ARN, alias name or alias ARN) makes every record put
// afterwards encrypted at rest under a data key of that key; "NONE" makes
// later records plaintext. Records already stored stay as they are. KMS
// needs the engine's key service (Options.Keys): without one it fails with
// CodeInvalidArgument, and a key the service does not hold or has disabled
// fails with CodeKMSNotFound or CodeKMSDisabled.
//
// On a replica of a cluster the setting is a catalog change: every node
// records it, and each node seals the records it writes under the key as
// its own key service resolves it (each node has its own keyring;
// alias/aws/kinesis, created on first use, names a key of each node's
// own). The key is checked here, on the proposer. A node whose key service
// lacks it, or has it disabled, records the setting all the same, so that
// it never holds a stream's records in the clear while the cluster
// reports them encrypted: it logs an error at once, and its replicas of
// the stream's shards refuse the records they cannot seal and fence
// themselves (Faults), until the key is there and the node restarted.
func (e *Engine) SetEncryption(name, typ, keyID string) error {
	if typ == "KMS" {
		if keyID == "" || len(keyID) > 2048 {
			return errorf(api.CodeInvalidArgument, "KeyId must be 1 to 2048 characters")
		}
		if e.opts.Keys == nil {
			return errorf(api.CodeInvalidArgument,
				"encryption at rest is unavailable: the server runs without a key service (give it a keyring with --kms-keys)")
		}
		if _, err := e.usableKey(keyID); err != nil {
			return err
		}
	}
	if !e.replicated() {
		return e.setEncryption(name, typ, keyID)
	}
	if typ != "KMS" && typ != "NONE" {
		if _, err := e.lookup(name); err != nil {
			return err
		}
		return errorf(api.CodeInvalidArgument, "encryption type %q is not KMS or NONE", clip(typ))
	}
	_, err := e.change(opSetEncryption, encryptionArgs{Name: name, Type: typ, KeyID: keyID})
	return err
}

func (e *Engine) setEncryption(name, typ, keyID string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		switch typ {
		case "KMS":
			m.EncryptionType, m.KeyID, m.Encrypted = "KMS", keyID, true
		case "NONE":
			m.EncryptionType, m.KeyID = "NONE", ""
		default:
			return errorf(api.CodeInvalidArgument, "encryption type %q is not KMS or NONE", clip(typ))
		}
		return nil
	})
}

// applyEncryption applies a replicated SetEncryption. The setting is
// recorded whether or not this node can use the key (see SetEncryption);
// if it cannot, the change fails here with the key's error, logged.
func (e *Engine) applyEncryption(c *Change) (any, error) {
	var a encryptionArgs
	if err := decodeArgs(c, &a); err != nil {
		return nil, err
	}
	if err := e.setEncryption(a.Name, a.Type, a.KeyID); err != nil {
		return nil, err
	}
	if a.Type != "KMS" {
		return nil, nil
	}
	var err error = errNoKeyService
	if e.opts.Keys != nil {
		_, err = e.usableKey(a.KeyID)
	}
	if err != nil {
		e.opts.Logger.Error("a stream is now encrypted under a key this node cannot use: its replicas here refuse the stream's new records until the key is in this node's keyring and enabled, and the node restarted",
			"stream", a.Name, "key", a.KeyID, "err", err)
		return nil, err
	}
	return nil, nil
}

// usableKey describes the key keyID names and fails unless it is enabled.
func (e *Engine) usableKey(keyID string) (kms.KeyMetadata, error) {
	m, err := e.opts.Keys.DescribeKey(keyID)
	if err != nil {
		return m, err
	}
	if !m.Enabled {
		return m, errorf(api.CodeKMSDisabled, "key %s is disabled; enable it to use it", m.ARN)
	}
	return m, nil
}

// NeedsKeys reports whether the data directory dir holds a stream that is
// or was encrypted, reading its catalog without opening the engine (false
// for a new directory). A server opens its keyring with kms.Options.Create
// only when it does not: a directory whose data needs keys must not start
// with a fresh, empty keyring.
func NeedsKeys(fsys vfs.FS, dir string) (bool, error) {
	if fsys == nil {
		fsys = vfs.OS
	}
	c, err := loadCatalog(fsys, dir)
	if errors.Is(err, errNoCatalog) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, m := range c.Streams {
		if m.Encrypted || m.EncryptionType == "KMS" {
			return true, nil
		}
	}
	return false, nil
}

// StreamKeyARN returns the ARN of the master key a stream's new records are
// encrypted under, "" if they are written in the clear: the resource of the
// kms:GenerateDataKey (put) and kms:Decrypt (read) actions a door with
// authorization checks, as Kinesis does. The key is resolved now (an alias
// may have been pointed elsewhere), so a missing key is CodeKMSNotFound.
func (e *Engine) StreamKeyARN(name string) (string, error) {
	st, err := e.lookup(name)
	if err != nil {
		return "", err
	}
	enc := st.encryption()
	if enc == nil {
		return "", nil
	}
	if e.opts.Keys == nil {
		return "", errNoKeyService
	}
	m, err := e.opts.Keys.DescribeKey(enc.keyID)
	if err != nil {
		return "", err
	}
	return m.ARN, nil
}

// Keys is the engine's key service, nil if it runs without one. The front
// doors use it for the key operations (sluice kms, the binary protocol).
func (e *Engine) Keys() kms.KeyService { return e.opts.Keys }
