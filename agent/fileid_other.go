//go:build !unix

package agent

import "io/fs"

// fileIdentity needs device and inode numbers, which only Unix systems
// give; elsewhere no file has an identity and the agent refuses to run.
func fileIdentity(fs.FileInfo) (identity, bool) { return identity{}, false }
