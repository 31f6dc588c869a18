package ratelimit

import (
	"math/big"
	"testing"
	"time"
)

// FuzzBucket runs a sequence of operations against a Bucket and against an
// exact model of GCRA in rational arithmetic, fed the Bucket's own decisions,
// and checks that the Bucket's fixed-point rounding never moves a decision by
// more than the rounding can explain:
//   - Take(0) always succeeds; a take the Bucket admits, the exact model admits too, or overshoots its
//     tolerance by at most 2 ticks per operation so far (undercharging);
//   - a take the Bucket refuses, the exact model refuses too, or would admit
//     with less than one tick to spare;
//   - Allowed agrees the same way; waiting Delay(n) makes Take(n) succeed.
//
// Ops are 3 bytes: kind, then a 16-bit argument.
func FuzzBucket(f *testing.F) {
	f.Add(uint32(1<<20), uint32(1<<20), int64(0), []byte{1, 0xff, 0xff, 1, 0x10, 0, 0, 0, 10, 4, 0, 50, 2, 0x40, 0})
	f.Add(uint32(3), uint32(1), int64(-5), []byte{1, 0, 1, 1, 0, 1, 5, 0, 2, 0, 1, 0, 3, 0, 0})
	f.Add(uint32(5), uint32(5), int64(1)<<62, []byte{1, 0, 5, 1, 0, 1, 0, 0, 200, 2, 0, 9, 3, 0, 0, 4, 0, 3})
	f.Add(uint32(2<<20), uint32(0), int64(0), []byte{3, 0, 0, 2, 0x10, 0, 3, 0, 0, 0x0a, 0, 1, 3, 0, 0, 4, 0, 0})
	f.Add(uint32(333333333), uint32(1000000), int64(999), []byte{1, 0xff, 0xff, 1, 0xff, 0xff, 5, 1, 0, 4, 0xff, 0xff})
	f.Add(uint32(7919), uint32(13), int64(-1)<<62, []byte{1, 0, 13, 1, 0, 14, 4, 0, 14, 1, 0, 14, 4, 0, 1})
	f.Fuzz(func(t *testing.T, rate32, burst32 uint32, start int64, ops []byte) {
		rate := int64(rate32%(1<<31)) + 1
		burst := int64(burst32 % (1 << 24))
		if len(ops) > 3*400 {
			ops = ops[:3*400]
		}
		clk := NewManualClock(start)
		b, err := NewBucket(clk, rate, burst)
		if err != nil {
			t.Fatal(err)
		}

		// Exact model, in units of 1/(16*rate) ns, so one tick is rate
		// units and n units cost n*16e9 exactly. e is TAT - now.
		R := big.NewInt(rate)
		tick := new(big.Int).Set(R)
		tol := new(big.Int).Mul(big.NewInt(burst), big.NewInt(int64(ticksPerSecond)))
		e := new(big.Int) // a fresh bucket is full: TAT = now
		zero := new(big.Int)
		costOf := func(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(int64(ticksPerSecond))) }
		advance := func(d time.Duration) {
			clk.Advance(d)
			e.Sub(e, new(big.Int).Mul(big.NewInt(int64(d)<<tickShift), R))
		}
		// margin returns, in the model's units, tol - (max(e,0)+cost):
		// negative when the exact model would refuse a take of cost.
		margin := func(cost *big.Int) *big.Int {
			m := new(big.Int).Set(e)
			if m.Sign() < 0 {
				m.SetInt64(0)
			}
			m.Add(m, cost)
			return m.Sub(tol, m)
		}
		ticks := func(k int) *big.Int { return new(big.Int).Mul(big.NewInt(int64(k)), tick) }
		opsSoFar := 0
		take := func(n int64) bool {
			if n == 0 {
				if !b.Take(0) {
					t.Fatal("Take(0) refused")
				}
				return true
			}
			cost := costOf(n)
			full := e.Sign() <= 0
			oversize := cost.Cmp(tol) > 0
			m := margin(cost)
			got := b.Take(n)
			opsSoFar++
			slack := ticks(2 * opsSoFar)
			if got {
				fits := m.Cmp(new(big.Int).Neg(slack)) >= 0
				nearlyFull := e.Cmp(slack) <= 0
				if !fits && !(oversize && nearlyFull) {
					t.Fatalf("Take(%d) admitted; exact margin %v units (tick = %v), full=%v", n, m, tick, full)
				}
				if e.Sign() < 0 {
					e.SetInt64(0)
				}
				e.Add(e, cost)
			} else if m.Cmp(tick) >= 0 || (oversize && full) {
				t.Fatalf("Take(%d) refused; exact margin %v units (tick = %v), full=%v, oversize=%v", n, m, tick, full, oversize)
			}
			return got
		}
		for i := 0; i+3 <= len(ops); i += 3 {
			kind, arg := ops[i], int64(ops[i+1])<<8|int64(ops[i+2])
			switch kind % 5 {
			case 0:
				scale := [...]time.Duration{1, time.Microsecond, time.Millisecond, 100 * time.Millisecond}[kind/5%4]
				advance(time.Duration(arg) * scale)
			case 1:
				take(arg)
			case 2:
				b.Charge(arg)
				opsSoFar++
				if arg > 0 {
					if e.Sign() < 0 {
						e.SetInt64(0)
					}
					e.Add(e, costOf(arg))
				}
			case 3:
				m := margin(zero)
				got := b.Allowed()
				if got && m.Cmp(new(big.Int).Neg(ticks(2*opsSoFar))) < 0 {
					t.Fatalf("Allowed() true; exact margin %v", m)
				}
				if !got && m.Cmp(tick) >= 0 {
					t.Fatalf("Allowed() false; exact margin %v", m)
				}
			case 4:
				d := b.Delay(arg)
				if d < 0 || d > time.Duration(maxAhead>>tickShift) {
					t.Fatalf("Delay(%d) = %v", arg, d)
				}
				advance(d)
				if !take(arg) {
					t.Fatalf("Take(%d) refused after waiting Delay = %v", arg, d)
				}
			}
		}
	})
}
