//go:build !unix

package vfs

import (
	"fmt"
	"io"
	"runtime"
)

// Lock is not available without flock: rather than run unprotected, it
// refuses.
func (osFS) Lock(dir string) (io.Closer, error) {
	return nil, fmt.Errorf("lock %s: directory locking is not implemented on %s", dir, runtime.GOOS)
}
