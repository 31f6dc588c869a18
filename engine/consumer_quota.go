package engine

import (
	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// NewConsumerQuota returns a fresh enhanced fan-out quota for one subscriber
// of shard index shard of a stream: ConsumerBytesPerSec of the stream's
// limits, with a burst of one second, independent of every other subscriber
// and of the shard's polling readers. It follows later changes of the
// stream's limits (SetQuotas). A front door takes one per subscription and
// paces its pushes with it (Allow, Delay, Charge); dropping it needs no
// clean-up.
func (e *Engine) NewConsumerQuota(stream string, shard int) (*ratelimit.Consumer, error) {
	st, err := e.lookup(stream)
	if err != nil {
		return nil, err
	}
	sh := st.shard(shard)
	if sh == nil {
		return nil, api.ShardNotFound(stream, api.ShardID(shard))
	}
	return sh.quota.NewConsumer(), nil
}
