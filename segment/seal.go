package segment

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
)

// Sealer makes the data keys that seal a log's encrypted frames. The log
// asks for a fresh key for every segment that is to hold sealed frames (a
// new segment, or the first write after an Open that was not clean) and
// stores its wrapped form in the segment's key header.
type Sealer interface {
	// NewKey makes a fresh data key: its wrapped form (1 to MaxKeyBlob
	// bytes, stored in the key header) and the key to seal with.
	NewKey() (blob []byte, k DataKey, err error)
	// OpenKey returns the data key of a wrapped form that NewKey made; the
	// log resumes sealing into the active segment with it after a clean
	// Open.
	OpenKey(blob []byte) (DataKey, error)
}

// DataKey seals frames under one data key.
type DataKey interface {
	// Seal encrypts in place a frame laid out by record.PutUnsealed and
	// sets its CRC (record.FrameCipher.Seal). lane, below MaxSealLanes,
	// names the goroutine sealing: calls with different lanes may run at
	// once (the log seals a large batch on several cores), calls with the
	// same lane never do, so a key keeps one scratch record.FrameCipher per
	// lane and seals without allocating.
	Seal(frame []byte, lane int)
	// Current reports whether frames may still be sealed under the key:
	// false once the stream's master key changed, so that the next sealed
	// frame starts a new segment under a key of the new master key.
	Current() bool
}

// ErrNoSealer is returned by Write for a batch holding encrypted frames on
// a log opened without Options.Sealer. Nothing is written.
var ErrNoSealer = errors.New("segment: the batch holds frames to seal and the log has no sealer")

// needKey reports whether frames [i, n) of b, about to go to s, need a data
// key s does not have. Callers hold mu.
func (l *Log) needKey(s *segment, b *Batch) bool {
	return b.sealed > 0 && (s.dk == nil || !s.dk.Current())
}

// rekey gives the active segment a data key: the one in its key header if
// the log opened clean and the key is still current, else a fresh one,
// written into the header of the active segment if it is empty and has
// none, or of a new segment rolled to. A failure is transient: no frame of
// the batch was written by it. Callers hold mu.
func (l *Log) rekey() error {
	s := l.active
	if s.dk == nil && l.resume == s {
		l.resume = nil
		if h := s.hdr.Load(); h != nil {
			if dk, err := l.opts.Sealer.OpenKey(h.blob); err == nil && dk.Current() {
				s.dk = dk
				return nil
			}
		}
	}
	blob, dk, err := l.opts.Sealer.NewKey()
	if err != nil {
		return &TransientError{Err: err}
	}
	if len(blob) == 0 || len(blob) > MaxKeyBlob {
		return &TransientError{Err: fmt.Errorf("segment: a %d B wrapped data key; a key header holds 1 to %d B", len(blob), MaxKeyBlob)}
	}
	if s.count > 0 {
		if err := l.roll(); err != nil {
			return err
		}
		s = l.active
	}
	// An empty segment takes the key in place (over a key header no frame
	// was sealed under, if it has one): rolling it would make a segment of
	// the same name.
	return l.installKey(s, blob, dk)
}

// installKey writes the key header holding blob at the start of s, an
// empty segment (with or without a key header). Callers hold mu.
func (l *Log) installKey(s *segment, blob []byte, dk DataKey) error {
	if s.alloc < KeyHeaderSize {
		a := l.opts.growAllocation(s.alloc, KeyHeaderSize)
		if err := s.f.Allocate(s.alloc, a-s.alloc); err != nil {
			return transient(fmt.Errorf("segment: allocate %s to %d B: %w", s.path, a, err))
		}
		s.alloc = a
	}
	h := appendKeyHeader(nil, blob)
	l.wrote = append(l.wrote, Extent{Segment: s.base, Offset: 0, Data: h})
	if _, err := s.f.WriteAt(h, 0); err != nil {
		// The frames after a torn header were never written: recovery
		// finds no intact slot and empties the segment.
		return transient(fmt.Errorf("segment: write key header of %s: %w", s.path, err))
	}
	s.start.Store(KeyHeaderSize)
	s.end = KeyHeaderSize
	s.hdr.Store(&keyHeader{blob: h[16+keySlotFixed : 16+keySlotFixed+len(blob)], gen: 1})
	s.dk = dk
	return nil
}

// MaxSealLanes bounds the goroutines that seal one batch at once.
const MaxSealLanes = 8

// parallelSealBytes is the least a run of frames must hold to be sealed on
// several cores: 64 KiB, some 50 µs of AES-GCM, well above the cost of
// handing work to another goroutine.
const parallelSealBytes = 64 << 10

// dropKey zeroes the key header of s, an empty segment, so that a frame
// too large for a segment with a header can go at its start. Callers hold
// mu.
func (l *Log) dropKey(s *segment) error {
	zeros := make([]byte, KeyHeaderSize)
	l.wrote = append(l.wrote, Extent{Segment: s.base, Offset: 0, Data: zeros})
	if _, err := s.f.WriteAt(zeros, 0); err != nil {
		return transient(fmt.Errorf("segment: clear key header of %s: %w", s.path, err))
	}
	s.start.Store(0)
	s.end = 0
	s.hdr.Store(nil)
	s.dk = nil
	return nil
}

// sealTask is a share of a batch's sealing handed to a seal worker.
type sealTask struct {
	dk    DataKey
	b     *Batch
	seals []int // indexes of frames of b to seal
	lane  int
	wg    *sync.WaitGroup
}

var (
	sealWork     chan sealTask // to the seal workers; made by sealWorkersOnce
	sealWorkOnce sync.Once
)

// startSealWorkers starts MaxSealLanes-1 goroutines shared by every log of
// the process that seal shares of large batches. Each takes a task, seals
// its frames and marks it done; idle, they cost nothing but their stacks.
func startSealWorkers() {
	sealWork = make(chan sealTask)
	for range MaxSealLanes - 1 {
		go func() {
			for t := range sealWork {
				sealSome(t.dk, t.b, t.seals, t.lane)
				t.wg.Done()
			}
		}()
	}
}

func sealSome(dk DataKey, b *Batch, seals []int, lane int) {
	for _, k := range seals {
		dk.Seal(b.buf[b.offs[k]:b.frameEnd(k)], lane)
	}
}

// sealFrames seals the frames [i, j) of b that AddSealed added under s's
// data key. A run of at least parallelSealBytes is split into shares
// sealed at once by the writer and as many idle seal workers as there are
// other processors (up to MaxSealLanes in all); a share no worker is free
// to take the writer seals itself. It does not allocate. Callers hold
// l.mu.
func (l *Log) sealFrames(s *segment, b *Batch, i, j int) {
	lo := sort.SearchInts(b.seals, i)
	hi := sort.SearchInts(b.seals, j)
	seals := b.seals[lo:hi]
	lanes := min(runtime.GOMAXPROCS(0), MaxSealLanes, len(seals))
	if lanes <= 1 || b.offs[j-1]-b.offs[i] < parallelSealBytes {
		sealSome(s.dk, b, seals, 0)
		return
	}
	sealWorkOnce.Do(startSealWorkers)
	per := (len(seals) + lanes - 1) / lanes
	mine := seals[:per]
	for lane := 1; lane < lanes; lane++ {
		share := seals[min(lane*per, len(seals)):min((lane+1)*per, len(seals))]
		if len(share) == 0 {
			break
		}
		l.sealWG.Add(1)
		select {
		case sealWork <- sealTask{dk: s.dk, b: b, seals: share, lane: lane, wg: &l.sealWG}:
		default:
			l.sealWG.Done()
			sealSome(s.dk, b, share, lane)
		}
	}
	sealSome(s.dk, b, mine, 0)
	l.sealWG.Wait()
}
