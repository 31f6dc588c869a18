package engine

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/segment"
)

// Descriptors and mappings kept out of the shard logs' budget: the listeners,
// client connections, the catalog, the lock, the logs being opened.
const (
	minReservedFiles = 64
	minReservedMaps  = 1024
	// minLogBudget is the fewest open logs the engine starts with: below it
	// a few busy streams would already churn opening and parking.
	minLogBudget = 16
)

// planLogBudget works out how many shard logs may be open at once under the
// process limits, and refuses limits too low to serve. An open log holds a
// descriptor while it is written (its active segment; the writer parks it
// when it goes idle); a quarter of RLIMIT_NOFILE, at least minReservedFiles,
// stays for everything else. Mappings are bounded by segment's cache
// (segment.DefaultOpenSegments across the process), so vm.max_map_count
// (from /proc/sys/vm/max_map_count, where it exists) need only hold that and
// a reserve. Idle shards hold nothing, so MaxShards may well exceed the
// budget; the log says so once.
func (e *Engine) planLogBudget() error {
	nofile := fileLimit()
	maps := mapLimit()
	budget := math.MaxInt32
	if nofile > 0 {
		reserve := max(nofile/4, minReservedFiles)
		if nofile < reserve+minLogBudget {
			return fmt.Errorf("the open-file limit (RLIMIT_NOFILE) is %d; the server needs at least %d: raise it (ulimit -n, or LimitNOFILE= in a systemd unit)",
				nofile, minReservedFiles+minLogBudget)
		}
		budget = nofile - reserve
	}
	if need := segment.DefaultOpenSegments + minReservedMaps; maps > 0 && maps < need {
		return fmt.Errorf("vm.max_map_count is %d; the server needs at least %d: raise it (sysctl -w vm.max_map_count=262144)", maps, need)
	}
	e.logBudget = budget
	if budget < e.opts.MaxShards {
		e.opts.Logger.Info("process limits allow fewer shards in use at once than the server may hold; idle shards hold no file and are parked to make room",
			"shards_in_use_at_once", budget, "max_shards", e.opts.MaxShards, "rlimit_nofile", nofile, "vm_max_map_count", maps)
	}
	return nil
}

// mapLimit reads vm.max_map_count, 0 where it cannot be read.
func mapLimit() int {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// checkShardCap refuses adding add shards (or a stream, with streams set)
// beyond the server-wide caps. Called with e.mu held.
func (e *Engine) checkShardCap(addStreams, addShards int) error {
	if addStreams > 0 && len(e.streams)+addStreams > e.opts.MaxStreams {
		return errorf(api.CodeLimitExceeded, "the server holds %d streams; the limit is %d", len(e.streams), e.opts.MaxStreams)
	}
	if n := e.shardCountLocked(); n+addShards > e.opts.MaxShards {
		return errorf(api.CodeLimitExceeded, "the server holds %d shards; the limit is %d, and this would add %d", n, e.opts.MaxShards, addShards)
	}
	return nil
}
