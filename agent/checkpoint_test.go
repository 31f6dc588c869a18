package agent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleCheckpoints() []checkpoint {
	return []checkpoint{
		{Flow: "/var/log/app/*.log -> logs", Chain: "/var/log/app/a.log", Path: "/var/log/app/a.log", ID: identity{dev: 2049, ino: 131077},
			Offset: 123456, FP: fingerprint{N: 1024, Sum: 0xdeadbeef}},
		{Flow: "/var/log/app/*.log -> logs", Chain: "/var/log/app/a.log", Path: "/var/log/app/a.log.1", ID: identity{dev: 2049, ino: 131070},
			Offset: 99, FP: fingerprint{N: 99, Sum: 7}, Flags: ckptRotated | ckptDone},
	}
}

func TestCheckpoint_RoundTrip(t *testing.T) {
	for _, entries := range [][]checkpoint{nil, sampleCheckpoints()} {
		b := encodeCheckpoints(nil, entries)
		got, err := decodeCheckpoints(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(entries) {
			t.Fatalf("decoded %d entries of %d", len(got), len(entries))
		}
		for i := range got {
			if got[i] != entries[i] {
				t.Fatalf("entry %d: %+v; want %+v", i, got[i], entries[i])
			}
		}
	}
}

// corruptFunc damages an encoded checkpoint file.
type corruptFunc func(b []byte) []byte

func flipByte(off int) corruptFunc {
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		b[off%len(b)] ^= 0x40
		return b
	}
}

func truncateTo(n int) corruptFunc { return func(b []byte) []byte { return b[:min(n, len(b))] } }

func TestCheckpoint_CorruptionIsRefused(t *testing.T) {
	good := encodeCheckpoints(nil, sampleCheckpoints())
	for name, c := range map[string]corruptFunc{
		"magic":          flipByte(0),
		"count":          flipByte(len(ckptMagic) + 2),
		"path byte":      flipByte(ckptHeaderLen + 10),
		"offset":         flipByte(len(good) / 2),
		"crc":            flipByte(len(good) - 1),
		"torn mid-entry": truncateTo(len(good) - 20),
		"torn header":    truncateTo(5),
		"empty":          truncateTo(0),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeCheckpoints(c(good))
			var ce *CheckpointError
			if !errors.Is(err, ErrCheckpointCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("got %v; want a CheckpointError", err)
			}
		})
	}
}

func TestCheckpoint_CorruptFileRefusesToStart(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 2)
	h.step(false)
	b, err := os.ReadFile(h.cfg.CheckpointFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.cfg.CheckpointFile, flipByte(len(b)/2)(b), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Config: h.cfg, Destination: h.dest})
	if !errors.Is(err, ErrCheckpointCorrupt) {
		t.Fatalf("New over a damaged checkpoint file: %v; want ErrCheckpointCorrupt", err)
	}
}

func TestCheckpoint_WriteLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt")
	b := encodeCheckpoints(nil, sampleCheckpoints())
	if err := writeCheckpointsSync(path, b); err != nil {
		t.Fatal(err)
	}
	got, err := readCheckpoints(path)
	if err != nil || len(got) != 2 {
		t.Fatalf("read back %d entries, %v", len(got), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("the directory holds %d files; want only the checkpoint file", len(ents))
	}
	if got, err := readCheckpoints(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Fatalf("a missing file: %v, %v; want no checkpoints", got, err)
	}
}

func TestCheckpoint_DirectoryIsMade(t *testing.T) {
	h := newHarness(t, nil)
	h.cfg.CheckpointFile = filepath.Join(h.dir, "state", "agent", "checkpoints")
	h.restart()
	h.appendLines("a.log", 0, 1)
	h.step(false)
	if got, err := readCheckpoints(h.cfg.CheckpointFile); err != nil || len(got) != 1 {
		t.Fatalf("read back %d entries, %v", len(got), err)
	}
	h.cfg.CheckpointFile = filepath.Join(h.path("a.log"), "checkpoints") // under a file: cannot be made
	if _, err := New(Options{Config: h.cfg, Destination: h.dest}); err == nil || !strings.Contains(err.Error(), "the directory of checkpointFile") {
		t.Fatalf("New with a checkpoint file under a regular file: %v", err)
	}
}
