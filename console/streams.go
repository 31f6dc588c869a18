package console

import (
	"errors"
	"net/http"
	"sort"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
)

// streamRow is one stream of GET /console/api/streams.
type streamRow struct {
	Name           string `json:"name"`
	Status         string `json:"status"`
	Mode           string `json:"mode"`
	OpenShards     int    `json:"openShards"`
	ClosedShards   int    `json:"closedShards"`
	RetentionHours int    `json:"retentionHours"`
	Encryption     string `json:"encryption"`
	Created        int64  `json:"created"` // Unix milliseconds
	// The latest sample's rates summed over the stream's shards: bytes and
	// records per second in and out, and refusals per second.
	InBytes        float32 `json:"inBytes"`
	InRecords      float32 `json:"inRecords"`
	OutBytes       float32 `json:"outBytes"`
	OutRecords     float32 `json:"outRecords"`
	WriteThrottled float32 `json:"writeThrottled"`
	ReadThrottled  float32 `json:"readThrottled"`
	// CanDelete says whether the caller may delete the stream.
	CanDelete bool `json:"canDelete"`
}

type streamList struct {
	Streams []streamRow `json:"streams"`
	// Hidden counts the streams the caller may not see.
	Hidden int `json:"hidden"`
}

// listStreams answers every stream the caller may see (DescribeStreamSummary
// on it), after ListStreams on "*", sorted by name.
func (c *Console) listStreams(w http.ResponseWriter, r *http.Request, cl *call) {
	if !c.allowed(cl, actListStreams, auth.AllResources, nil) {
		c.deny(w, r, cl, actListStreams, auth.AllResources)
		return
	}
	rates := c.hist.rates("")
	byStream := make(map[string]*streamRow)
	names := c.eng.ListStreams()
	out := streamList{Streams: make([]streamRow, 0, len(names))}
	for _, name := range names {
		a := c.access(cl, name)
		if !a.can(actDescribeSummary) {
			out.Hidden++
			continue
		}
		info, err := c.eng.DescribeStream(name)
		if err != nil {
			continue // deleted since the listing
		}
		open := info.OpenShardCount()
		out.Streams = append(out.Streams, streamRow{
			Name: name, Status: string(info.Status), Mode: string(info.Mode),
			OpenShards: open, ClosedShards: len(info.Shards) - open,
			RetentionHours: info.RetentionHours, Encryption: info.EncryptionType,
			Created: info.Created.UnixMilli(), CanDelete: a.can(actDeleteStream),
		})
	}
	for i := range out.Streams {
		byStream[out.Streams[i].Name] = &out.Streams[i]
	}
	for k, sr := range rates {
		row := byStream[k.stream]
		if row == nil {
			continue
		}
		row.InBytes += sr.latest[seriesInBytes]
		row.InRecords += sr.latest[seriesInRecords]
		row.OutBytes += sr.latest[seriesOutBytes]
		row.OutRecords += sr.latest[seriesOutRecords]
		row.WriteThrottled += sr.latest[seriesWriteThrottled]
		row.ReadThrottled += sr.latest[seriesReadThrottled]
	}
	writeJSON(w, out)
}

type createInput struct {
	Name           string            `json:"name"`
	Shards         int               `json:"shards"`
	Mode           string            `json:"mode"` // PROVISIONED (default) or ON_DEMAND
	RetentionHours int               `json:"retentionHours"`
	Tags           map[string]string `json:"tags"`
}

func (c *Console) createStream(w http.ResponseWriter, r *http.Request, cl *call) {
	var in createInput
	if !readJSON(w, r, &in) {
		return
	}
	mode := api.StreamMode(in.Mode)
	switch mode {
	case "":
		mode = api.Provisioned
	case api.Provisioned, api.OnDemand:
	default:
		writeError(w, http.StatusBadRequest, "mode %q is not PROVISIONED or ON_DEMAND", api.Clip(in.Mode))
		return
	}
	a := c.access(cl, in.Name)
	if !a.require(w, r, actCreateStream) {
		return
	}
	if len(in.Tags) > 0 && !a.require(w, r, actAddTags) {
		return
	}
	if in.RetentionHours != 0 && (in.RetentionHours < 24 || in.RetentionHours > 8760) {
		writeError(w, http.StatusBadRequest, "retention of %d hours is out of range; give 24 to 8760", in.RetentionHours)
		return
	}
	_, err := c.eng.CreateStream(api.CreateStreamInput{Name: in.Name, ShardCount: in.Shards, Mode: mode,
		Tags: in.Tags, RetentionHours: in.RetentionHours})
	c.auditResult(r, cl, actCreateStream, a.arn, err)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	c.describe(w, cl, in.Name)
}

type deleteInput struct {
	// Confirm must repeat the stream's name: the typed confirmation.
	Confirm string `json:"confirm"`
	// Force deletes a stream that has registered consumers.
	Force bool `json:"force"`
}

func (c *Console) deleteStream(w http.ResponseWriter, r *http.Request, cl *call) {
	var in deleteInput
	name, a, ok := c.streamAction(w, r, cl, &in, actDeleteStream)
	if !ok {
		return
	}
	if in.Confirm != name {
		writeError(w, http.StatusBadRequest, "to delete stream %s, type its name to confirm (got %q)", name, api.Clip(in.Confirm))
		return
	}
	err := c.eng.DeleteStream(name, in.Force)
	c.auditResult(r, cl, actDeleteStream, a.arn, err)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	writeJSON(w, map[string]string{"deleted": name})
}

// shardView is one shard of a stream's description.
type shardView struct {
	ID             string `json:"id"`
	Parent         string `json:"parent,omitempty"`
	AdjacentParent string `json:"adjacentParent,omitempty"`
	// HashStart and HashEnd are the shard's hash key range, inclusive, in
	// decimal.
	HashStart string `json:"hashStart"`
	HashEnd   string `json:"hashEnd"`
	Closed    bool   `json:"closed"`
	Created   int64  `json:"created"`
	// StartingSeq and EndingSeq are its sequence number range (EndingSeq
	// once closed); Records is how many it holds now.
	StartingSeq string `json:"startingSeq"`
	EndingSeq   string `json:"endingSeq,omitempty"`
	Records     uint64 `json:"records"`
	// Share is the shard's part of the stream's traffic (bytes in and out)
	// over the history window, 0..1.
	Share float64 `json:"share"`
	// InBytes .. IteratorAgeMs are the latest sample's rates.
	InBytes        float32 `json:"inBytes"`
	InRecords      float32 `json:"inRecords"`
	OutBytes       float32 `json:"outBytes"`
	OutRecords     float32 `json:"outRecords"`
	WriteThrottled float32 `json:"writeThrottled"`
	ReadThrottled  float32 `json:"readThrottled"`
	IteratorAgeMs  float32 `json:"iteratorAgeMs"`
}

type consumerView struct {
	Name    string `json:"name"`
	ARN     string `json:"arn"`
	Status  string `json:"status"`
	Created int64  `json:"created"`
	// CanDeregister says whether the caller may deregister it.
	CanDeregister bool `json:"canDeregister"`
}

// streamView is the body of GET /console/api/streams/{stream}.
type streamView struct {
	Name           string            `json:"name"`
	ARN            string            `json:"arn"`
	Status         string            `json:"status"`
	Mode           string            `json:"mode"`
	RetentionHours int               `json:"retentionHours"`
	Encryption     string            `json:"encryption"`
	KeyID          string            `json:"keyId,omitempty"`
	MaxRecordSize  int               `json:"maxRecordSize"`
	Created        int64             `json:"created"`
	Tags           map[string]string `json:"tags"`
	Shards         []shardView       `json:"shards"`
	Consumers      []consumerView    `json:"consumers"`
	// Can lists what the caller may do on the stream: the console's names
	// of its actions (split, merge, scale, retention, tags, delete, read,
	// consumers).
	Can map[string]bool `json:"can"`
}

func (c *Console) describeStream(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	if !c.access(cl, name).require(w, r, actDescribeStream) {
		return
	}
	c.describe(w, cl, name)
}

// describe answers the stream's view.
func (c *Console) describe(w http.ResponseWriter, cl *call, name string) {
	info, err := c.eng.DescribeStream(name)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	a := c.access(cl, name)
	_, canDecrypt := c.canDecrypt(cl, name)
	v := streamView{
		Name: name, ARN: a.arn, Status: string(info.Status), Mode: string(info.Mode),
		RetentionHours: info.RetentionHours, Encryption: info.EncryptionType, KeyID: info.KeyID,
		MaxRecordSize: info.MaxRecordSize, Created: info.Created.UnixMilli(), Tags: info.Tags,
		Shards: make([]shardView, 0, len(info.Shards)), Consumers: []consumerView{},
		Can: map[string]bool{
			"split":      a.can(actSplitShard),
			"merge":      a.can(actMergeShards),
			"scale":      a.can(actUpdateShardCount),
			"retention":  a.can(actIncreaseRetention) || a.can(actDecreaseRetention),
			"tags":       a.can(actAddTags) || a.can(actRemoveTags),
			"delete":     a.can(actDeleteStream),
			"read":       a.can(actGetShardIterator) && a.can(actGetRecords) && canDecrypt,
			"consumers":  a.can(actRegisterConsumer),
			"listShards": a.can(actListShards),
		},
	}
	if v.Tags == nil || !a.can(actListTags) {
		v.Tags = map[string]string{}
	}
	rates := c.hist.rates(name)
	var total float64
	for _, sr := range rates {
		total += sr.totalBytes
	}
	for _, s := range info.Shards {
		sv := shardView{
			ID: s.ID, Parent: s.Parent, AdjacentParent: s.AdjacentParent,
			HashStart: s.HashStart.String(), HashEnd: s.HashEnd.String(), Closed: s.Closed,
			Created: s.Created.UnixMilli(), StartingSeq: s.StartingSeq.String(), Records: s.NextSeq - s.FirstSeq,
		}
		if s.Closed {
			sv.EndingSeq = s.EndingSeq.String()
		}
		if sr := rates[shardKey{name, s.ID}]; sr != nil {
			if total > 0 {
				sv.Share = sr.totalBytes / total
			}
			sv.InBytes, sv.InRecords = sr.latest[seriesInBytes], sr.latest[seriesInRecords]
			sv.OutBytes, sv.OutRecords = sr.latest[seriesOutBytes], sr.latest[seriesOutRecords]
			sv.WriteThrottled, sv.ReadThrottled = sr.latest[seriesWriteThrottled], sr.latest[seriesReadThrottled]
			sv.IteratorAgeMs = sr.latest[seriesIteratorAge]
		}
		v.Shards = append(v.Shards, sv)
	}
	if a.can(actListConsumers) {
		for _, ci := range info.Consumers {
			arn := c.scope.ConsumerARN(name, ci.Name, ci.Created)
			v.Consumers = append(v.Consumers, consumerView{
				Name: ci.Name, ARN: arn, Status: ci.Status, Created: ci.Created.UnixMilli(),
				CanDeregister: c.allowed(cl, actDeregisterConsumer, arn, nil),
			})
		}
		sort.Slice(v.Consumers, func(i, j int) bool { return v.Consumers[i].Name < v.Consumers[j].Name })
	}
	writeJSON(w, v)
}

func (c *Console) streamMetrics(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	if !c.access(cl, name).require(w, r, actDescribeStream) {
		return
	}
	if _, err := c.eng.DescribeStream(name); err != nil {
		writeEngineError(w, err)
		return
	}
	s := c.hist.series(name, r.URL.Query().Get("shard"))
	s.IntervalSeconds = c.opts.SampleEvery.Seconds()
	writeJSON(w, s)
}

type mergeInput struct {
	Shard    string `json:"shard"`
	Adjacent string `json:"adjacent"`
}

func (c *Console) merge(w http.ResponseWriter, r *http.Request, cl *call) {
	var in mergeInput
	name, a, ok := c.streamAction(w, r, cl, &in, actMergeShards)
	if !ok {
		return
	}
	err := c.eng.MergeShards(name, in.Shard, in.Adjacent)
	c.answer(w, r, cl, actMergeShards, a.arn, name, err)
}

type scaleInput struct {
	Shards int `json:"shards"`
}

func (c *Console) scale(w http.ResponseWriter, r *http.Request, cl *call) {
	var in scaleInput
	name, a, ok := c.streamAction(w, r, cl, &in, actUpdateShardCount)
	if !ok {
		return
	}
	err := c.eng.UpdateShardCount(name, in.Shards)
	c.answer(w, r, cl, actUpdateShardCount, a.arn, name, err)
}

type retentionInput struct {
	Hours int `json:"hours"`
}

// retention raises or lowers the retention period, judged as
// IncreaseStreamRetentionPeriod or DecreaseStreamRetentionPeriod by the
// direction of the change.
func (c *Console) retention(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	var in retentionInput
	if !readJSON(w, r, &in) {
		return
	}
	a := c.access(cl, name)
	if !a.can(actIncreaseRetention) && !a.can(actDecreaseRetention) {
		c.deny(w, r, cl, actIncreaseRetention, a.arn)
		return
	}
	info, err := c.eng.DescribeStream(name)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	action, change := actIncreaseRetention, c.eng.IncreaseRetention
	if in.Hours < info.RetentionHours {
		action, change = actDecreaseRetention, c.eng.DecreaseRetention
	}
	if !a.require(w, r, action) {
		return
	}
	err = change(name, in.Hours)
	c.answer(w, r, cl, action, a.arn, name, err)
}

type tagsInput struct {
	Add    map[string]string `json:"add"`
	Remove []string          `json:"remove"`
}

func (c *Console) tags(w http.ResponseWriter, r *http.Request, cl *call) {
	name := r.PathValue("stream")
	var in tagsInput
	if !readJSON(w, r, &in) {
		return
	}
	if len(in.Add) == 0 && len(in.Remove) == 0 {
		writeError(w, http.StatusBadRequest, "give tags to add (\"add\": {\"key\": \"value\"}) or keys to remove (\"remove\": [\"key\"])")
		return
	}
	a := c.access(cl, name)
	if len(in.Remove) > 0 {
		if !a.require(w, r, actRemoveTags) {
			return
		}
	}
	if len(in.Add) > 0 {
		if !a.require(w, r, actAddTags) {
			return
		}
	}
	if len(in.Remove) > 0 {
		err := c.eng.RemoveTags(name, in.Remove)
		c.auditResult(r, cl, actRemoveTags, a.arn, err)
		if err != nil {
			writeEngineError(w, err)
			return
		}
	}
	if len(in.Add) > 0 {
		err := c.eng.AddTags(name, in.Add)
		c.auditResult(r, cl, actAddTags, a.arn, err)
		if err != nil {
			writeEngineError(w, err)
			return
		}
	}
	c.describe(w, cl, name)
}

type consumerInput struct {
	Name string `json:"name"`
}

func (c *Console) registerConsumer(w http.ResponseWriter, r *http.Request, cl *call) {
	var in consumerInput
	name, a, ok := c.streamAction(w, r, cl, &in, actRegisterConsumer)
	if !ok {
		return
	}
	_, err := c.eng.RegisterConsumer(name, in.Name, nil)
	c.answer(w, r, cl, actRegisterConsumer, a.arn, name, err)
}

func (c *Console) deregisterConsumer(w http.ResponseWriter, r *http.Request, cl *call) {
	name, consumer := r.PathValue("stream"), r.PathValue("consumer")
	info, err := c.eng.Consumer(name, consumer)
	var arn string
	if err == nil {
		arn = c.scope.ConsumerARN(name, consumer, info.Created)
	} else {
		// Judge as the Kinesis door does a consumer it cannot find: on
		// the ARN without its registration time, so that only a user who
		// may act on it learns it does not exist.
		arn = c.scope.StreamARN(name) + "/consumer/" + consumer
	}
	if !c.allowed(cl, actDeregisterConsumer, arn, nil) {
		c.deny(w, r, cl, actDeregisterConsumer, arn)
		return
	}
	if err == nil {
		err = c.eng.DeregisterConsumer(name, consumer)
	}
	c.answer(w, r, cl, actDeregisterConsumer, arn, name, err)
}

// streamAction begins an action on the stream named in the path: it reads
// the request's JSON body into in and checks that the caller may do action
// on the stream. When it returns ok false it has answered.
func (c *Console) streamAction(w http.ResponseWriter, r *http.Request, cl *call, in any, action string) (name string, a *streamAccess, ok bool) {
	name = r.PathValue("stream")
	if !readJSON(w, r, in) {
		return "", nil, false
	}
	a = c.access(cl, name)
	if !a.require(w, r, action) {
		return "", nil, false
	}
	return name, a, true
}

// answer ends an action on a stream: it audits the action's outcome and
// answers with the engine's error, or with the stream as it now is.
func (c *Console) answer(w http.ResponseWriter, r *http.Request, cl *call, action, arn, name string, err error) {
	c.auditResult(r, cl, action, arn, err)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	c.describe(w, cl, name)
}

// errorCode is the Kinesis exception name of an engine error, for the audit
// log.
func errorCode(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code.String()
	}
	return "InternalFailureException"
}
