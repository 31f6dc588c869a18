//go:build !(darwin || linux || openbsd)

package vfs

// sysPwritev emulates pwritev with one pwrite per buffer where the platform
// has no vectored positional write.
func sysPwritev(f *osFile, bufs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := f.f.WriteAt(b, off)
		total += n
		off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
