package client

import (
	"context"

	"github.com/sluicedb/sluice/wire"
)

// Encryption at rest: a stream's encryption and the server's key service.
// Every key argument may be a KeyId (UUID), a key ARN, an alias name
// (alias/NAME) or an alias ARN. The key service's refusals are *Error
// values named as Kinesis names them (KMSNotFoundException,
// KMSDisabledException, ...).

// KeyInfo describes a master key of the server's key service.
type KeyInfo = wire.KeyInfo

// AliasInfo names a master key.
type AliasInfo = wire.AliasInfo

// RewrapReport says what a Rewrap did.
type RewrapReport struct {
	Shards   int // shards visited
	Segments int // segments whose stored data key was rewrapped
}

// StartStreamEncryption encrypts every record put to stream afterwards
// under a data key of the master key key; records already stored stay as
// they are.
func (c *Client) StartStreamEncryption(ctx context.Context, stream, key string) error {
	if err := checkStr("stream name", stream); err != nil {
		return err
	}
	if err := checkStr("key id", key); err != nil {
		return err
	}
	return c.do(ctx, wire.OpStartStreamEncryption, &wire.ReqStartStreamEncryption{Stream: stream, Key: key}, nil)
}

// StopStreamEncryption makes the records put to stream afterwards
// plaintext; records already stored stay encrypted.
func (c *Client) StopStreamEncryption(ctx context.Context, stream string) error {
	return c.do(ctx, wire.OpStopStreamEncryption, &wire.ReqStream{Stream: stream}, nil)
}

// CreateKey makes a new master key, named by alias too if alias is not
// empty (alias/NAME).
func (c *Client) CreateKey(ctx context.Context, description, alias string) (KeyInfo, error) {
	if err := checkStr("description", description); err != nil {
		return KeyInfo{}, err
	}
	if err := checkStr("alias", alias); err != nil {
		return KeyInfo{}, err
	}
	var resp wire.RespKey
	err := c.do(ctx, wire.OpCreateKey, &wire.ReqCreateKey{Description: description, Alias: alias}, &resp)
	return resp.Key, err
}

// ListKeys returns every master key, oldest first.
func (c *Client) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	var resp wire.RespKeys
	if err := c.do(ctx, wire.OpListKeys, &wire.ReqEmpty{}, &resp); err != nil {
		return nil, err
	}
	return resp.Keys, nil
}

// DescribeKey describes the master key key names.
func (c *Client) DescribeKey(ctx context.Context, key string) (KeyInfo, error) {
	return c.keyCall(ctx, wire.OpDescribeKey, key)
}

// RotateKey adds a version of a master key's material, used for new data
// keys from now on; older versions stay to unwrap older data keys. It
// returns the key with its new version.
func (c *Client) RotateKey(ctx context.Context, key string) (KeyInfo, error) {
	return c.keyCall(ctx, wire.OpRotateKey, key)
}

func (c *Client) keyCall(ctx context.Context, op wire.Op, key string) (KeyInfo, error) {
	if err := checkStr("key id", key); err != nil {
		return KeyInfo{}, err
	}
	var resp wire.RespKey
	err := c.do(ctx, op, &wire.ReqKey{Key: key}, &resp)
	return resp.Key, err
}

// DisableKey disables a master key: puts to the streams encrypted under it,
// and reads of their records, fail with KMSDisabledException until it is
// enabled again.
func (c *Client) DisableKey(ctx context.Context, key string) error {
	if err := checkStr("key id", key); err != nil {
		return err
	}
	return c.do(ctx, wire.OpDisableKey, &wire.ReqKey{Key: key}, nil)
}

// EnableKey enables a disabled master key.
func (c *Client) EnableKey(ctx context.Context, key string) error {
	if err := checkStr("key id", key); err != nil {
		return err
	}
	return c.do(ctx, wire.OpEnableKey, &wire.ReqKey{Key: key}, nil)
}

// CreateAlias points alias (alias/NAME) at a master key. An alias already
// naming another key is refused.
func (c *Client) CreateAlias(ctx context.Context, alias, key string) error {
	if err := checkStr("alias", alias); err != nil {
		return err
	}
	if err := checkStr("key id", key); err != nil {
		return err
	}
	return c.do(ctx, wire.OpCreateAlias, &wire.ReqCreateAlias{Alias: alias, Key: key}, nil)
}

// ListAliases returns every alias, sorted by name.
func (c *Client) ListAliases(ctx context.Context) ([]AliasInfo, error) {
	var resp wire.RespAliases
	if err := c.do(ctx, wire.OpListAliases, &wire.ReqEmpty{}, &resp); err != nil {
		return nil, err
	}
	return resp.Aliases, nil
}

// Rewrap rewraps the stored data key of every encrypted segment of stream
// (of every stream if stream is empty) under the newest version of its
// master key, after a rotation. No record byte is rewritten.
func (c *Client) Rewrap(ctx context.Context, stream string) (RewrapReport, error) {
	if err := checkStr("stream name", stream); err != nil {
		return RewrapReport{}, err
	}
	var resp wire.RespRewrap
	err := c.do(ctx, wire.OpRewrap, &wire.ReqStream{Stream: stream}, &resp)
	return RewrapReport{Shards: int(resp.Shards), Segments: int(resp.Segments)}, err
}
