//go:build !linux

package vfs

import "errors"

// uring exists only on Linux; newURing always fails here.
type uring struct{ entries uint32 }

func newURing(entries uint32) (*uring, error) { return nil, errors.New("io_uring is Linux's") }

func (r *uring) prep(fd int, ud uint64)             {}
func (r *uring) enter(minComplete int) error        { return errors.New("io_uring is Linux's") }
func (r *uring) reap(fn func(ud uint64, err error)) {}
func (r *uring) close() error                       { return nil }

func fdatasyncFD(fd int) error { return errors.New("io_uring is Linux's") }
