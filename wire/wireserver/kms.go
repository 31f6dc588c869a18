package wireserver

import (
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/wire"
)

// Encryption at rest on the binary protocol: a stream's encryption and the
// operations of the server's key service. The key service (kms.Local)
// assumes it is the only writer of its keyring, so its keys are managed
// through the server that holds it, not by opening the keyring aside.

// The IAM actions of the key operations that AWS KMS has no action for.
const (
	actionRotateKey = "sluice:RotateKey"
	actionRewrap    = "sluice:RewrapDataKeys"
)

// The key actions an operation on an encrypted stream needs on the
// stream's master key, on top of its own action, as on Kinesis: a producer
// needs kms:GenerateDataKey, a consumer kms:Decrypt, and whoever starts
// encryption kms:DescribeKey on the key it names. The key alias/aws/kinesis
// names needs none (Kinesis lets every user of a stream use its default
// key).
const (
	actionGenerateDataKey = "kms:GenerateDataKey"
	actionDecrypt         = "kms:Decrypt"
	actionDescribeKey     = "kms:DescribeKey"
	actionCreateAlias     = "kms:CreateAlias"
)

// nameKMSAccessDenied is the refusal of a key permission, as Kinesis names it.
var nameKMSAccessDenied = api.CodeKMSAccessDenied.String()

// keyOp reports the operations of the key service, which act on a key (or
// on every key, or every stream for Rewrap) rather than on one stream.
func keyOp(op wire.Op) bool { return op >= wire.OpCreateKey && op <= wire.OpRewrap }

// admitKeyOp authorizes a key operation: on the key's ARN for the
// operations that name one (as given when the key service does not know
// it, so that only a user who may act on it learns it is missing), on "*"
// for CreateKey, ListKeys and ListAliases, and for Rewrap on the stream it
// names or "*" for every stream. CreateKey with an alias needs
// kms:CreateAlias too.
func (c *conn) admitKeyOp(h wire.Header, action string, body []byte) (string, bool) {
	resource := auth.AllResources
	var e *wire.Error
	var err error
	switch h.Op {
	case wire.OpDescribeKey, wire.OpRotateKey, wire.OpDisableKey, wire.OpEnableKey:
		var m wire.ReqKey
		if err = wire.DecodeMessage(body, &m); err == nil {
			resource = c.keyResource(m.Key)
		}
	case wire.OpCreateAlias:
		var m wire.ReqCreateAlias
		if err = wire.DecodeMessage(body, &m); err == nil {
			resource = c.keyResource(m.Key)
		}
	case wire.OpCreateKey:
		var m wire.ReqCreateKey
		if err = wire.DecodeMessage(body, &m); err == nil && m.Alias != "" {
			_, e = c.authorizeOn(actionCreateAlias, resource)
		}
	case wire.OpRewrap:
		var m wire.ReqStream
		if err = wire.DecodeMessage(body, &m); err == nil && m.Stream != "" {
			resource = c.stream([]byte(m.Stream)).arn
		}
	}
	if err != nil {
		c.malformed(h, err)
		return "", false
	}
	if e == nil {
		_, e = c.authorizeOn(action, resource)
	}
	if e != nil {
		c.audit(action, resource, auth.OutcomeDenied)
		c.respondError(h.Op, h.ID, e, h.Size, 1)
		return resource, false
	}
	return resource, true
}

// keyResource is the ARN of the key keyID names, or keyID itself as an ARN
// when the key service does not know it.
func (c *conn) keyResource(keyID string) string {
	if keys := c.srv.eng.Keys(); keys != nil {
		if m, err := keys.DescribeKey(keyID); err == nil {
			return m.ARN
		}
	}
	o := &c.srv.opts
	prefix := "arn:aws:kms:" + o.Region + ":" + o.Account + ":"
	switch {
	case len(keyID) > 4 && keyID[:4] == "arn:":
		return keyID
	case len(keyID) > 6 && keyID[:6] == "alias/":
		return prefix + keyID
	}
	return prefix + "key/" + keyID
}

// authorizeOn judges action on resource (a key's ARN, or "*") for the
// connection's user, with no resource policy (streams have them; keys do
// not here). The refusal is AccessDeniedException in AWS's words.
func (c *conn) authorizeOn(action, resource string) (string, *wire.Error) {
	if c.user == nil {
		return resource, nil
	}
	u := c.currentUser()
	if u == nil {
		return resource, wire.NewError(wire.NameUnrecognizedClient, fmt.Sprintf(
			"access key %s was removed from the server's users (or given another secret) after this connection authenticated; the connection closes", c.user.AccessKeyID))
	}
	if err := auth.Authorize(u, action, resource, nil); err != nil {
		return resource, wire.NewError(wire.NameAccessDenied, err.Error())
	}
	return resource, nil
}

// authorizeStreamKey judges the key permission a stream operation needs on
// top of its own action, once that is allowed: PutRecord and PutRecords
// kms:GenerateDataKey, Read and Subscribe kms:Decrypt on the stream's key
// while the stream is encrypted, StartStreamEncryption kms:DescribeKey on
// the key it names. A missing stream or key is left for the operation to
// report. A refusal is KMSAccessDeniedException. It allocates nothing when
// it allows a stream seen before.
func (c *conn) authorizeStreamKey(op wire.Op, body []byte) *wire.Error {
	var action, arn string
	switch op {
	case wire.OpPutRecord, wire.OpPutRecords, wire.OpPutShard, wire.OpRead, wire.OpSubscribe:
		action = actionGenerateDataKey
		if op == wire.OpRead || op == wire.OpSubscribe {
			action = actionDecrypt
		}
		e := c.authz.last // the stream authorize just judged
		if e == nil {
			return nil
		}
		var err error
		if arn, err = c.srv.eng.StreamKeyARN(e.name); err != nil || arn == "" {
			return nil
		}
	case wire.OpStartStreamEncryption:
		var m wire.ReqStartStreamEncryption
		keys := c.srv.eng.Keys()
		if wire.DecodeMessage(body, &m) != nil || keys == nil {
			return nil // the operation reports it
		}
		km, err := keys.DescribeKey(m.Key)
		if err != nil {
			return nil
		}
		action, arn = actionDescribeKey, km.ARN
	default:
		return nil
	}
	if c.srv.isDefaultKey(arn) {
		return nil
	}
	u := c.currentUser()
	if u == nil {
		return nil // authorize has refused it already
	}
	if err := auth.Authorize(u, action, arn, nil); err != nil {
		return wire.NewError(nameKMSAccessDenied, err.Error())
	}
	return nil
}

// isDefaultKey reports whether arn is the key alias/aws/kinesis names
// (created, as on Kinesis, on first use). An alias never changes keys, so
// its ARN is looked up once.
func (s *Server) isDefaultKey(arn string) bool {
	if p := s.defaultKey.Load(); p != nil {
		return *p == arn
	}
	keys := s.eng.Keys()
	if keys == nil {
		return false
	}
	m, err := keys.DescribeKey(kms.DefaultAlias)
	if err != nil {
		return false
	}
	s.defaultKey.Store(&m.ARN)
	return m.ARN == arn
}

// errNoKeyService answers key operations on a server without a key service.
var errNoKeyService = &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
	Message: "encryption at rest is unavailable: the server runs without a key service (give it a keyring with --kms-keys)"}

// keyControl runs one operation of the key service or of a stream's
// encryption.
func (c *conn) keyControl(op wire.Op, body []byte) (wire.Message, error) {
	eng := c.srv.eng
	switch op {
	case wire.OpStartStreamEncryption:
		return decodeAnd(body, func(m *wire.ReqStartStreamEncryption) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.SetEncryption(m.Stream, "KMS", m.Key)
		})
	case wire.OpStopStreamEncryption:
		return decodeAnd(body, func(m *wire.ReqStream) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.SetEncryption(m.Stream, "NONE", "")
		})
	case wire.OpRewrap:
		return decodeAnd(body, func(m *wire.ReqStream) (wire.Message, error) {
			rep, err := eng.Rewrap(m.Stream)
			return &wire.RespRewrap{Shards: uint32(rep.Shards), Segments: uint32(rep.Segments)}, err
		})
	}
	keys := eng.Keys()
	if keys == nil {
		return nil, errNoKeyService
	}
	switch op {
	case wire.OpCreateKey:
		return decodeAnd(body, func(m *wire.ReqCreateKey) (wire.Message, error) {
			if m.Alias != "" {
				// Refuse an alias that cannot be given before making a key
				// the caller did not get the name of.
				if err := kms.CheckAlias(m.Alias); err != nil {
					return nil, err
				}
				if cur, err := keys.DescribeKey(m.Alias); err == nil {
					return nil, api.Errorf(api.CodeResourceInUse, "alias %s already names key %s; no key was created", m.Alias, cur.KeyID)
				}
			}
			km, err := keys.CreateKey(m.Description)
			if err != nil {
				return nil, err
			}
			if m.Alias != "" {
				if err := keys.CreateAlias(m.Alias, km.KeyID); err != nil {
					e := wire.ErrorOf(err)
					return nil, &wire.Error{Code: e.Code, Name: e.Name, Message: fmt.Sprintf(
						"key %s was created, but not its alias: %s; name it with CreateAlias", km.ARN, e.Message)}
				}
			}
			return &wire.RespKey{Key: keyInfo(km)}, nil
		})
	case wire.OpListKeys:
		return decodeAnd(body, func(*wire.ReqEmpty) (wire.Message, error) {
			l, err := keys.ListKeys()
			if err != nil {
				return nil, err
			}
			out := &wire.RespKeys{Keys: make([]wire.KeyInfo, len(l))}
			for i := range l {
				out.Keys[i] = keyInfo(l[i])
			}
			return out, nil
		})
	case wire.OpDescribeKey, wire.OpRotateKey:
		return decodeAnd(body, func(m *wire.ReqKey) (wire.Message, error) {
			var km kms.KeyMetadata
			var err error
			if op == wire.OpRotateKey {
				km, err = keys.RotateKey(m.Key)
			} else {
				km, err = keys.DescribeKey(m.Key)
			}
			return &wire.RespKey{Key: keyInfo(km)}, err
		})
	case wire.OpDisableKey, wire.OpEnableKey:
		return decodeAnd(body, func(m *wire.ReqKey) (wire.Message, error) {
			if op == wire.OpDisableKey {
				return &wire.ReqEmpty{}, keys.DisableKey(m.Key)
			}
			return &wire.ReqEmpty{}, keys.EnableKey(m.Key)
		})
	case wire.OpCreateAlias:
		return decodeAnd(body, func(m *wire.ReqCreateAlias) (wire.Message, error) {
			return &wire.ReqEmpty{}, keys.CreateAlias(m.Alias, m.Key)
		})
	case wire.OpListAliases:
		return decodeAnd(body, func(*wire.ReqEmpty) (wire.Message, error) {
			l, err := keys.ListAliases()
			if err != nil {
				return nil, err
			}
			out := &wire.RespAliases{Aliases: make([]wire.AliasInfo, len(l))}
			for i, a := range l {
				out.Aliases[i] = wire.AliasInfo{Name: a.Name, ARN: a.ARN, KeyID: a.KeyID}
			}
			return out, nil
		})
	}
	return nil, fmt.Errorf("wire: no key handler for %v", op)
}

func keyInfo(m kms.KeyMetadata) wire.KeyInfo {
	return wire.KeyInfo{KeyID: m.KeyID, ARN: m.ARN, Description: m.Description, Created: m.Created,
		Enabled: m.Enabled, Version: uint32(m.Version), Rotated: m.Rotated}
}
