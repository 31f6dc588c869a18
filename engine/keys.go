package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/segment"
)

// shardSealer gives a shard's log the data keys of its encrypted segments
// (segment.Sealer). The writer sets keyID and arn before each batch it
// writes encrypted; the log calls back within that Write, on the writer's
// goroutine.
type shardSealer struct {
	sh    *shard
	keyID string // the stream's key as configured
	arn   string // the ARN it resolved to for the batch being written
}

// sealKey is a data key sealing frames of one segment.
type sealKey struct {
	lanes [segment.MaxSealLanes]record.FrameCipher // one per sealing goroutine
	arn   string                                   // of the master key that wrapped it
	s     *shardSealer
}

func (k *sealKey) Seal(f []byte, lane int) { k.lanes[lane].Seal(f) }

// Current: the data key may go on sealing while the stream's master key is
// the one that wrapped it.
func (k *sealKey) Current() bool { return k.arn == k.s.arn }

func (s *shardSealer) NewKey() ([]byte, segment.DataKey, error) {
	keys := s.sh.st.e.opts.Keys
	if keys == nil {
		return nil, nil, errNoKeyService
	}
	dk, err := keys.GenerateDataKey(s.keyID)
	if err != nil {
		return nil, nil, err
	}
	aead, err := newGCM(dk.Plaintext)
	clear(dk.Plaintext)
	if err != nil {
		return nil, nil, err
	}
	return dk.Blob, s.key(aead, dk.KeyARN), nil
}

func (s *shardSealer) OpenKey(blob []byte) (segment.DataKey, error) {
	k, err := s.sh.st.e.dataKeys.get(s.sh.st.e, blob)
	if err != nil {
		return nil, err
	}
	return s.key(k.aead, k.arn), nil
}

func (s *shardSealer) key(aead cipher.AEAD, arn string) *sealKey {
	k := &sealKey{arn: arn, s: s}
	for i := range k.lanes {
		k.lanes[i] = record.FrameCipher{AEAD: aead, Incarnation: s.sh.st.inc, Shard: uint32(s.sh.index)}
	}
	return k
}

var errNoKeyService = &api.Error{Code: api.CodeKMSInvalidState,
	Detail: "the stream's records are encrypted and the server runs without a key service (give it its keyring with --kms-keys)"}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// openedKey is an unwrapped data key.
type openedKey struct {
	aead cipher.AEAD
	arn  string // of the master key that wrapped it
}

// dataKeyCache keeps unwrapped data keys by their wrapped form, so that a
// read unwraps a segment's key once, not on every call. Whether the master
// key is still enabled is asked of the key service on every read.
type dataKeyCache struct {
	mu   sync.RWMutex // guards m
	m    map[string]*openedKey
	size int
}

// maxDataKeys bounds the cache: 4,096 keys (about 2 MiB of ciphers), more
// segments than a server reads at once; past it the cache starts over.
const maxDataKeys = 4096

// get returns the data key of blob, unwrapping it with the key service on
// a miss.
func (c *dataKeyCache) get(e *Engine, blob []byte) (*openedKey, error) {
	keys := e.opts.Keys
	if keys == nil {
		return nil, errNoKeyService
	}
	c.mu.RLock()
	k := c.m[string(blob)]
	c.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	plain, arn, err := keys.Decrypt(blob)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(plain)
	clear(plain)
	if err != nil {
		return nil, err
	}
	k = &openedKey{aead: aead, arn: arn}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDataKeys {
		c.m = make(map[string]*openedKey)
	}
	c.m[string(blob)] = k
	c.mu.Unlock()
	return k, nil
}

// isKeyError reports whether err is a refusal of the key service (a KMS
// code), which the put and read paths return as it is.
func isKeyError(err error) (*api.Error, bool) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return nil, false
	}
	switch ae.Code {
	case api.CodeKMSAccessDenied, api.CodeKMSDisabled, api.CodeKMSInvalidState, api.CodeKMSNotFound,
		api.CodeKMSOptInRequired, api.CodeKMSThrottling:
		return ae, true
	}
	return nil, false
}

// RewrapReport says what Rewrap did.
type RewrapReport struct {
	// Segments counts the segments whose wrapped data key was rewritten.
	Segments int
	// Shards counts the shards visited.
	Shards int
}

// Rewrap rewraps the stored data key of every encrypted segment of every
// stream (or only of stream, if not empty) under the newest version of its
// master key (kms ReEncrypt), after a rotation. Only the segments' key
// headers change; no record byte is rewritten, and every record stays
// readable throughout. It stops at the first error, reporting what it did.
func (e *Engine) Rewrap(name string) (RewrapReport, error) {
	var rep RewrapReport
	keys := e.opts.Keys
	if keys == nil {
		return rep, errNoKeyService
	}
	e.mu.RLock()
	var streams []*stream
	for n, st := range e.streams {
		if name == "" || n == name {
			streams = append(streams, st)
		}
	}
	e.mu.RUnlock()
	if name != "" && len(streams) == 0 {
		return rep, api.StreamNotFound(name)
	}
	for _, st := range streams {
		for _, sh := range *st.shards.Load() {
			if sh == nil {
				continue
			}
			log, err := sh.acquire()
			if err != nil {
				return rep, err
			}
			n, err := log.Rewrap(keys.ReEncrypt)
			sh.release()
			rep.Shards++
			rep.Segments += n
			if err != nil {
				if _, ok := isKeyError(err); ok {
					return rep, err
				}
				return rep, &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("rewrap the data keys of shard %s of stream %s", sh.id, st.name), Err: err}
			}
		}
	}
	return rep, nil
}
