package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/sluicedb/sluice/internal/vfs"
)

// stateFileName is what a node knows of the cluster, beside the catalog in
// the data directory: the nodes' addresses and zones and the iterator key,
// as the controller group last applied them. Both are idempotent to apply
// again (a node's info is replaced whole; the first key applied stays), so
// the file needs no applied index.
const stateFileName = "cluster.json"

// NodeInfo is what a node announces of itself to the cluster.
type NodeInfo struct {
	ID     uint64 `json:"id"`
	Raft   string `json:"raft"`             // the transport's address
	Listen string `json:"listen,omitempty"` // the binary protocol's
	HTTP   string `json:"http,omitempty"`   // the Kinesis API's
	Zone   string `json:"zone,omitempty"`
	// Draining is set while the node hands its leaderships off before it
	// stops (Drain); other nodes then hand it none. It announces itself
	// without it when it starts again.
	Draining bool `json:"draining,omitempty"`
}

type stateDoc struct {
	Nodes       []NodeInfo `json:"nodes"`
	IteratorKey []byte     `json:"iterator_key,omitempty"`
}

// stateFile is the node's copy of the cluster state, persisted whole at
// every change.
type stateFile struct {
	dir, name string
	mu        sync.Mutex
	doc       stateDoc
}

func openState(path string) (*stateFile, error) {
	s := &stateFile{dir: filepath.Dir(path), name: filepath.Base(path)}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s.doc); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v); it is rebuilt from the cluster if removed", path, err)
	}
	return s, nil
}

func (s *stateFile) persistLocked() error {
	b, err := json.MarshalIndent(&s.doc, "", "  ")
	if err != nil {
		return err
	}
	return vfs.ReplaceFile(vfs.OS, s.dir, s.name, b)
}

// setNode records a node's info.
func (s *stateFile) setNode(n NodeInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.doc.Nodes), func(i int) bool { return s.doc.Nodes[i].ID >= n.ID })
	if i < len(s.doc.Nodes) && s.doc.Nodes[i].ID == n.ID {
		if s.doc.Nodes[i] == n {
			return nil
		}
		s.doc.Nodes[i] = n
	} else {
		s.doc.Nodes = append(s.doc.Nodes, NodeInfo{})
		copy(s.doc.Nodes[i+1:], s.doc.Nodes[i:])
		s.doc.Nodes[i] = n
	}
	return s.persistLocked()
}

// setKey records the iterator key unless one is recorded already, and
// reports whether it did.
func (s *stateFile) setKey(k []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.doc.IteratorKey != nil {
		return false, nil
	}
	s.doc.IteratorKey = append([]byte(nil), k...)
	if err := s.persistLocked(); err != nil {
		s.doc.IteratorKey = nil
		return false, err
	}
	return true, nil
}

func (s *stateFile) iteratorKey() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc.IteratorKey
}

// draining reports whether node id said it is draining.
func (s *stateFile) draining(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.doc.Nodes {
		if n.ID == id {
			return n.Draining
		}
	}
	return false
}

func (s *stateFile) nodes() []NodeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]NodeInfo(nil), s.doc.Nodes...)
}
