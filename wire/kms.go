package wire

import "time"

// The messages of encryption at rest: a stream's encryption
// (OpStartStreamEncryption, OpStopStreamEncryption) and the server's key
// service (OpCreateKey ... OpRewrap). docs/protocol.md lists their bodies.

// ReqStartStreamEncryption: str stream | str key (a KeyId, key ARN, alias
// name or alias ARN). Records put afterwards are encrypted at rest under
// a data key of that master key.
type ReqStartStreamEncryption struct{ Stream, Key string }

func (m *ReqStartStreamEncryption) AppendTo(b []byte) []byte {
	return AppendStr(AppendStr(b, m.Stream), m.Key)
}

func (m *ReqStartStreamEncryption) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Key = d.str("key id")
}

// ReqKey names a master key by KeyId, key ARN, alias name or alias ARN:
// DescribeKey, RotateKey, DisableKey, EnableKey.
type ReqKey struct{ Key string }

func (m *ReqKey) AppendTo(b []byte) []byte { return AppendStr(b, m.Key) }
func (m *ReqKey) DecodeFrom(d *Decoder)    { m.Key = d.str("key id") }

// ReqCreateKey: str description | str alias (alias/NAME, or empty for
// none).
type ReqCreateKey struct{ Description, Alias string }

func (m *ReqCreateKey) AppendTo(b []byte) []byte {
	return AppendStr(AppendStr(b, m.Description), m.Alias)
}

func (m *ReqCreateKey) DecodeFrom(d *Decoder) {
	m.Description = d.str("description")
	m.Alias = d.str("alias")
}

// ReqCreateAlias: str alias (alias/NAME) | str key.
type ReqCreateAlias struct{ Alias, Key string }

func (m *ReqCreateAlias) AppendTo(b []byte) []byte {
	return AppendStr(AppendStr(b, m.Alias), m.Key)
}

func (m *ReqCreateAlias) DecodeFrom(d *Decoder) {
	m.Alias = d.str("alias")
	m.Key = d.str("key id")
}

// KeyInfo describes a master key of the server's key service.
type KeyInfo struct {
	KeyID       string // UUID
	ARN         string // arn:aws:kms:REGION:ACCOUNT:key/UUID
	Description string
	Created     time.Time
	Enabled     bool
	Version     uint32    // newest version of the key material, 1 for a key never rotated
	Rotated     time.Time // when the newest version was made
}

// State is KMS' word for the key's state: "Enabled" or "Disabled".
func (k *KeyInfo) State() string {
	if k.Enabled {
		return "Enabled"
	}
	return "Disabled"
}

// keyInfoSize is the smallest encoded KeyInfo: three empty strs, two
// times, a bool and a u32.
const keyInfoSize = 3*2 + 2*8 + 1 + 4

// appendKeyInfo: str key id | str ARN | str description | time created |
// bool enabled | u32 version | time rotated.
func appendKeyInfo(b []byte, k *KeyInfo) []byte {
	b = AppendStr(b, k.KeyID)
	b = AppendStr(b, k.ARN)
	b = AppendStr(b, k.Description)
	b = AppendTime(b, k.Created)
	b = appendBool(b, k.Enabled)
	b = AppendU32(b, k.Version)
	return AppendTime(b, k.Rotated)
}

func (d *Decoder) keyInfo(k *KeyInfo) {
	k.KeyID = d.str("key id")
	k.ARN = d.str("key ARN")
	k.Description = d.str("description")
	k.Created = d.time("creation time")
	k.Enabled = d.boolean("enabled")
	k.Version = d.U32("key version")
	k.Rotated = d.time("rotation time")
}

// RespKey is the response of CreateKey, DescribeKey and RotateKey.
type RespKey struct{ Key KeyInfo }

func (m *RespKey) AppendTo(b []byte) []byte { return appendKeyInfo(b, &m.Key) }
func (m *RespKey) DecodeFrom(d *Decoder)    { d.keyInfo(&m.Key) }

// RespKeys is the response of ListKeys: u32 count | key × count, oldest
// first.
type RespKeys struct{ Keys []KeyInfo }

func (m *RespKeys) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(m.Keys)))
	for i := range m.Keys {
		b = appendKeyInfo(b, &m.Keys[i])
	}
	return b
}

func (m *RespKeys) DecodeFrom(d *Decoder) {
	n := d.count("key count", true, keyInfoSize)
	m.Keys = nil
	if n > 0 {
		m.Keys = make([]KeyInfo, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		d.keyInfo(&m.Keys[i])
	}
}

// AliasInfo names a master key.
type AliasInfo struct {
	Name  string // alias/NAME
	ARN   string // arn:aws:kms:REGION:ACCOUNT:alias/NAME
	KeyID string // the UUID of the key it names
}

// RespAliases is the response of ListAliases: u32 count | (str name | str
// ARN | str key id) × count, sorted by name.
type RespAliases struct{ Aliases []AliasInfo }

func (m *RespAliases) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(m.Aliases)))
	for i := range m.Aliases {
		a := &m.Aliases[i]
		b = AppendStr(AppendStr(AppendStr(b, a.Name), a.ARN), a.KeyID)
	}
	return b
}

func (m *RespAliases) DecodeFrom(d *Decoder) {
	n := d.count("alias count", true, 3*2)
	m.Aliases = nil
	if n > 0 {
		m.Aliases = make([]AliasInfo, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		a := &m.Aliases[i]
		a.Name = d.str("alias")
		a.ARN = d.str("alias ARN")
		a.KeyID = d.str("key id")
	}
}

// RespRewrap is the response of Rewrap: u32 shards visited | u32 segments
// whose data key was rewrapped.
type RespRewrap struct{ Shards, Segments uint32 }

func (m *RespRewrap) AppendTo(b []byte) []byte {
	return AppendU32(AppendU32(b, m.Shards), m.Segments)
}

func (m *RespRewrap) DecodeFrom(d *Decoder) {
	m.Shards = d.U32("shard count")
	m.Segments = d.U32("segment count")
}
