package multiraft

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
)

// MemStore is a cluster.Store in memory, for tests and for in-process
// clusters. It holds exactly what Save returned for: a host closed and
// started again on the same MemStore sees what a node restarted after a
// crash would see on disk. FailSaves makes Saves fail, as a crash between
// a round's first sends and its Save would.
type MemStore struct {
	mu     sync.Mutex // guards groups
	groups map[uint64]*memGroup
	saves  atomic.Uint64
	fail   atomic.Pointer[error] // the error Saves fail with, if set
}

// FailSaves makes every later Save fail with err and store nothing; nil
// makes them succeed again.
func (m *MemStore) FailSaves(err error) {
	if err == nil {
		m.fail.Store(nil)
		return
	}
	m.fail.Store(&err)
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{groups: make(map[uint64]*memGroup)}
}

var _ cluster.Store = (*MemStore)(nil)

type memGroup struct {
	*raft.MemoryStorage
	used bool // something was saved
}

// CreateSnapshot implements cluster.GroupStorage.
func (g *memGroup) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (raftpb.Snapshot, error) {
	s, err := g.MemoryStorage.CreateSnapshot(index, cs, data)
	if err != nil {
		return raftpb.Snapshot{}, err
	}
	return raftpb.Snapshot{Data: s.Data, Metadata: s.Metadata}, nil
}

// Group implements cluster.Store.
func (m *MemStore) Group(id uint64) (cluster.GroupStorage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.groupLocked(id), nil
}

func (m *MemStore) groupLocked(id uint64) *memGroup {
	g := m.groups[id]
	if g == nil {
		g = &memGroup{MemoryStorage: raft.NewMemoryStorage()}
		m.groups[id] = g
	}
	return g
}

// Groups implements cluster.Store.
func (m *MemStore) Groups() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []uint64
	for id, g := range m.groups {
		if g.used {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Save implements cluster.Store. The updates are applied together under
// one lock: a reader never sees half of a Save.
func (m *MemStore) Save(updates []cluster.Update) error {
	if err := m.fail.Load(); err != nil {
		return *err
	}
	m.saves.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range updates {
		u := &updates[i]
		g := m.groupLocked(u.Group)
		g.used = true
		if !raft.IsEmptySnap(&u.Snapshot) {
			if err := g.ApplySnapshot(&u.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
				return err
			}
		}
		if len(u.Entries) > 0 {
			ents := make([]*raftpb.Entry, len(u.Entries))
			for j := range u.Entries {
				ents[j] = &u.Entries[j]
			}
			if err := g.Append(ents); err != nil {
				return err
			}
		}
		if !raft.IsEmptyHardState(&u.HardState) {
			if err := g.SetHardState(&u.HardState); err != nil {
				return err
			}
		}
	}
	return nil
}

// Saves returns how many Saves succeeded.
func (m *MemStore) Saves() uint64 { return m.saves.Load() }

// RemoveGroup implements cluster.Store.
func (m *MemStore) RemoveGroup(id uint64) error {
	m.mu.Lock()
	delete(m.groups, id)
	m.mu.Unlock()
	return nil
}

// Close implements cluster.Store.
func (m *MemStore) Close() error { return nil }
