package engine

import (
	"errors"

	"github.com/sluicedb/sluice/api"
)

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("engine: closed")

// errorf is api.Errorf: an error of code c worded alike at every door.
var errorf = api.Errorf

// clip shortens user input quoted in an error.
var clip = api.Clip

// Per-record put errors are preallocated so that a throttled record costs no
// allocation. They name no shard: the result they are returned in does.
var (
	errPutThrottled = &api.Error{Code: api.CodeThroughputExceeded, Reason: api.ReasonShardThrottled}
	errShardClosed  = &api.Error{Code: api.CodeResourceInUse, Detail: "shard is closed"}
)
