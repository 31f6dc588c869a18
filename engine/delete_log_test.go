package engine

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"
)

func TestDeleteStream_RemovesFilesWithoutWarnings(t *testing.T) {
	var buf bytes.Buffer
	var dir string
	e := openTest(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&buf, nil))
		dir = o.Dir
	})
	si := mustCreate(t, e, "s", 2)
	put(t, e, "s", "k", "v")
	if err := e.DeleteStream("s", false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "WARN") {
		t.Fatalf("delete logged warnings:\n%s", buf.String())
	}
	if _, err := os.Stat(e.streamDir(si.Incarnation)); !os.IsNotExist(err) {
		t.Fatalf("stream directory under %s still there: %v", dir, err)
	}
}
