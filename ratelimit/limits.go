package ratelimit

import "fmt"

// Limits is the quota of one shard. Every field is a rate per second; 0 means
// unlimited. It is persisted in the engine's catalog as JSON, so the tags
// are part of the catalog format and must not change.
type Limits struct {
	// WriteBytesPerSec bounds the bytes put into the shard (record data plus
	// partition key, as Kinesis counts them). Kinesis: 1 MiB/s.
	WriteBytesPerSec int64 `json:"write_bytes_per_sec"`
	// WriteRecordsPerSec bounds the records put into the shard. Kinesis: 1000.
	WriteRecordsPerSec int64 `json:"write_records_per_sec"`
	// ReadBytesPerSec bounds the bytes GetRecords returns from the shard,
	// shared by all its polling readers. Kinesis: 2 MiB/s.
	ReadBytesPerSec int64 `json:"read_bytes_per_sec"`
	// ReadCallsPerSec bounds GetRecords calls on the shard. Kinesis: 5.
	ReadCallsPerSec int64 `json:"read_calls_per_sec"`
	// ConsumerBytesPerSec bounds the bytes pushed to each enhanced fan-out
	// consumer of the shard, independently of other consumers. Kinesis:
	// 2 MiB/s.
	ConsumerBytesPerSec int64 `json:"consumer_bytes_per_sec"`
}

// Kinesis is the per-shard quota of a provisioned Kinesis Data Streams shard,
// the default for new streams.
var Kinesis = Limits{
	WriteBytesPerSec:    1 << 20,
	WriteRecordsPerSec:  1000,
	ReadBytesPerSec:     2 << 20,
	ReadCallsPerSec:     5,
	ConsumerBytesPerSec: 2 << 20,
}

// Unlimited sets no quota at all; the checks cost one atomic pointer load.
var Unlimited = Limits{}

// Preset returns the Limits named by the --quotas flag: "kinesis" or
// "unlimited". Other names fail with ErrUnknownPreset.
func Preset(name string) (Limits, error) {
	switch name {
	case "kinesis":
		return Kinesis, nil
	case "unlimited":
		return Unlimited, nil
	}
	return Limits{}, fmt.Errorf("ratelimit: quotas %q: use \"kinesis\" or \"unlimited\": %w", name, ErrUnknownPreset)
}

// PresetName is the name Preset knows l by ("kinesis" or "unlimited"), or
// "" if l is no preset.
func (l Limits) PresetName() string {
	switch l {
	case Kinesis:
		return "kinesis"
	case Unlimited:
		return "unlimited"
	}
	return ""
}

// Validate reports the first negative field as an ErrInvalidLimit naming the
// field by its JSON name.
func (l Limits) Validate() error {
	fields := [...]struct {
		name string
		v    int64
	}{
		{"write_bytes_per_sec", l.WriteBytesPerSec},
		{"write_records_per_sec", l.WriteRecordsPerSec},
		{"read_bytes_per_sec", l.ReadBytesPerSec},
		{"read_calls_per_sec", l.ReadCallsPerSec},
		{"consumer_bytes_per_sec", l.ConsumerBytesPerSec},
	}
	for _, f := range fields {
		if f.v < 0 {
			return fmt.Errorf("ratelimit: %s is %d; use 0 for unlimited or a positive rate: %w", f.name, f.v, ErrInvalidLimit)
		}
	}
	return nil
}

// IsUnlimited reports whether l sets no quota at all.
func (l Limits) IsUnlimited() bool { return l == Unlimited }
