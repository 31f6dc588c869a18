package engine

// SetEncryption records a stream's server-side encryption setting ("KMS"
// with a key id, or "NONE").
func (e *Engine) SetEncryption(name, typ, keyID string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		switch typ {
		case "KMS":
			if keyID == "" || len(keyID) > 2048 {
				return errorf(CodeInvalidArgument, "KeyId must be 1 to 2048 characters")
			}
			m.EncryptionType, m.KeyID = "KMS", keyID
		case "NONE":
			m.EncryptionType, m.KeyID = "NONE", ""
		default:
			return errorf(CodeInvalidArgument, "encryption type %q is not KMS or NONE", clip(typ))
		}
		return nil
	})
}
