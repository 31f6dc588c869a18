package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluicedb/sluice/agent"
	"github.com/sluicedb/sluice/client"
)

// agentAbout is the description `sluice agent -h` prints.
const agentAbout = `Tail log files and ship their lines into streams, as the Kinesis Agent does,
without losing a line across rotations, restarts and kill -9. The
configuration is the Kinesis Agent's agent.json:

  {"checkpointFile": "/var/lib/sluice-agent/checkpoints",
   "flows": [{"filePattern": "/var/log/app/*.log", "stream": "logs",
              "partitionKeyOption": "RANDOM", "initialPosition": "START_OF_FILE",
              "multiLineStartPattern": "^\\d{4}-\\d{2}-\\d{2}",
              "maxBufferAgeMillis": 1000, "maxBufferSizeRecords": 500,
              "maxBufferSizeBytes": 4194304,
              "dataProcessingOptions": [{"optionName": "LOGTOJSON",
                                         "logFormat": "COMBINEDAPACHELOG"}]}]}

Records go to a sluice server over the binary protocol (--addr, with the
usual --tls and credential flags), or to any Kinesis endpoint over the Kinesis
API with --api kinesis --endpoint URL (requests signed with SigV4). Each
file's checkpoint moves only past lines the destination acknowledged, so after
a crash the only lines sent twice are the ones sent since the last checkpoint.
docs/agent.md describes every option.

examples:
  sluice agent --config /etc/sluice/agent.json
  sluice agent --config agent.json --once
  sluice agent --config agent.json --api kinesis --endpoint https://kinesis.eu-west-1.amazonaws.com --region eu-west-1`

// agentMain runs `sluice agent`.
func agentMain(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("agent", "--config FILE [flags]", agentAbout)
	configPath := f.String("config", "", "the agent configuration (agent.json); required")
	once := f.Bool("once", false, "read every file to its end, send it all, write the checkpoints and exit, instead of tailing")
	apiName := f.String("api", "wire", "where to send: wire (a sluice server's binary protocol at --addr) or kinesis (the Kinesis API at --endpoint)")
	endpoint := f.String("endpoint", "", "the Kinesis API URL of --api kinesis (default the configuration's kinesis.endpoint)")
	region := f.String("region", "", "the region to sign Kinesis API requests for (default $AWS_REGION, else us-east-1)")
	poll := f.Duration("poll", 250*time.Millisecond, "how often to look at the files for new lines, new files and rotations")
	partial := f.Duration("partial-line-timeout", time.Second, "at the end of --once, how long a partial last line waits for its newline before it is sent as it is")
	progress := f.Duration("progress", 10*time.Second, "how often to print a progress line on standard error (0: only the summary at the end)")
	verbose := f.Bool("verbose", false, "log every new, rotated and finished file")
	if _, err := f.parse(args, 0, 0, ""); err != nil {
		return err
	}
	if *configPath == "" {
		return usagef("agent", "--config is missing; give the agent configuration file (see sluice agent -h)")
	}
	cfg, err := agent.LoadConfig(*configPath)
	if err != nil {
		return usagef("agent", "%v", err)
	}
	accessKey, secretKey := a.accessKey, a.secretKey
	if accessKey == "" && secretKey == "" {
		accessKey, secretKey = cfg.AccessKeyID, cfg.SecretAccessKey
	}

	var dest agent.Destination
	switch *apiName {
	case "wire":
		if *endpoint != "" || *region != "" {
			return usagef("agent", "--endpoint and --region are for --api kinesis; the binary protocol goes to --addr")
		}
		da := *a
		da.accessKey, da.secretKey = accessKey, secretKey
		dest = agent.NewWireDestination(func(ctx context.Context) (*client.Client, error) { return da.dial(ctx) })
	case "kinesis":
		url := *endpoint
		if url == "" {
			url = cfg.KinesisEndpoint
		}
		if url == "" {
			return usagef("agent", "--api kinesis needs --endpoint URL (or kinesis.endpoint in the configuration): sluiced's --http address such as http://127.0.0.1:4567, or https://kinesis.REGION.amazonaws.com")
		}
		if a.addrSet {
			return usagef("agent", "--addr is for --api wire; the Kinesis API goes to --endpoint")
		}
		tlsConfig, err := a.tls.config()
		if err != nil {
			return usagef("agent", "%v", err)
		}
		creds, _, err := resolveCredentials(accessKey, secretKey, os.Getenv)
		if err != nil {
			return err
		}
		if creds == nil {
			return usagef("agent", "--api kinesis signs its requests: give --access-key and --secret-key, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a profile to ~/.aws/credentials")
		}
		reg := *region
		if reg == "" {
			reg = os.Getenv("AWS_REGION")
		}
		kd, err := agent.NewKinesisDestination(agent.KinesisOptions{Endpoint: url, Region: reg, Credentials: creds,
			SessionToken: os.Getenv("AWS_SESSION_TOKEN"), TLS: tlsConfig})
		if err != nil {
			return usagef("agent", "%v", err)
		}
		dest = kd
	default:
		return usagef("agent", "--api %q; use wire or kinesis", *apiName)
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	if len(cfg.Ignored) > 0 {
		log.Warn("configuration keys of the Kinesis Agent that sluice agent ignores", "keys", strings.Join(cfg.Ignored, ", "))
	}
	opts := agent.Options{
		Config: cfg, Destination: dest, Once: *once, PollInterval: *poll, PartialLineTimeout: *partial, RequestTimeout: a.timeout,
		Log: log,
	}
	opts.Progress, opts.ProgressInterval = a.stderr, *progress
	if *progress <= 0 {
		opts.ProgressInterval = -1
	}
	ag, err := agent.New(opts)
	if err != nil {
		dest.Close()
		return err
	}
	if err := ag.Run(ctx); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}
