package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestGroupDiff_ReplayRebuildsReplicaState: after every step of random
// group changes (members calling and going silent, assignment and
// balancing at moving clocks, checkpoints, releases, shards closing and
// going away, the group deleted and made again), the records diffGroup
// writes, framed and replayed into another set as a restarted replica
// replays its group log, rebuild the same group: members with their last
// calls, leases with owners, epochs and moves, and checkpoints; and so do
// the records of a compacted log.
func TestGroupDiff_ReplayRebuildsReplicaState(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			live := &groupSet{groups: map[string]*group{}, replica: true}
			var log []byte
			now := time.Unix(1_800_000_000, 0)
			shards := []shardView{{idx: 0, parent: -1, adj: -1}, {idx: 1, parent: -1, adj: -1}, {idx: 2, parent: -1, adj: -1}}
			for step := 0; step < 300; step++ {
				before := live.image("g")
				g := live.groups["g"]
				now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
				switch op := rng.IntN(10); {
				case g == nil:
					g = newGroup("g", time.Second, 0, now.UnixNano())
					live.groups["g"] = g
				case op < 4:
					m := fmt.Sprint("m", rng.IntN(4))
					if g.members[m] == nil {
						g.members[m] = &groupMember{}
					}
					g.members[m].seen = now
					g.assign(now, shards)
				case op < 6:
					idx := rng.IntN(len(shards))
					if l := g.leases[shards[idx].idx]; l != nil && l.owner != "" {
						g.cps[shards[idx].idx] = checkpoint{kind: cpWhole, seq: uint64(step)}
						if rng.IntN(2) == 0 {
							l.owner, l.releaseBy = "", time.Time{}
						}
					}
					g.assign(now, shards)
				case op == 6 && len(shards) < 6:
					// A split: the first open shard closes into two children.
					for i := range shards {
						if !shards[i].closed {
							shards[i].closed = true
							n := shards[len(shards)-1].idx + 1
							shards = append(shards, shardView{idx: n, parent: shards[i].idx, adj: -1}, shardView{idx: n + 1, parent: shards[i].idx, adj: -1})
							break
						}
					}
					g.assign(now, shards)
				case op == 7 && len(shards) > 3:
					shards = shards[1:] // retention removed the oldest shard
					g.assign(now, shards)
				case op == 8:
					g.failover = time.Duration(1+rng.IntN(3)) * time.Second
					g.assign(now, shards)
				default:
					if rng.IntN(4) == 0 {
						delete(live.groups, "g")
					} else {
						g.assign(now, shards)
					}
				}
				recs := diffGroup("g", before, live.image("g"))
				recs = append(recs, groupRecord{Type: groupRecApplied, Index: uint64(step + 1)})
				for i := range recs {
					log = appendGroupFrame(log, &recs[i])
				}
				replayed := &groupSet{groups: map[string]*group{}, replica: true}
				// The replica's own clock at replay must not matter.
				scanGroupFrames(log, func(r groupRecord) { replayed.apply(r, now.Add(time.Hour)) })
				want, got := live.image("g"), replayed.image("g")
				if want != nil {
					dropGone(want, shards)
					dropGone(got, shards)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d: replayed\n%+v\nlive\n%+v", step, got, want)
				}
				if replayed.applied != uint64(step+1) {
					t.Fatalf("step %d: replayed applied index %d", step, replayed.applied)
				}
				// A compacted log (the set's snapshot) rebuilds it too.
				live.applied = uint64(step + 1)
				var compact []byte
				for _, r := range live.snapshot() {
					compact = appendGroupFrame(compact, &r)
				}
				fromSnap := &groupSet{groups: map[string]*group{}, replica: true}
				scanGroupFrames(compact, func(r groupRecord) { fromSnap.apply(r, now.Add(time.Hour)) })
				if got := fromSnap.image("g"); !reflect.DeepEqual(got, live.image("g")) || fromSnap.applied != live.applied {
					t.Fatalf("step %d: from the snapshot (applied %d)\n%+v\nlive\n%+v", step, fromSnap.applied, got, live.image("g"))
				}
			}
		})
	}
}

// dropGone drops the leases of shards no longer in the catalog, which a
// replayed log may keep (released) until the next assignment drops them on
// every node alike.
func dropGone(im *groupImage, shards []shardView) {
	if im == nil {
		return
	}
	present := map[int]bool{}
	for _, s := range shards {
		present[s.idx] = true
	}
	for idx := range im.leases {
		if !present[idx] {
			delete(im.leases, idx)
		}
	}
}
