package kms

import "time"

// KeyService is what the engine needs of a key service. Implementations are
// safe for concurrent use. Every keyID argument may be a KeyId, a key ARN,
// an alias name (alias/NAME) or an alias ARN. Errors are *api.Error values
// with a KMS code (api.CodeKMSNotFound, api.CodeKMSDisabled, ...) or
// api.CodeInvalidArgument for malformed input.
type KeyService interface {
	// CreateKey makes a new enabled master key with one version.
	CreateKey(description string) (KeyMetadata, error)
	// DescribeKey returns a key's metadata; alias/aws/kinesis is created on
	// first use.
	DescribeKey(keyID string) (KeyMetadata, error)
	// ListKeys returns every key, oldest first.
	ListKeys() ([]KeyMetadata, error)
	// CreateAlias points alias (alias/NAME) at a key; an alias already
	// pointing elsewhere is an error (api.CodeResourceInUse).
	CreateAlias(alias, keyID string) error
	// ListAliases returns every alias, sorted by name.
	ListAliases() ([]Alias, error)
	// EnableKey and DisableKey set a key's state. A disabled key neither
	// makes nor unwraps data keys (api.CodeKMSDisabled).
	EnableKey(keyID string) error
	DisableKey(keyID string) error
	// RotateKey adds a version of the key's material: new data keys are
	// wrapped under it, and older versions stay to unwrap older data keys.
	RotateKey(keyID string) (KeyMetadata, error)

	// GenerateDataKey makes a fresh 256-bit data key wrapped under the
	// newest version of an enabled key.
	GenerateDataKey(keyID string) (DataKey, error)
	// Decrypt unwraps a data key made by GenerateDataKey (or ReEncrypt) and
	// returns its plaintext and the ARN of the key that wrapped it.
	Decrypt(blob []byte) (plaintext []byte, keyARN string, err error)
	// ReEncrypt rewraps a data key under the newest version of its key. It
	// returns the blob unchanged and false if it already is.
	ReEncrypt(blob []byte) (newBlob []byte, changed bool, err error)
}

// KeyMetadata describes a master key.
type KeyMetadata struct {
	KeyID       string // UUID
	ARN         string // arn:aws:kms:REGION:ACCOUNT:key/UUID
	Description string
	Created     time.Time
	Enabled     bool
	// Version is the newest version of the key material (1 for a key never
	// rotated): the one new data keys are wrapped under.
	Version int
	// Rotated is when the newest version was made (Created if never).
	Rotated time.Time
}

// State is KMS' word for the key's state: "Enabled" or "Disabled".
func (m KeyMetadata) State() string {
	if m.Enabled {
		return "Enabled"
	}
	return "Disabled"
}

// Alias names a key.
type Alias struct {
	Name  string // alias/NAME
	ARN   string // arn:aws:kms:REGION:ACCOUNT:alias/NAME
	KeyID string // the UUID of the key it names
}

// DataKey is a fresh data key: its plaintext (to encrypt with, then forget)
// and its wrapped form (to store beside what it encrypts).
type DataKey struct {
	Plaintext []byte // 32 bytes
	Blob      []byte // BlobSize bytes, see the package documentation
	KeyID     string // the UUID of the master key
	KeyARN    string
}

// DefaultAlias is the key Kinesis uses when a stream names none; it is
// created on first use.
const DefaultAlias = "alias/aws/kinesis"

// PassphraseEnv is the environment variable the server reads the keyring's
// passphrase from.
const PassphraseEnv = "SLUICE_KMS_PASSPHRASE"
