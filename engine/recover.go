package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/segment"
)

// The data directory holds, besides the catalog, one directory per stream
// under streams/, named by the stream's incarnation (%010d), holding one
// directory per shard named by the shard ID, and stream.json: the stream's
// identity as created (name, incarnation, settings), written once, so that
// a lost catalog can be rebuilt with the streams' names.

const (
	streamsDirName   = "streams"
	streamIdentName  = "stream.json"
	damagedSuffix    = ".damaged"
	maxListedStreams = 10 // stream directories named in a refusal
)

// streamIdent is the content of stream.json.
type streamIdent struct {
	Name           string         `json:"name"`
	Incarnation    uint32         `json:"incarnation"`
	Mode           api.StreamMode `json:"mode"`
	Created        int64          `json:"created_ns"`
	RetentionHours int            `json:"retention_hours"`
	MaxRecordSize  int            `json:"max_record_size"`
	Durability     api.Durability `json:"durability,omitempty"`
}

// createStreamDirs creates the directories of a new stream and of its
// shards, and stream.json, each made durable in its parent (fsync of the
// directory) before the catalog names the stream.
func (e *Engine) createStreamDirs(m *streamMeta) error {
	dir := e.streamDir(m.Incarnation)
	if err := e.fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := e.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := e.ensureIdent(m); err != nil {
		return err
	}
	for _, sm := range m.Shards {
		if err := e.fs.MkdirAll(e.shardDir(m.Incarnation, sm.Index), 0o755); err != nil {
			return err
		}
	}
	return e.fs.SyncDir(dir)
}

// ensureIdent writes stream.json for a stream that has none (one created
// before the file existed), so that a later catalog recovery finds its name.
func (e *Engine) ensureIdent(m *streamMeta) error {
	dir := e.streamDir(m.Incarnation)
	if _, err := e.fs.Stat(filepath.Join(dir, streamIdentName)); err == nil {
		return nil
	}
	if _, err := e.fs.Stat(dir); err != nil {
		return nil // no directory yet: the shards create it when they open
	}
	b, err := json.Marshal(streamIdent{Name: m.Name, Incarnation: m.Incarnation, Mode: m.Mode, Created: m.Created,
		RetentionHours: m.RetentionHours, MaxRecordSize: m.MaxRecordSize, Durability: m.Durability})
	if err != nil {
		return err
	}
	return replaceFile(e.fs, dir, streamIdentName, b)
}

// createShardDir creates a new shard's directory and makes it durable in the
// stream's directory.
func (e *Engine) createShardDir(inc uint32, index int) error {
	if err := e.fs.MkdirAll(e.shardDir(inc, index), 0o755); err != nil {
		return err
	}
	return e.fs.SyncDir(e.streamDir(inc))
}

// streamDirs lists the entries of streams/, sorted.
func (e *Engine) streamDirs() ([]string, error) {
	names, err := e.fs.ReadDir(filepath.Join(e.opts.Dir, streamsDirName))
	if err != nil {
		return nil, fmt.Errorf("list stream directories: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// parseIncarnation reads a stream directory's name, false for anything else.
func parseIncarnation(name string) (uint32, bool) {
	if len(name) != 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(name, 10, 32)
	return uint32(n), err == nil && n > 0
}

// readIdent reads a stream directory's stream.json, false if it has none or
// it does not parse.
func (e *Engine) readIdent(inc uint32) (streamIdent, bool) {
	path := filepath.Join(e.streamDir(inc), streamIdentName)
	f, err := e.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return streamIdent{}, false
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 1<<16 {
		return streamIdent{}, false
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return streamIdent{}, false
	}
	var id streamIdent
	if json.Unmarshal(b, &id) != nil || id.Incarnation != inc || !validName(id.Name) {
		return streamIdent{}, false
	}
	return id, true
}

// describeDirs names up to maxListedStreams stream directories, with the
// stream's name where stream.json gives it: "0000000001 (orders), ...".
func (e *Engine) describeDirs(names []string) string {
	var parts []string
	for i, n := range names {
		if i == maxListedStreams {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-i))
			break
		}
		if inc, ok := parseIncarnation(n); ok {
			if id, ok := e.readIdent(inc); ok {
				n += " (" + id.Name + ")"
			}
		}
		parts = append(parts, n)
	}
	return strings.Join(parts, ", ")
}

// refuseWithoutCatalog is the error of an Open that found stream data but no
// usable catalog: what it found and the three ways on.
func (e *Engine) refuseWithoutCatalog(why string, dirs []string) error {
	return fmt.Errorf("%s, but %s holds %d stream directories (%s): their records are there, but the catalog that names them and routes to their shards is not. "+
		"Restore %s from a backup; or start with the catalog recovery option (RecoverCatalog, --recover-catalog) to rebuild it from the directories "+
		"(stream names, shards and records; hash ranges are split evenly and lineage, consumers, tags and quotas are lost); "+
		"or move %s away to start with an empty data directory",
		why, filepath.Join(e.opts.Dir, streamsDirName), len(dirs), e.describeDirs(dirs),
		filepath.Join(e.opts.Dir, catalogName), filepath.Join(e.opts.Dir, streamsDirName))
}

// recoverCatalog rebuilds a catalog from the stream directories, for a data
// directory whose catalog is lost or damaged (Options.RecoverCatalog).
//
// Recovered, for each stream directory with at least one shard directory:
//   - the incarnation (the directory's name), so every sequence number
//     issued before stays valid;
//   - the name, mode, creation time, retention period, maximum record size
//     and durability from stream.json (a stream created before stream.json
//     existed is named recovered-<incarnation> and takes the defaults);
//   - every shard directory as a shard with the same index and ID, and all
//     its records, readable as before.
//
// Not recovered, because only the catalog held it: the hash key ranges and
// lineage (every shard becomes an open shard without parents, and the open
// shards split the hash key space evenly in index order, so a partition key
// may now route to another shard than before), which shards were closed by
// a split or merge (they are open again), consumers, tags, quotas, settings
// changed after creation, monitoring and policy. Encryption is recovered on
// the safe side: a stream any of whose shards' newest segments holds sealed
// frames comes back encrypted under the master key that sealed them (even
// if it was stopped since), so that nothing is written in the clear that
// was meant not to be. Shard
// directories left by a reshard that crashed before its catalog write come
// back as empty shards. When two directories claim the same name, the newest
// incarnation keeps it and the others are named <name>-<incarnation>.
func (e *Engine) recoverCatalog(dirs []string) (*catalog, error) {
	c := &catalog{Version: catalogVersion}
	now := e.now()
	byName := map[string]*streamMeta{}
	var metas []*streamMeta
	for _, d := range dirs {
		inc, ok := parseIncarnation(d)
		if !ok {
			e.opts.Logger.Warn("catalog recovery: skipping an entry that is not a stream directory", "entry", d)
			continue
		}
		names, err := e.fs.ReadDir(e.streamDir(inc))
		if err != nil {
			return nil, fmt.Errorf("catalog recovery: list %s: %w", e.streamDir(inc), err)
		}
		var idx []int
		for _, n := range names {
			if i, err := api.ParseShardID(n); err == nil && i < maxShardIndex && api.ShardID(i) == n {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			e.opts.Logger.Warn("catalog recovery: skipping a stream directory without shard directories", "dir", e.streamDir(inc))
			continue
		}
		sort.Ints(idx)
		id, ok := e.readIdent(inc)
		if !ok {
			id = streamIdent{Name: fmt.Sprintf("recovered-%010d", inc), Mode: api.Provisioned, Created: now.UnixNano()}
		}
		if id.Mode != api.Provisioned && id.Mode != api.OnDemand {
			id.Mode = api.Provisioned
		}
		if id.RetentionHours < api.MinRetentionHours || id.RetentionHours > api.MaxRetentionHours {
			id.RetentionHours = api.DefaultRetention
		}
		if id.MaxRecordSize < 1<<10 || id.MaxRecordSize > api.MaxMaxRecord {
			id.MaxRecordSize = api.DefaultMaxRecord
		}
		if id.Durability > api.None {
			id.Durability = api.DurabilityDefault
		}
		m := &streamMeta{Name: id.Name, Incarnation: inc, Status: api.StatusActive, Mode: id.Mode, Created: id.Created,
			RetentionHours: id.RetentionHours, MaxRecordSize: id.MaxRecordSize, Durability: id.Durability,
			EncryptionType: "NONE", NextShard: idx[len(idx)-1] + 1}
		if sealed, keyID := e.recoveredKey(inc, idx); sealed {
			// Records written after this start must not go to disk in the
			// clear when the stream was encrypting: a shard whose newest
			// segment holds sealed frames brings encryption back, under
			// the key that sealed them.
			m.Encrypted = true
			if keyID != "" {
				m.EncryptionType, m.KeyID = "KMS", keyID
			} else {
				e.opts.Logger.Warn("catalog recovery: a shard's newest segment is sealed under a key this server cannot name; the stream stays unencrypted until StartStreamEncryption", "stream", m.Name)
			}
		}
		for i, r := range api.EvenRanges(len(idx)) {
			m.Shards = append(m.Shards, &shardMeta{Index: idx[i], Parent: -1, AdjacentParent: -1, Start: r[0], End: r[1], Created: now.UnixNano()})
		}
		if prev := byName[m.Name]; prev != nil {
			// Directories are sorted by incarnation: this one is newer.
			prev.Name = renamed(prev.Name, prev.Incarnation)
		}
		byName[m.Name] = m
		metas = append(metas, m)
		c.LastIncarnation = max(c.LastIncarnation, inc)
	}
	sort.Slice(metas, func(i, j int) bool { return metas[i].Name < metas[j].Name })
	c.Streams = metas
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("catalog recovery built an inconsistent catalog: %w", err)
	}
	for _, m := range metas {
		e.opts.Logger.Warn("catalog recovery: recovered a stream; its hash ranges are split evenly and its lineage, consumers, tags and quotas are lost",
			"stream", m.Name, "incarnation", m.Incarnation, "shards", len(m.Shards))
	}
	return c, nil
}

// renamed is name-<incarnation>, cut to fit the name limit.
func renamed(name string, inc uint32) string {
	suffix := fmt.Sprintf("-%010d", inc)
	if len(name)+len(suffix) > api.MaxStreamNameLen {
		name = name[:api.MaxStreamNameLen-len(suffix)]
	}
	return name + suffix
}

// openCatalog loads the catalog, refusing to treat a missing or damaged one
// as an empty data directory when stream data is present, or rebuilding it
// with Options.RecoverCatalog.
func (e *Engine) openCatalog() (*catalog, error) {
	cat, err := loadCatalog(e.fs, e.opts.Dir)
	if err == nil {
		return cat, nil
	}
	dirs, lerr := e.streamDirs()
	if lerr != nil {
		return nil, lerr
	}
	missing := err == errNoCatalog
	switch {
	case missing && len(dirs) == 0:
		return &catalog{Version: catalogVersion}, nil
	case !e.opts.RecoverCatalog && missing:
		return nil, e.refuseWithoutCatalog("catalog "+filepath.Join(e.opts.Dir, catalogName)+" is missing", dirs)
	case !e.opts.RecoverCatalog && len(dirs) > 0:
		return nil, e.refuseWithoutCatalog(err.Error(), dirs)
	case !e.opts.RecoverCatalog:
		return nil, err
	}
	cat, rerr := e.recoverCatalog(dirs)
	if rerr != nil {
		return nil, rerr
	}
	path := filepath.Join(e.opts.Dir, catalogName)
	if !missing {
		// Keep the damaged catalog for inspection.
		if err := e.fs.Rename(path, path+damagedSuffix); err != nil {
			return nil, fmt.Errorf("catalog recovery: keep the damaged catalog: %w", err)
		}
		e.opts.Logger.Warn("catalog recovery: the damaged catalog is kept", "path", path+damagedSuffix, "err", err)
	}
	if err := storeCatalog(e.fs, e.opts.Dir, cat); err != nil {
		return nil, fmt.Errorf("catalog recovery: %w", err)
	}
	return cat, nil
}

// checkOrphans deals with the stream directories the catalog does not name
// (left by a crash during a create or delete, or present beside a catalog
// restored from an older copy): with Options.RemoveOrphans they are deleted;
// otherwise they are logged, kept and listed by Orphans, and new streams'
// incarnations are issued past them so that none is ever reused.
func (e *Engine) checkOrphans() error {
	dir := filepath.Join(e.opts.Dir, streamsDirName)
	names, err := e.streamDirs()
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, m := range e.cat.Streams {
		live[fmt.Sprintf("%010d", m.Incarnation)] = true
	}
	removed := false
	for _, n := range names {
		if live[n] {
			continue
		}
		path := filepath.Join(dir, n)
		if e.opts.RemoveOrphans {
			e.opts.Logger.Info("removing a stream directory the catalog does not name", "dir", path)
			if err := e.fs.RemoveAll(path); err != nil {
				return err
			}
			removed = true
			continue
		}
		e.opts.Logger.Warn("keeping a stream directory the catalog does not name; start with the orphan removal option (RemoveOrphans, --remove-orphans) to delete it",
			"dir", path)
		e.orphans = append(e.orphans, path)
		if inc, ok := parseIncarnation(n); ok && inc > e.cat.LastIncarnation {
			e.cat.LastIncarnation = inc
		}
	}
	if removed {
		return e.fs.SyncDir(dir)
	}
	return nil
}

// Orphans lists the stream directories that the catalog does not name and
// that Open kept (see Options.RemoveOrphans).
func (e *Engine) Orphans() []string {
	return append([]string(nil), e.orphans...)
}

// recoveredKey reports whether the newest segment of any of a stream's
// shards holds sealed frames, and the KeyId of the master key that wrapped
// its data key ("" if the blob names none this server can read).
func (e *Engine) recoveredKey(inc uint32, idx []int) (sealed bool, keyID string) {
	for _, i := range idx {
		blob, err := segment.NewestKeyBlob(e.fs, e.shardDir(inc, i))
		if err != nil {
			e.opts.Logger.Warn("catalog recovery: reading a shard's newest segment for a key header", "dir", e.shardDir(inc, i), "err", err)
			continue
		}
		if blob == nil {
			continue
		}
		sealed = true
		if id, err := kms.BlobKeyID(blob); err == nil {
			return true, id
		}
	}
	return sealed, ""
}
