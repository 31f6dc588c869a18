package engine

import "github.com/sluicedb/sluice/api"

func (e *Engine) SetEncryption(name, typ, keyID string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		switch typ {
		case "KMS":
			if keyID == "" || len(keyID) > 2048 {
				return errorf(api.CodeInvalidArgument, "KeyId must be 1 to 2048 characters")
			}
			m.EncryptionType, m.KeyID = "KMS", keyID
		case "NONE":
			m.EncryptionType, m.KeyID = "NONE", ""
		default:
			return errorf(api.CodeInvalidArgument, "encryption type %q is not KMS or NONE", clip(typ))
		}
		return nil
	})
}
