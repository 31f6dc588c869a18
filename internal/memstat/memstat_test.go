package memstat

import (
	"runtime"
	"testing"
)

var sink []byte

func TestLiveHeap_CountsWhatIsHeldAndNotWhatWasFreed(t *testing.T) {
	const size = 64 << 20
	before := LiveHeap()
	sink = make([]byte, size)
	held := LiveHeap()
	if held < before+size/2 {
		t.Fatalf("LiveHeap with %d MiB held = %d, before = %d: the allocation is not counted", size>>20, held, before)
	}
	sink = nil
	runtime.KeepAlive(sink)
	if after := LiveHeap(); after > held-size/2 {
		t.Fatalf("LiveHeap after freeing %d MiB = %d, was %d: the collection did not run", size>>20, after, held)
	}
}
