package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/segment"
)

// Shipping refills a replica that fell so far behind that its group's
// leader no longer has the Raft entries it lacks (package cluster/node):
// another replica exports the part of the shard's log the replica is
// missing, as the frames its segment files hold, byte for byte, and the
// replica installs them after checking every frame's CRC and sequence
// number.
//
// Installing goes through the shard's writer as applying a committed entry
// does: the frames' records are written after the replica's last record,
// at the sequence numbers the frames carry, into the replica's own
// segments (sealed under the replica's own data keys when the stream is
// encrypted, as an applied entry is), indexed, published only once
// written, and synced before InstallShard returns. So a reader never sees
// a record that was not checked, and a crash in the middle leaves the
// replica holding a prefix of the shipped records, each one committed and
// at its number, which the next transfer continues from.

// ErrShipCorrupt is matched by every failure of CheckShipChunk: the bytes
// shipped are not frames of the shard's log at the numbers they claim.
var ErrShipCorrupt = errors.New("engine: shipped frames are corrupt")

// ErrShipRange is matched by the error of ExportShard when this replica
// does not hold the whole range asked for: retention removed its start, or
// the replica has not applied its end yet. Another replica may hold it.
var ErrShipRange = errors.New("engine: this replica does not hold the records asked for")

// ShipChunk is a piece of a shard's log as stored: frames back to back,
// exactly as one segment file holds them, with the wrapped data key of that
// segment when it has one (frames with record.FlagEncrypted are sealed
// under it).
type ShipChunk struct {
	// First is the sequence number of the first frame.
	First uint64
	// KeyBlob is the segment's wrapped data key (its key header's current
	// slot); nil for a segment without a key header.
	KeyBlob []byte
	// Frames are the frames, each with its own CRC.
	Frames []byte
}

// ExportShard hands fn, in order, the frames of the records [from, to) of
// the shard index of the stream of incarnation inc, in chunks of at most
// maxBytes (but at least one frame), each from one segment. A chunk's
// bytes are the segment's mapping and are valid only during fn, which
// must not change them; a chunk goes to fn under the segment's lease, so
// retention does not remove the segment meanwhile. It fails with
// ErrShipRange if the shard does not hold every record of the range, and
// with fn's error, as is, when fn fails.
func (e *Engine) ExportShard(inc uint32, index int, from, to uint64, maxBytes int, fn func(ShipChunk) error) error {
	sh, err := e.shardByInc(inc, index)
	if err != nil {
		return err
	}
	log, err := sh.acquire()
	if err != nil {
		return err
	}
	defer sh.release()
	first, next := log.Bounds()
	if from < first || to > next {
		return fmt.Errorf("%w: shard %s of stream %s holds records [%d, %d), and [%d, %d) was asked for", ErrShipRange, sh.id, sh.st.name, first, next, from, to)
	}
	var v segment.View
	defer v.Release()
	for seq := from; seq < to; {
		if err := log.Read(seq, int(min(to-seq, 1<<20)), maxBytes, &v); err != nil {
			return fmt.Errorf("read shard %s of stream %s at %d for shipping: %w", sh.id, sh.st.name, seq, err)
		}
		if v.Count == 0 || v.First != seq {
			// Retention removed the segment under the read.
			return fmt.Errorf("%w: shard %s of stream %s no longer holds record %d", ErrShipRange, sh.id, sh.st.name, seq)
		}
		var ferr error
		if gerr := v.Guard(func() { ferr = fn(ShipChunk{First: v.First, KeyBlob: v.KeyBlob(), Frames: v.Frames}) }); gerr != nil {
			return fmt.Errorf("read shard %s of stream %s at %d for shipping: %w", sh.id, sh.st.name, seq, gerr)
		}
		if ferr != nil {
			return ferr
		}
		seq = v.Next
	}
	return nil
}

// CheckShipChunk checks a shipped chunk whole: it holds at least one
// frame and nothing after its last; every frame is within bounds, with
// known flags, zero padding and a good CRC; the sequence numbers run from
// c.First up by one; and frames that are sealed come with a key blob. It
// returns the sequence number after the last frame. Every error matches
// ErrShipCorrupt and says which frame failed and why.
func CheckShipChunk(c ShipChunk) (next uint64, err error) {
	if len(c.Frames) == 0 {
		return 0, fmt.Errorf("%w: a chunk from %d holds no frame", ErrShipCorrupt, c.First)
	}
	seq := c.First
	for off := 0; off < len(c.Frames); seq++ {
		f, n, err := record.DecodeFrame(c.Frames[off:])
		if err != nil {
			if errors.Is(err, record.ErrEndOfData) {
				err = errors.New("a zero length word: the frames end before the chunk does")
			}
			return 0, fmt.Errorf("%w: frame %d of the chunk from %d, at byte %d: %v", ErrShipCorrupt, seq-c.First, c.First, off, err)
		}
		if f.Seq != seq {
			return 0, fmt.Errorf("%w: frame %d of the chunk from %d, at byte %d, carries sequence number %d, not %d", ErrShipCorrupt, seq-c.First, c.First, off, f.Seq, seq)
		}
		if f.Flags&record.FlagEncrypted != 0 && len(c.KeyBlob) == 0 {
			return 0, fmt.Errorf("%w: frame %d of the chunk from %d is sealed, and the chunk carries no data key", ErrShipCorrupt, seq-c.First, c.First)
		}
		if seq == ^uint64(0) && off+n < len(c.Frames) {
			return 0, fmt.Errorf("%w: the chunk from %d runs past the largest sequence number", ErrShipCorrupt, c.First)
		}
		off += n
	}
	return seq, nil
}

// installEntryBytes bounds the records of one entry InstallShard hands the
// writer: 1 MiB, a batch's worth, so that installing a large range goes in
// batches the writer drains as it does applied entries.
const installEntryBytes = 1 << 20

// InstallShard installs shipped records into the shard index of the
// stream of incarnation inc, a replica of a cluster (Options.Replica set).
// chunks calls yield with each chunk in order, the first starting at or
// before the shard's next sequence number and each next one where the
// last ended; it stops and returns yield's error if yield fails. Every
// chunk is checked whole (CheckShipChunk) before any of its records is
// written; records the shard holds already are skipped, as ApplyEntry
// skips them. Sealed frames are opened with their segment's data key
// (which the key service must unwrap) and sealed again under the
// replica's own. InstallShard returns once every installed record is
// written and synced, with the sequence number after the shard's last
// record. On an error the shard holds what it held plus a prefix of the
// shipped records, every one checked and at its number.
func (e *Engine) InstallShard(inc uint32, index int, chunks func(yield func(ShipChunk) error) error) (uint64, error) {
	if e.opts.Replica == nil {
		return 0, errors.New("engine: InstallShard is for a replica of a cluster; this engine is not one")
	}
	have, err := e.SyncShard(inc, index)
	if err != nil {
		return 0, err
	}
	var (
		fc       record.FrameCipher
		blob     []byte // the data key fc opens with
		plain    []byte // a sealed frame opened
		arrival  int64  // of the pending entry's records
		expect   uint64 // the sequence number of its first record
		count    int    // its records
		recs     []byte // its records, encoded as in a records entry
		want     uint64 // the sequence number after the last record shipped
		shipped  bool
		sealed   bool // the pending entry's records were shipped sealed
		applyErr error
	)
	// Records shipped sealed are sealed again here, under the key the
	// stream is encrypted with on this replica, or under the managed
	// default key if it no longer is: the frames name the sender's key
	// by its id in the sender's keyring, which is not this one's.
	sealKey := kms.DefaultAlias
	if sh, err := e.shardByInc(inc, index); err == nil {
		if enc := sh.st.encryption(); enc != nil {
			sealKey = enc.keyID
		}
	}
	flush := func() error {
		if count == 0 {
			return nil
		}
		entry := make([]byte, entryHeader, entryHeader+2*binary.MaxVarintLen32+len(sealKey)+len(recs))
		entry[0] = entryRecords
		binary.LittleEndian.PutUint64(entry[1:], uint64(arrival))
		if sealed {
			entry[0] = entrySealedRecords
			entry = binary.AppendUvarint(entry, uint64(len(sealKey)))
			entry = append(entry, sealKey...)
		}
		entry = binary.AppendUvarint(entry, uint64(count))
		entry = append(entry, recs...)
		count, recs = 0, recs[:0]
		_, err := e.ApplyEntryAsync(inc, index, expect, entry)
		return err
	}
	err = chunks(func(c ShipChunk) error {
		next, err := CheckShipChunk(c)
		if err != nil {
			return err
		}
		if shipped && c.First != want {
			return fmt.Errorf("%w: a chunk from %d follows one that ended at %d", ErrShipCorrupt, c.First, want)
		}
		if !shipped && c.First > have {
			// Applying it would leave a hole, which fences the shard.
			return fmt.Errorf("%w: the shipped records start at %d, and the shard holds records up to %d only", ErrShipRange, c.First, have)
		}
		shipped, want = true, next
		for off, seq := 0, c.First; off < len(c.Frames); seq++ {
			f, n, _ := record.DecodeFrame(c.Frames[off:])
			frame := c.Frames[off : off+n]
			off += n
			if f.Flags&^record.FlagEncrypted != 0 {
				// A replica's frames are written by applied entries,
				// which set no other flag.
				return fmt.Errorf("%w: frame %d carries flags %#x, which no replica writes", ErrShipCorrupt, seq, f.Flags)
			}
			key, data := f.Key, f.Data
			if f.Flags&record.FlagEncrypted != 0 {
				if blob == nil || !bytes.Equal(blob, c.KeyBlob) {
					k, err := e.dataKeys.get(e, c.KeyBlob)
					if err != nil {
						return fmt.Errorf("unwrap the data key of shipped record %d: %w", seq, err)
					}
					fc = record.FrameCipher{AEAD: k.aead, Incarnation: inc, Shard: uint32(index)}
					blob = slices.Clone(c.KeyBlob)
				}
				plain = slices.Grow(plain[:0], n)[:n]
				w, _, err := fc.Open(plain, frame)
				if err != nil {
					return fmt.Errorf("%w: record %d fails authentication under its segment's data key: %v", ErrShipCorrupt, seq, err)
				}
				pf, _, err := record.DecodeFrame(plain[:w])
				if err != nil {
					return fmt.Errorf("%w: record %d opened to a bad frame: %v", ErrShipCorrupt, seq, err)
				}
				key, data = pf.Key, pf.Data
			}
			isSealed := f.Flags&record.FlagEncrypted != 0
			if count > 0 && (f.Time != arrival || isSealed != sealed || count == api.MaxPutRecords || len(recs)+len(key)+len(data) > installEntryBytes) {
				if err := flush(); err != nil {
					applyErr = err
					return err
				}
			}
			if count == 0 {
				arrival, expect, sealed = f.Time, seq, isSealed
			}
			recs = binary.AppendUvarint(recs, uint64(len(key)))
			recs = append(recs, key...)
			recs = binary.AppendUvarint(recs, uint64(len(data)))
			recs = append(recs, data...)
			count++
		}
		return nil
	})
	if err == nil {
		if err = flush(); err != nil {
			applyErr = err
		}
	}
	// Wait for what was queued, whatever happened since, so that nothing
	// of this call is still being written when it returns.
	next, serr := e.SyncShard(inc, index)
	switch {
	case applyErr != nil:
		return next, fmt.Errorf("install shipped records: %w", applyErr)
	case err != nil:
		return next, err
	case serr != nil:
		return next, fmt.Errorf("install shipped records: %w", serr)
	case shipped && next < want:
		return next, fmt.Errorf("install shipped records: the shard holds records up to %d, and the shipped ones end at %d", next, want)
	}
	return next, nil
}
