package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/wire"
)

// Record is one record of a batch. Key and Data are valid only during the
// PutRecords call that carries them.
type Record struct {
	Key, Data []byte
}

// Destination stores batches of records in streams: a sluice server over
// the binary protocol (WireDestination) or any Kinesis endpoint over the
// Kinesis API (KinesisDestination).
type Destination interface {
	// PutRecords stores recs in stream. results (as long as recs) receives
	// nil for each record stored and a *PutError for each one refused. A
	// non-nil error means the request as a whole failed: no record is
	// known to be stored (some may have been, when a connection was lost).
	// PutRecords is called from one goroutine at a time.
	PutRecords(ctx context.Context, stream string, recs []Record, results []error) error
	Close() error
}

// PutError is a refusal, by its Kinesis exception name.
type PutError struct {
	Code    string // "ProvisionedThroughputExceededException"
	Message string
}

func (e *PutError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// permanent reports whether a refused record can never be stored by
// sending it again: only a record the destination finds invalid. Every
// other refusal (throttling, a stream not yet created, missing
// permissions, a broken connection) is retried with backoff until it
// passes, so that an operator can fix it without losing lines.
func permanent(err error) bool {
	var pe *PutError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case api.CodeInvalidArgument.String(), api.CodeValidation.String(), "SerializationException":
		return true
	}
	return false
}

// throttled reports whether err is a throughput refusal.
func throttled(err error) bool {
	var pe *PutError
	return errors.As(err, &pe) && (pe.Code == api.CodeThroughputExceeded.String() || pe.Code == api.CodeKMSThrottling.String())
}

// WireDestination puts over the binary protocol through the Go client,
// dialing again after a lost connection.
type WireDestination struct {
	dial func(ctx context.Context) (*client.Client, error)
	c    *client.Client
	recs []api.PutRecord
	res  []api.PutResult
}

// NewWireDestination returns a destination that connects with dial (which
// carries the address, TLS and credentials) when it first puts.
func NewWireDestination(dial func(ctx context.Context) (*client.Client, error)) *WireDestination {
	return &WireDestination{dial: dial}
}

// PutRecords implements Destination.
func (d *WireDestination) PutRecords(ctx context.Context, stream string, recs []Record, results []error) error {
	if d.c == nil {
		c, err := d.dial(ctx)
		if err != nil {
			return err
		}
		d.c = c
	}
	d.recs = d.recs[:0]
	for _, r := range recs {
		d.recs = append(d.recs, api.PutRecord{Key: r.Key, Data: r.Data})
	}
	if cap(d.res) < len(recs) {
		d.res = make([]api.PutResult, len(recs))
	}
	res := d.res[:len(recs)]
	_, err := d.c.PutRecords(ctx, stream, d.recs, res)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return &PutError{Code: we.Name, Message: we.Message}
		}
		// The connection is in an unknown state: start over on a new one.
		d.c.Close()
		d.c = nil
		return err
	}
	for i := range res {
		results[i] = nil
		if e := res[i].Err; e != nil {
			var we *wire.Error
			if errors.As(e, &we) {
				results[i] = &PutError{Code: we.Name, Message: we.Message}
			} else {
				results[i] = &PutError{Code: api.CodeInternal.String(), Message: e.Error()}
			}
		}
	}
	return nil
}

// Close closes the connection.
func (d *WireDestination) Close() error {
	if d.c == nil {
		return nil
	}
	err := d.c.Close()
	d.c = nil
	if err != nil {
		return fmt.Errorf("close the connection: %w", err)
	}
	return nil
}
