package scenario

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"
)

// keyAlphabet is what random partition keys are made of.
const keyAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// keyPool returns the partition keys of a distribution: "random" gives
// 65,536 random 16-character keys (uniform over any number of shards, since
// a key's shard is MD5 of the key), a number N gives the N keys "key-0" to
// "key-(N-1)". Producers draw from the pool uniformly at random, so a record
// costs no key allocation.
func keyPool(spec string) [][]byte {
	if spec == "random" {
		rng := rand.New(rand.NewPCG(0x5eed, 0x1ce))
		keys := make([][]byte, randomKeys)
		buf := make([]byte, randomKeys*16)
		for i := range keys {
			k := buf[i*16 : (i+1)*16 : (i+1)*16]
			for j := range k {
				k[j] = keyAlphabet[rng.IntN(len(keyAlphabet))]
			}
			keys[i] = k
		}
		return keys
	}
	n, _ := strconv.Atoi(spec) // checked by withDefaults
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("key-" + strconv.Itoa(i))
	}
	return keys
}

// newPayload returns size bytes of random data for one producer; the
// records of its requests all carry this buffer, stamped at each send.
func newPayload(size int, rng *rand.Rand) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// stamp writes the send time into the first 8 bytes of data, when it has
// them, so that tail readers can time each record from its send.
func stamp(data []byte, t time.Time) {
	if len(data) >= stampLen {
		binary.LittleEndian.PutUint64(data, uint64(t.UnixNano()))
	}
}

// sinceStamp returns how long ago, at now, the record whose data carries a
// stamp was sent; 0 for data without one or a stamp in the future (clocks of
// two machines).
func sinceStamp(data []byte, now time.Time) time.Duration {
	if len(data) < stampLen {
		return 0
	}
	sent := int64(binary.LittleEndian.Uint64(data))
	d := time.Duration(now.UnixNano() - sent)
	if d < 0 {
		return 0
	}
	return d
}

// newRand returns a worker's own random source.
func newRand(load string, id int) *rand.Rand {
	var seed uint64
	for _, c := range load {
		seed = seed*31 + uint64(c)
	}
	return rand.New(rand.NewPCG(seed, uint64(id)+1))
}
