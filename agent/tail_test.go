package agent

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestTail_LinesInOrderAcrossPolls(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 3)
	h.step(false)
	h.appendLines("a.log", 3, 5)
	h.step(false)
	h.step(false)
	h.wantLines(numbered("a.log", 0, 5)...)
}

func TestTail_PartialLineWaitsForItsNewline(t *testing.T) {
	h := newHarness(t, nil)
	h.appendRaw("a.log", "one\ntw")
	h.step(false)
	h.wantLines("one\n")
	h.appendRaw("a.log", "o\nthr")
	h.step(false)
	h.wantLines("one\n", "two\n")
	h.step(true) // the end of a --once run sends it as it is
	h.wantLines("one\n", "two\n", "thr")
}

func TestTail_RenameRotationFinishesTheOldFileFirst(t *testing.T) {
	for _, tc := range []struct{ name, pattern string }{
		{"glob matches the rotated name", "*.log*"},
		{"glob does not match the rotated name", "*.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.cfg.Flows[0].FilePattern = h.path(tc.pattern)
			h.restart()
			h.appendLines("a.log", 0, 3)
			h.step(false)
			// Lines written to the old file after the agent's last look, then
			// the rename, then lines in the new file: the old file's tail is
			// read from the open handle before the new file.
			h.appendLines("a.log", 3, 6)
			if err := os.Rename(h.path("a.log"), h.path("a.log.1")); err != nil {
				t.Fatal(err)
			}
			h.appendLines("a.log", 6, 9)
			h.step(false)
			h.step(false)
			h.wantLines(numbered("a.log", 0, 9)...)
		})
	}
}

func TestTail_CopyTruncateFinishesFromTheCopy(t *testing.T) {
	for _, pattern := range []string{"*.log*", "*.log"} {
		t.Run(pattern, func(t *testing.T) {
			h := newHarness(t, nil)
			h.cfg.Flows[0].FilePattern = h.path(pattern)
			h.restart()
			h.appendLines("a.log", 0, 3)
			h.step(false)
			h.appendLines("a.log", 3, 6)
			if out, err := exec.Command("cp", h.path("a.log"), h.path("a.log.1")).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			if pattern == "*.log*" {
				h.step(false) // the copy is seen before the truncation: it must not be read as a new file
			}
			if err := os.Truncate(h.path("a.log"), 0); err != nil {
				t.Fatal(err)
			}
			h.appendLines("a.log", 6, 8)
			h.step(false)
			h.step(false)
			h.wantLines(numbered("a.log", 0, 8)...)
		})
	}
}

func TestTail_CopyTruncateRefilledPastTheOldOffset(t *testing.T) {
	// The truncated file is refilled with more bytes than were read before
	// the agent looks again: only its first bytes tell it was truncated.
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 2)
	h.step(false)
	h.appendLines("a.log", 2, 3)
	if out, err := exec.Command("cp", h.path("a.log"), h.path("a.log.1")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Truncate(h.path("a.log"), 0); err != nil {
		t.Fatal(err)
	}
	h.appendLines("a.log", 3, 20)
	h.step(false)
	h.step(false)
	h.wantLines(numbered("a.log", 0, 20)...)
}

func TestTail_DeletedFileIsFinishedFromItsHandle(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 2)
	h.step(false)
	h.appendLines("a.log", 2, 4)
	if err := os.Remove(h.path("a.log")); err != nil {
		t.Fatal(err)
	}
	h.step(false)
	h.wantLines(numbered("a.log", 0, 4)...)
	h.appendLines("a.log", 100, 102) // a new file at the same path
	h.step(false)
	h.step(false)
	h.wantLines(cat(numbered("a.log", 0, 4), numbered("a.log", 100, 102))...)
}

func TestTail_NewFilesMatchingTheGlobArePickedUp(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 2)
	h.step(false)
	h.appendLines("b.log", 0, 2)
	h.appendLines("c.txt", 0, 2) // not matched
	h.step(false)
	h.wantLines(cat(numbered("a.log", 0, 2), numbered("b.log", 0, 2))...)
}

func TestTail_RestartResumesAtTheCheckpoint(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 4)
	h.step(false)
	h.appendLines("a.log", 4, 6)
	h.restart()
	h.step(false)
	h.wantLines(numbered("a.log", 0, 6)...)
}

func TestTail_UnacknowledgedLinesAreSentAgainAfterACrash(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 3)
	h.step(false)
	h.appendLines("a.log", 3, 6)
	h.stepUnsent(false) // read and queued, never acknowledged: the crash comes first
	if err := h.a.writeCheckpoint(); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.step(false)
	h.wantLines(numbered("a.log", 0, 6)...)
}

func TestTail_RotationWhileStoppedIsFoundOnRestart(t *testing.T) {
	// Killed with lines of a.log unsent; while the agent is down a.log is
	// renamed twice over. The checkpointed file is found by its inode under
	// its new name and finished, then the generations after it in order.
	h := newHarness(t, nil)
	h.cfg.Flows[0].FilePattern = h.path("*.log*")
	h.restart()
	h.appendLines("a.log", 0, 2)
	h.step(false)
	h.appendLines("a.log", 2, 4)
	mustRename(t, h.path("a.log"), h.path("a.log.1"))
	h.appendLines("a.log", 4, 6)
	mustRename(t, h.path("a.log"), h.path("a.log.2"))
	h.appendLines("a.log", 6, 8)
	h.restart()
	h.step(false)
	h.step(false)
	h.step(false)
	h.wantLines(numbered("a.log", 0, 8)...)
}

func TestTail_CopyTruncateWhileStoppedIsFinishedFromTheCopy(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 2)
	h.step(false)
	h.appendLines("a.log", 2, 4)
	if out, err := exec.Command("cp", h.path("a.log"), h.path("a.log.1")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Truncate(h.path("a.log"), 0); err != nil {
		t.Fatal(err)
	}
	h.appendLines("a.log", 4, 30)
	h.restart()
	h.step(false)
	h.step(false)
	h.wantLines(numbered("a.log", 0, 30)...)
}

func TestTail_FirstStartFindsGenerationsOldestFirst(t *testing.T) {
	h := newHarness(t, nil)
	h.cfg.Flows[0].FilePattern = h.path("*.log*")
	h.appendLines("a.log.2", 0, 2)
	h.appendLines("a.log.1", 2, 4)
	h.appendLines("a.log", 4, 6)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"a.log.2", "a.log.1", "a.log"} {
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(h.path(name), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	h.restart()
	for range 3 {
		h.step(false)
	}
	h.wantLines(cat(numbered("a.log.2", 0, 2), numbered("a.log.1", 2, 4), numbered("a.log", 4, 6))...)
}

func TestTail_EndOfFileSkipsWhatIsThereAtFirstStart(t *testing.T) {
	h := newHarness(t, func(f *Flow) { f.InitialPosition = EndOfFile })
	h.appendLines("a.log", 0, 3)
	h.restart() // the first start sees the file
	h.step(false)
	h.appendLines("a.log", 3, 5)
	h.appendLines("b.log", 0, 2) // appears later: read from its start
	h.step(false)
	h.wantLines(cat(numbered("a.log", 3, 5), numbered("b.log", 0, 2))...)
}

func TestTail_SkipHeaderLines(t *testing.T) {
	h := newHarness(t, func(f *Flow) { f.SkipHeaderLines = 1 })
	h.appendRaw("a.log", "name,qty\n")
	h.appendRaw("a.log", "apple,3\n")
	h.step(false)
	h.wantLines("apple,3\n")
}

func TestTail_MultiLineRecords(t *testing.T) {
	h := newHarness(t, func(f *Flow) { f.MultiLineStartPattern = `^\d{4}-\d{2}-\d{2}` })
	h.appendRaw("a.log", "2024-01-02 ERROR boom\n  at a.b(c.java:1)\n  at d.e(f.java:2)\n2024-01-02 INFO ok\n")
	h.step(false)
	// The last record waits for the next start line (or its age).
	h.wantLines("2024-01-02 ERROR boom\n  at a.b(c.java:1)\n  at d.e(f.java:2)\n")
	h.appendRaw("a.log", "  continued\n")
	h.step(false)
	h.clock.Advance(h.cfg.Flows[0].bufferAge())
	h.step(false)
	h.wantLines("2024-01-02 ERROR boom\n  at a.b(c.java:1)\n  at d.e(f.java:2)\n", "2024-01-02 INFO ok\n  continued\n")
}

func TestTail_LineLongerThanTheRecordLimitIsCut(t *testing.T) {
	h := newHarness(t, nil)
	big := make([]byte, maxRecordBytes+100)
	for i := range big {
		big[i] = 'x'
	}
	h.appendRaw("a.log", string(big)+"\nnext\n")
	h.step(false)
	got := h.dest.records("logs")
	if len(got) != 3 || len(got[0].Key)+len(got[0].Data) > maxRecordBytes || string(got[2].Data) != "next\n" {
		t.Fatalf("got %d records", len(got))
	}
	if n := len(got[0].Data) + len(got[1].Data); n != len(big)+1 || h.a.Stats()[0].Truncated == 0 {
		t.Fatalf("the cut line's pieces hold %d bytes of %d; %d truncations counted", n, len(big)+1, h.a.Stats()[0].Truncated)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestTail_EndOfFileIsCheckpointedAtOnce: the first poll of a first start
// with END_OF_FILE asks for a checkpoint even though no line was sent, so
// that a crash before the first acknowledgement does not skip the lines
// written since.
func TestTail_EndOfFileIsCheckpointedAtOnce(t *testing.T) {
	h := newHarness(t, func(f *Flow) { f.InitialPosition = EndOfFile })
	h.appendLines("a.log", 0, 3)
	h.restart()
	if err := h.a.flows[0].poll(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.a.ckptWake:
	default:
		t.Fatal("the first poll skipped a.log to its end without waking the checkpointer")
	}
	if err := h.a.writeCheckpoint(); err != nil {
		t.Fatal(err)
	}
	h.appendLines("a.log", 3, 5)
	h.restart() // killed before any acknowledgement
	h.step(false)
	h.wantLines(numbered("a.log", 3, 5)...)
}

// TestTail_BytesBehind: the bytes of a file not yet acknowledged, per file
// and in all, as the progress line shows them.
func TestTail_BytesBehind(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 10) // "a.log 0\n" ... 80 bytes
	h.appendLines("b.log", 0, 1)
	h.stepUnsent(false)
	total, files := h.a.flows[0].behind()
	if total != 80+8 || len(files) != 2 {
		t.Fatalf("behind %d bytes in %v; want 88 in a.log and b.log", total, files)
	}
	var b strings.Builder
	h.a.printProgress(&b, false)
	if !strings.Contains(b.String(), "88 B behind ("+h.path("a.log")+" 80 B, "+h.path("b.log")+" 8 B)") {
		t.Fatalf("progress line %q", b.String())
	}
	fl := h.a.flows[0]
	for len(fl.out) > 0 {
		b := <-fl.out
		fl.sendBatch(t.Context(), b, &h.recs, &h.results)
	}
	if total, _ := fl.behind(); total != 0 {
		t.Fatalf("%d bytes behind after every line was acknowledged", total)
	}
}
