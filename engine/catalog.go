package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

// The catalog is the engine's metadata: streams, shards, hash ranges, lineage,
// states and settings. It is one JSON document, rewritten whole on every
// change and replaced crash-atomically: write catalog.json.tmp, fdatasync,
// rename over catalog.json, fsync the directory. A reader after any crash sees
// either the old or the new document, never a mix. The document is wrapped in
// a one-line envelope carrying a CRC-32C so that a damaged file is detected
// instead of half-trusted.

const (
	catalogName    = "catalog.json"
	catalogVersion = 1
)

// catalog is the persisted state. It is guarded by Engine.mu.
type catalog struct {
	Version int `json:"version"`
	// LastIncarnation is the highest stream incarnation ever issued on this
	// data directory; a new stream takes max(LastIncarnation+1, unix seconds).
	LastIncarnation uint32        `json:"last_incarnation"`
	Streams         []*streamMeta `json:"streams"`
	// Applied is, on a replica of a cluster, the index of the last catalog
	// change applied (see ApplyChange).
	Applied uint64 `json:"applied,omitempty"`
}

type streamMeta struct {
	Name           string            `json:"name"`
	Incarnation    uint32            `json:"incarnation"`
	Status         api.StreamStatus  `json:"status"`
	Mode           api.StreamMode    `json:"mode"`
	Created        int64             `json:"created_ns"`
	RetentionHours int               `json:"retention_hours"`
	MaxRecordSize  int               `json:"max_record_size"`
	Durability     api.Durability    `json:"durability,omitempty"`
	Quotas         *ratelimit.Limits `json:"quotas,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	EncryptionType string            `json:"encryption_type,omitempty"`
	KeyID          string            `json:"key_id,omitempty"`
	// Encrypted is set once the stream is first encrypted and never
	// cleared: it may hold records only the key service can read.
	Encrypted  bool            `json:"encrypted,omitempty"`
	Monitoring []string        `json:"monitoring,omitempty"`
	Policy     string          `json:"policy,omitempty"`
	Consumers  []*consumerMeta `json:"consumers,omitempty"`
	Shards     []*shardMeta    `json:"shards"`
	// NextShard is the index the next new shard gets; indexes are never reused.
	NextShard int `json:"next_shard"`
	// ShardCountUpdates are the times (Unix ns) of the UpdateShardCount
	// calls of the last 24 hours, for Kinesis's limit of 10 a day.
	ShardCountUpdates []int64 `json:"shard_count_updates,omitempty"`
}

type shardMeta struct {
	Index          int         `json:"index"`
	Parent         int         `json:"parent"`          // -1 if none
	AdjacentParent int         `json:"adjacent_parent"` // -1 if none
	Start          api.HashKey `json:"start"`
	End            api.HashKey `json:"end"`
	Closed         bool        `json:"closed,omitempty"`
	// EndSeq is the internal sequence number one past the last record of a
	// closed shard.
	EndSeq  uint64 `json:"end_seq,omitempty"`
	Created int64  `json:"created_ns"`
	// ClosedAt is when the shard closed (Unix ns); retention removes a closed
	// shard once all its records have expired.
	ClosedAt int64 `json:"closed_ns,omitempty"`
	// Seal is set on a replica while the shard's group has applied the
	// seal of a split or merge and not its unseal (replica_seal.go): the
	// state of the group's log, never mutated, replaced.
	Seal *shardSeal `json:"seal,omitempty"`
	// ClosedBy is the token of the split or merge that closed the shard on
	// a replica (change_reshard.go).
	ClosedBy string `json:"closed_by,omitempty"`
	// Aborted are the tokens of the reshards of this shard abandoned
	// through the controller group (the last few; never mutated, replaced):
	// a Reshard change of one of them is refused.
	Aborted []string `json:"aborted,omitempty"`
}

type consumerMeta struct {
	Name    string            `json:"name"`
	Created int64             `json:"created_ns"`
	Status  string            `json:"status"`
	Tags    map[string]string `json:"tags,omitempty"`
	Policy  string            `json:"policy,omitempty"`
}

// envelope is the on-disk wrapper: {"crc":<masked crc32c of doc>,"doc":{...}}.
type envelope struct {
	CRC uint32          `json:"crc"`
	Doc json.RawMessage `json:"doc"`
}

// errNoCatalog is returned by loadCatalog when the data directory has no
// catalog file (a new data directory, or a lost catalog: Open tells them
// apart by looking for stream data).
var errNoCatalog = errors.New("engine: no catalog")

// loadCatalog reads the catalog from dir; errNoCatalog if there is none.
func loadCatalog(fsys vfs.FS, dir string) (*catalog, error) {
	path := filepath.Join(dir, catalogName)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errNoCatalog
		}
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("stat catalog: %w", err)
	}
	const maxCatalog = 1 << 30
	if size > maxCatalog {
		return nil, fmt.Errorf("catalog %s is %d bytes; refusing more than %d", path, size, maxCatalog)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("catalog %s is damaged: %w", path, err)
	}
	if checksum.Mask(checksum.Value(env.Doc)) != env.CRC {
		return nil, fmt.Errorf("catalog %s is damaged: checksum mismatch", path)
	}
	c := &catalog{}
	if err := json.Unmarshal(env.Doc, c); err != nil {
		return nil, fmt.Errorf("catalog %s is damaged: %w", path, err)
	}
	if c.Version != catalogVersion {
		return nil, fmt.Errorf("catalog %s has format version %d; this server reads version %d", path, c.Version, catalogVersion)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("catalog %s is inconsistent: %w", path, err)
	}
	return c, nil
}

// storeCatalog replaces the catalog in dir crash-atomically.
func storeCatalog(fsys vfs.FS, dir string, c *catalog) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	b, err := json.Marshal(envelope{CRC: checksum.Mask(checksum.Value(doc)), Doc: doc})
	if err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	path := filepath.Join(dir, catalogName)
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return fmt.Errorf("write catalog: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync catalog: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close catalog: %w", err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("install catalog: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	return nil
}

// replaceFile replaces dir/name with b crash-atomically (vfs.ReplaceFile).
func replaceFile(fsys vfs.FS, dir, name string, b []byte) error {
	return vfs.ReplaceFile(fsys, dir, name, b)
}

// clone returns a deep copy of m, so that a change can be built, persisted and
// only then installed.
func (m *streamMeta) clone() *streamMeta {
	c := *m
	c.Tags = cloneMap(m.Tags)
	c.Monitoring = append([]string(nil), m.Monitoring...)
	c.ShardCountUpdates = append([]int64(nil), m.ShardCountUpdates...)
	if m.Quotas != nil {
		q := *m.Quotas
		c.Quotas = &q
	}
	c.Consumers = make([]*consumerMeta, len(m.Consumers))
	for i, cm := range m.Consumers {
		cc := *cm
		cc.Tags = cloneMap(cm.Tags)
		c.Consumers[i] = &cc
	}
	c.Shards = make([]*shardMeta, len(m.Shards))
	for i, sm := range m.Shards {
		sc := *sm
		c.Shards[i] = &sc
	}
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
