//go:build unix

package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestFS_CreatedFilesAndDirectoriesArePrivate(t *testing.T) {
	for _, umask := range []int{0, 0o022} {
		t.Run(fmt.Sprintf("umask=%03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			forEachFS(t, func(t *testing.T, fsys FS, dir string) {
				file := filepath.Join(dir, "f")
				f, err := fsys.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				sub := filepath.Join(dir, "a", "b")
				if err := fsys.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				l, err := fsys.Lock(sub)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				for name, want := range map[string]fs.FileMode{
					file: FileMode, filepath.Join(sub, "LOCK"): FileMode,
					filepath.Join(dir, "a"): fs.ModeDir | DirMode, sub: fs.ModeDir | DirMode,
				} {
					fi, err := fsys.Stat(name)
					if err != nil {
						t.Fatal(err)
					}
					if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
						t.Errorf("%s has mode %v, want %v", name, got, want)
					}
				}
			})
		})
	}
}
