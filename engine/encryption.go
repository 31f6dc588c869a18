package engine

import (
	"github.com/sluicedb/sluice/api"
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
	return e.updateStream(name, func(m *streamMeta) error {
		switch typ {
		case "KMS":
			m.EncryptionType, m.KeyID = "KMS", keyID
		case "NONE":
			m.EncryptionType, m.KeyID = "NONE", ""
		default:
			return errorf(api.CodeInvalidArgument, "encryption type %q is not KMS or NONE", clip(typ))
		}
		return nil
	})
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

// Keys is the engine's key service, nil if it runs without one. The front
// doors use it for the key operations (sluice kms, the binary protocol).
func (e *Engine) Keys() kms.KeyService { return e.opts.Keys }
