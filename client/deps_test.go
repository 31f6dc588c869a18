package client

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClient_LinksNoStorageCode checks that a program importing the client
// links none of the server's storage code: the client shares only the api
// types, the record frame format and the protocol codec with the server.
func TestClient_LinksNoStorageCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/sluicedb/sluice/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/sluicedb/sluice/engine",
		"github.com/sluicedb/sluice/segment",
		"github.com/sluicedb/sluice/index",
		"github.com/sluicedb/sluice/internal/vfs",
		"github.com/edsrzf/mmap-go",
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != "github.com/sluicedb/sluice/client" {
		t.Fatalf("go list -deps printed no dependency list ending in the client:\n%s", out)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the client links %s", d)
			}
		}
	}
}
