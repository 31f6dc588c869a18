package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/budget"
	"github.com/sluicedb/sluice/kinesis"
)

// iteratorKeyFile holds the HMAC key of the Kinesis API's shard iterators and
// NextTokens in the data directory: 32 random bytes, created on first start,
// so that iterators handed out before a restart stay valid after it.
const (
	iteratorKeyFile = "iterator.key"
	iteratorKeyLen  = 32
)

// newKinesisHandler builds the Kinesis API handler for the server.
// key is the cluster's iterator key on a node of a cluster, nil on a single
// node (which keeps its own in the data directory).
func newKinesisHandler(cfg Config, eng *engine.Engine, inflight *budget.Budget, users *auth.Store, audit *auth.Audit, key []byte) (*kinesis.Handler, error) {
	if key == nil {
		var err error
		if key, err = loadIteratorKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	return kinesis.NewHandler(eng, kinesis.Options{
		Scope:       kinesis.ARNScope{Region: cfg.Region, Account: cfg.Account},
		IteratorKey: key,
		Now:         cfg.Now,
		Logger:      cfg.Logger.With("door", "kinesis"),
		BodyTimeout: time.Duration(cfg.BodyTimeout), WriteTimeout: time.Duration(cfg.WriteTimeout),
		Budget: inflight, Auth: users, Audit: audit,
		CORSOrigins: corsOrigins(cfg.CORSOrigins),
	})
}

// corsOrigins splits Config.CORSOrigins; nil when it is empty (the
// handler's default).
func corsOrigins(list string) []string {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	return strings.Split(list, ",")
}

// loadIteratorKey reads the iterator key of a data directory, creating it
// if the directory has none: written to a temporary file, synced, renamed
// into place and the directory synced, so that a crash leaves either no key
// or the whole key.
func loadIteratorKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, iteratorKeyFile)
	key, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(key) != iteratorKeyLen {
			return nil, fmt.Errorf("iterator key %s is %d bytes; it must be %d (delete it to make a new one, which invalidates outstanding shard iterators)",
				path, len(key), iteratorKeyLen)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read iterator key: %w", err)
	}
	key = make([]byte, iteratorKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make iterator key: %w", err)
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, key); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("write iterator key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("install iterator key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sync %s: %w", dir, err)
	}
	return key, nil
}

// writeSynced writes b to a new file readable only by its owner and syncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
