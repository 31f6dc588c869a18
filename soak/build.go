package soak

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Build compiles sluiced into dir with the toolchain that runs the caller
// (with -race when race is set, so that a test under the race detector
// checks the server too) and returns the binary's path.
func Build(dir string, race bool) (string, error) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sluicedb/sluice/cmd/sluiced")
	if out, err := exec.Command(gobin, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build sluiced: %w\n%s", err, out)
	}
	return filepath.Join(dir, "sluiced"), nil
}
