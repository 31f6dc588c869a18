package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sluicedb/sluice/api"
)

// Config is an agent configuration file, in the shape of the Kinesis
// Agent's agent.json: a checkpoint file and a list of flows, each tailing
// the files of one glob into one stream.
type Config struct {
	// CheckpointFile is where the per-file checkpoints live. Required.
	CheckpointFile string `json:"checkpointFile"`
	// KinesisEndpoint is the Kinesis API URL used with --api kinesis when
	// --endpoint is not given ("kinesis.endpoint", as the Kinesis Agent
	// names it).
	KinesisEndpoint string `json:"kinesis.endpoint"`
	// AccessKeyID and SecretAccessKey are credentials to sign with when
	// the command line and the environment give none.
	AccessKeyID     string `json:"awsAccessKeyId"`
	SecretAccessKey string `json:"awsSecretAccessKey"`
	Flows           []Flow `json:"flows"`

	// Keys of the Kinesis Agent's configuration that have no meaning here;
	// they are accepted so that its files load, and listed in Ignored.
	CloudWatchEmitMetrics json.RawMessage `json:"cloudwatch.emitMetrics"`
	CloudWatchEndpoint    json.RawMessage `json:"cloudwatch.endpoint"`
	FirehoseEndpoint      json.RawMessage `json:"firehose.endpoint"`
	LogLevel              json.RawMessage `json:"log.level"`
	// Ignored names the keys above that the file gives.
	Ignored []string `json:"-"`
}

// Flow is one glob of files shipped into one stream.
type Flow struct {
	// FilePattern is a glob (path/filepath.Match syntax) of the files to
	// tail; the directory part may hold wildcards too. Rotated generations
	// of a file (app.log.1, app.log-20240101) may match it or not: a file
	// rotated by rename is finished from its open handle either way, but
	// only generations the glob matches are found after a restart.
	FilePattern string `json:"filePattern"`
	// Stream is the destination stream ("kinesisStream" is accepted too).
	Stream        string `json:"stream"`
	KinesisStream string `json:"kinesisStream"`
	// PartitionKeyOption is RANDOM (default), DETERMINISTIC (a hash of the
	// record) or JSON_FIELD (PartitionKeyField of the record's JSON).
	PartitionKeyOption string `json:"partitionKeyOption"`
	// PartitionKeyField is the field of JSON_FIELD: a top-level name, or a
	// dotted path into nested objects ("user.id").
	PartitionKeyField string `json:"partitionKeyField"`
	// InitialPosition is where a file found at the agent's first start
	// (with no checkpoint) begins: START_OF_FILE (default) or
	// END_OF_FILE. Files that appear later are read from their start.
	InitialPosition string `json:"initialPosition"`
	// MultiLineStartPattern, if set, is a regular expression matching the
	// first line of a record: the lines up to the next match are one
	// record.
	MultiLineStartPattern string `json:"multiLineStartPattern"`
	// SkipHeaderLines skips this many lines at the start of each file.
	SkipHeaderLines int `json:"skipHeaderLines"`
	// MaxBufferAgeMillis is how long a record waits for its batch to fill
	// before the batch is sent; default 1000.
	MaxBufferAgeMillis int64 `json:"maxBufferAgeMillis"`
	// MaxBufferSizeRecords bounds the records of one batch (one PutRecords
	// request); default and maximum 500.
	MaxBufferSizeRecords int `json:"maxBufferSizeRecords"`
	// MaxBufferSizeBytes bounds the keys and data of one batch; default
	// and maximum 4 MiB (the Kinesis PutRecords limit is 5 MiB).
	MaxBufferSizeBytes int `json:"maxBufferSizeBytes"`
	// DataProcessingOptions transform each record in order.
	DataProcessingOptions []ProcessingOption `json:"dataProcessingOptions"`

	// DeliveryStream (a Firehose destination) is refused with a message;
	// TruncatedRecordTerminator is accepted and ignored (listed in
	// Config.Ignored): a line longer than a record is split, not cut.
	DeliveryStream            string          `json:"deliveryStream"`
	TruncatedRecordTerminator json.RawMessage `json:"truncatedRecordTerminator"`
}

// ProcessingOption is one entry of a flow's dataProcessingOptions.
type ProcessingOption struct {
	// OptionName is SINGLELINE, LOGTOJSON, CSVTOJSON or ADDMETADATA.
	OptionName string `json:"optionName"`
	// LogFormat (LOGTOJSON): COMMONAPACHELOG, COMBINEDAPACHELOG, SYSLOG
	// (RFC 3164), RFC3339SYSLOG (RFC 3164 with an RFC 3339 timestamp, as
	// rsyslog writes it) or RFC5424SYSLOG.
	LogFormat string `json:"logFormat"`
	// MatchPattern (LOGTOJSON) replaces the format's regular expression;
	// its groups are named by CustomFieldNames.
	MatchPattern string `json:"matchPattern"`
	// CustomFieldNames names the fields (LOGTOJSON: replacing the format's
	// names; CSVTOJSON: the columns, required).
	CustomFieldNames []string `json:"customFieldNames"`
	// Delimiter (CSVTOJSON) separates the columns; default ",".
	Delimiter string `json:"delimiter"`
	// ADDMETADATA: which of file, host and timestamp to add (each default
	// true), and fixed key-value pairs.
	File      *bool             `json:"file"`
	Host      *bool             `json:"host"`
	Timestamp *bool             `json:"timestamp"`
	Metadata  map[string]string `json:"metadata"`
}

// Partition key options.
const (
	KeyRandom        = "RANDOM"
	KeyDeterministic = "DETERMINISTIC"
	KeyJSONField     = "JSON_FIELD"
)

// Initial positions.
const (
	StartOfFile = "START_OF_FILE"
	EndOfFile   = "END_OF_FILE"
)

// Batch limits of a flow.
const (
	defaultBufferAge     = time.Second
	maxBatchBytes        = 4 << 20 // 4 MiB: under Kinesis's 5 MiB per PutRecords
	defaultBatchBytes    = maxBatchBytes
	maxRecordBytes       = api.DefaultMaxRecord
	maxPartitionKeyRunes = 256
	// cutLen is where a line longer than a record can be is cut: the rest
	// of the record limit holds the longest key (256 runes of 4 bytes).
	cutLen = maxRecordBytes - 4*maxPartitionKeyRunes
)

// LoadConfig reads and validates a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the agent configuration: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes and validates a configuration. Unknown keys are
// refused by name, so that a misspelt option is not silently ignored.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return nil, fmt.Errorf("%w: line %d: %v", ErrConfig, line, err)
		}
		if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, fmt.Errorf("%w: unknown key %s; the keys are checkpointFile, kinesis.endpoint, awsAccessKeyId, awsSecretAccessKey and flows (filePattern, stream, partitionKeyOption, partitionKeyField, initialPosition, multiLineStartPattern, skipHeaderLines, maxBufferAgeMillis, maxBufferSizeRecords, maxBufferSizeBytes, dataProcessingOptions; see docs/agent.md)", ErrConfig, msg)
		}
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	if c.CheckpointFile == "" {
		return fmt.Errorf("%w: checkpointFile is missing; name the file where the agent keeps how far it has shipped each file", ErrConfig)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return fmt.Errorf("%w: awsAccessKeyId and awsSecretAccessKey go together: give both or neither", ErrConfig)
	}
	for _, k := range []struct {
		name string
		v    json.RawMessage
	}{{"cloudwatch.emitMetrics", c.CloudWatchEmitMetrics}, {"cloudwatch.endpoint", c.CloudWatchEndpoint},
		{"firehose.endpoint", c.FirehoseEndpoint}, {"log.level", c.LogLevel}} {
		if k.v != nil {
			c.Ignored = append(c.Ignored, k.name)
		}
	}
	for i := range c.Flows {
		if c.Flows[i].TruncatedRecordTerminator != nil {
			c.Ignored = append(c.Ignored, fmt.Sprintf("flows[%d].truncatedRecordTerminator", i))
		}
	}
	if len(c.Flows) == 0 {
		return fmt.Errorf("%w: flows is empty; give at least one {\"filePattern\": ..., \"stream\": ...}", ErrConfig)
	}
	seen := map[string]int{}
	for i := range c.Flows {
		f := &c.Flows[i]
		if err := f.validate(); err != nil {
			return fmt.Errorf("%w: flows[%d]: %w", ErrConfig, i, err)
		}
		if j, dup := seen[f.key()]; dup {
			return fmt.Errorf("%w: flows[%d] and flows[%d] both ship %s into %s; a file would be sent twice", ErrConfig, j, i, f.FilePattern, f.Stream)
		}
		seen[f.key()] = i
	}
	return nil
}

// key identifies a flow's entries in the checkpoint file.
func (f *Flow) key() string { return f.FilePattern + " -> " + f.Stream }

func (f *Flow) validate() error {
	if f.DeliveryStream != "" {
		return fmt.Errorf("deliveryStream %q is a Firehose destination, which sluice agent does not send to; name a stream with \"stream\"", f.DeliveryStream)
	}
	if f.FilePattern == "" {
		return errors.New("filePattern is missing; give a glob such as /var/log/app/*.log")
	}
	if !filepath.IsAbs(f.FilePattern) {
		return fmt.Errorf("filePattern %q is relative; give an absolute path", f.FilePattern)
	}
	if _, err := filepath.Match(f.FilePattern, ""); err != nil {
		return fmt.Errorf("filePattern %q is not a valid glob: %v", f.FilePattern, err)
	}
	switch {
	case f.Stream != "" && f.KinesisStream != "" && f.Stream != f.KinesisStream:
		return fmt.Errorf("stream %q and kinesisStream %q differ; give one of them", f.Stream, f.KinesisStream)
	case f.Stream == "":
		f.Stream = f.KinesisStream
	}
	if f.Stream == "" {
		return fmt.Errorf("the flow of %s names no stream; add \"stream\": \"NAME\"", f.FilePattern)
	}
	if !validStreamName(f.Stream) {
		return fmt.Errorf("stream %q is not a stream name; a name is 1 to 128 of a-z, A-Z, 0-9, _, . and -", f.Stream)
	}
	switch f.PartitionKeyOption {
	case "":
		f.PartitionKeyOption = KeyRandom
	case KeyRandom, KeyDeterministic:
	case KeyJSONField:
		if f.PartitionKeyField == "" {
			return errors.New("partitionKeyOption JSON_FIELD needs partitionKeyField, the name of the field whose value is the key")
		}
	default:
		return fmt.Errorf("partitionKeyOption %q; use RANDOM, DETERMINISTIC or JSON_FIELD", f.PartitionKeyOption)
	}
	if f.PartitionKeyField != "" && f.PartitionKeyOption != KeyJSONField {
		return fmt.Errorf("partitionKeyField %q is given but partitionKeyOption is %s; set it to JSON_FIELD", f.PartitionKeyField, f.PartitionKeyOption)
	}
	switch f.InitialPosition {
	case "":
		f.InitialPosition = StartOfFile
	case StartOfFile, EndOfFile:
	default:
		return fmt.Errorf("initialPosition %q; use START_OF_FILE or END_OF_FILE", f.InitialPosition)
	}
	if f.MultiLineStartPattern != "" {
		if _, err := regexp.Compile(f.MultiLineStartPattern); err != nil {
			return fmt.Errorf("multiLineStartPattern %q: %v", f.MultiLineStartPattern, err)
		}
	}
	if f.SkipHeaderLines < 0 {
		return fmt.Errorf("skipHeaderLines is %d; it must be 0 or more", f.SkipHeaderLines)
	}
	switch {
	case f.MaxBufferAgeMillis < 0:
		return fmt.Errorf("maxBufferAgeMillis is %d; it must be positive", f.MaxBufferAgeMillis)
	case f.MaxBufferAgeMillis == 0:
		f.MaxBufferAgeMillis = defaultBufferAge.Milliseconds()
	}
	switch {
	case f.MaxBufferSizeRecords < 0 || f.MaxBufferSizeRecords > api.MaxPutRecords:
		return fmt.Errorf("maxBufferSizeRecords is %d; it must be 1 to %d", f.MaxBufferSizeRecords, api.MaxPutRecords)
	case f.MaxBufferSizeRecords == 0:
		f.MaxBufferSizeRecords = api.MaxPutRecords
	}
	switch {
	case f.MaxBufferSizeBytes < 0 || f.MaxBufferSizeBytes > maxBatchBytes:
		return fmt.Errorf("maxBufferSizeBytes is %d; it must be 1 to %d", f.MaxBufferSizeBytes, maxBatchBytes)
	case f.MaxBufferSizeBytes == 0:
		f.MaxBufferSizeBytes = defaultBatchBytes
	}
	for i := range f.DataProcessingOptions {
		if _, err := newProcessor(&f.DataProcessingOptions[i]); err != nil {
			return fmt.Errorf("dataProcessingOptions[%d]: %w", i, err)
		}
	}
	return nil
}

// bufferAge is MaxBufferAgeMillis as a duration.
func (f *Flow) bufferAge() time.Duration {
	return time.Duration(f.MaxBufferAgeMillis) * time.Millisecond
}

// validStreamName reports whether s matches [a-zA-Z0-9_.-]{1,128}.
func validStreamName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
