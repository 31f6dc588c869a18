package kms

import (
	"errors"

	"github.com/sluicedb/sluice/api"
)

// Errors of opening a keyring (Open). They say what to do in their text.
var (
	// ErrNoKeyring: the keyring file does not exist and Options.Create is
	// false.
	ErrNoKeyring = errors.New("kms: no keyring")
	// ErrWrongPassphrase: the keyring is sealed and the passphrase given
	// does not open it.
	ErrWrongPassphrase = errors.New("kms: wrong passphrase")
	// ErrPassphraseRequired: the keyring is sealed and no passphrase was
	// given.
	ErrPassphraseRequired = errors.New("kms: keyring is sealed with a passphrase")
	// ErrDamaged: the keyring file fails its checksum or does not decode.
	ErrDamaged = errors.New("kms: keyring damaged")
)

func notFound(keyID string) error {
	return api.Errorf(api.CodeKMSNotFound, "key %s not found in the key service", api.Clip(keyID))
}

func disabled(arn string) error {
	return api.Errorf(api.CodeKMSDisabled, "key %s is disabled; enable it (sluice kms enable) to use it", arn)
}

func invalidBlob(why string) error {
	return api.Errorf(api.CodeKMSInvalidState, "wrapped data key is not valid: %s", why)
}
