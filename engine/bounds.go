package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicedb/sluice/internal/checksum"
)

// A clean Close writes bounds.json: the retained range of every shard whose
// range it knows, so that the next Open can describe dormant shards without
// opening their logs (a DescribeStream right after a restart would otherwise
// open every shard of the stream). Open reads it and removes it at once
// (fsync of the directory), so that after a crash, when the logs may hold
// more than it says, nothing stale is trusted. A shard's range changes only
// through its open log, and the log is what describes an open shard.
//
// The file is thereby also the engine's clean-shutdown marker: an Open that
// does not find it opens every shard's log at start (recoverShards), so that
// recovery after a crash runs, and is reported, before anything is served,
// and a shard that cannot open is a fault from the start.

const boundsName = "bounds.json"

// boundsEntry is one shard's range in bounds.json.
type boundsEntry struct {
	Inc   uint32 `json:"inc"`
	Shard int    `json:"shard"`
	First uint64 `json:"first"`
	Next  uint64 `json:"next"`
}

// storeBounds writes bounds.json from the shards' parked ranges; called by
// Close after every log is closed. Its errors are only logged: without the
// file the next Open opens shards to describe them.
func (e *Engine) storeBounds() {
	var list []boundsEntry
	for _, st := range e.streams {
		for _, sh := range *st.shards.Load() {
			if sh == nil {
				continue
			}
			sh.lmu.Lock()
			if sh.parked.ok {
				list = append(list, boundsEntry{Inc: st.inc, Shard: sh.index, First: sh.parked.first, Next: sh.parked.next})
			}
			sh.lmu.Unlock()
		}
	}
	doc, err := json.Marshal(list)
	if err == nil {
		var b []byte
		b, err = json.Marshal(envelope{CRC: checksum.Mask(checksum.Value(doc)), Doc: doc})
		if err == nil {
			err = replaceFile(e.fs, e.opts.Dir, boundsName, b)
		}
	}
	if err != nil {
		e.opts.Logger.Warn("could not save the shards' ranges; the next start opens shards to describe them", "err", err)
	}
}

// loadBounds gives the shards the ranges of bounds.json, if a clean Close
// left one, and removes it. It reports whether the file was there: whether
// the last run closed cleanly. Called by Open before any shard is used.
func (e *Engine) loadBounds() (clean bool) {
	path := filepath.Join(e.opts.Dir, boundsName)
	f, err := e.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	var list []boundsEntry
	size, err := f.Size()
	if err == nil && size < 1<<30 {
		b := make([]byte, size)
		var env envelope
		if _, err := f.ReadAt(b, 0); err == nil && json.Unmarshal(b, &env) == nil &&
			checksum.Mask(checksum.Value(env.Doc)) == env.CRC {
			if json.Unmarshal(env.Doc, &list) != nil {
				list = nil
			}
		}
	}
	f.Close()
	if err := e.fs.Remove(path); err != nil {
		e.opts.Logger.Warn("could not remove the saved shard ranges; not using them", "err", err)
		return true
	}
	if err := e.fs.SyncDir(e.opts.Dir); err != nil {
		e.opts.Logger.Warn("could not remove the saved shard ranges; not using them", "err", err)
		return true
	}
	byInc := map[uint32]*stream{}
	for _, st := range e.streams {
		byInc[st.inc] = st
	}
	for _, b := range list {
		st := byInc[b.Inc]
		if st == nil || b.First > b.Next {
			continue
		}
		if sh := st.shard(b.Shard); sh != nil {
			sh.parked.first, sh.parked.next, sh.parked.ok = b.First, b.Next, true
		}
	}
	return true
}

// recoverParallelism bounds how many shards recoverShards opens at once.
const recoverParallelism = 64

// recoverShards opens every shard's log after a run that did not close
// cleanly (no bounds.json), so that recovery cuts torn tails and reports
// them at start, and a shard that cannot open is a fault from the start; each
// log is then parked again (closed with a clean marker). Logs open side by
// side: each costs a few fsyncs, which the device serves better together.
func (e *Engine) recoverShards() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, recoverParallelism)
	for _, st := range e.streams {
		goEachShard(*st.shards.Load(), &wg, sem, func(sh *shard) {
			if _, err := sh.acquire(); err == nil {
				sh.release()
				sh.park()
			}
		})
	}
	wg.Wait()
	if n := e.recovered.shards.Load(); n > 0 {
		e.opts.Logger.Info("recovered after an unclean shutdown: shard logs scanned instead of opened from their checkpoints",
			"shards_scanned", n, "scanned_bytes", e.recovered.scanned.Load(), "truncated_bytes", e.recovered.truncated.Load())
	}
}
