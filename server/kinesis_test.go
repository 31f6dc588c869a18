package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/sluicedb/sluice/internal/awshttp"
)

// startAt starts a server on dir with free ports.
func startAt(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Start(Config{
		DataDir: dir, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "unlimited", Fsync: "none",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stop(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func kinesisClient(s *Server, hc *http.Client) *sdk.Client {
	opts := sdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.HTTPAddr().String()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSERVER", "secret", ""), Retryer: aws.NopRetryer{},
		HTTPClient: awshttp.HTTPClient(),
	}
	if hc != nil {
		opts.HTTPClient = hc
	}
	return sdk.New(opts)
}

func TestServer_KinesisIteratorsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := startAt(t, dir)
	c := kinesisClient(s, nil)
	if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("orders"), Data: []byte("kept"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	stop(t, s)

	key, err := os.ReadFile(filepath.Join(dir, iteratorKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, iteratorKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != iteratorKeyLen || fi.Mode().Perm() != 0o600 || bytes.Equal(key, make([]byte, iteratorKeyLen)) {
		t.Fatalf("iterator key: %d bytes, mode %v", len(key), fi.Mode().Perm())
	}

	s = startAt(t, dir)
	defer stop(t, s)
	c = kinesisClient(s, nil)
	out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("iterator issued before the restart: %v", err)
	}
	if len(out.Records) != 1 || string(out.Records[0].Data) != "kept" {
		t.Fatalf("read %+v", out.Records)
	}
	again, err := os.ReadFile(filepath.Join(dir, iteratorKeyFile))
	if err != nil || !bytes.Equal(again, key) {
		t.Fatal("the restart replaced the iterator key")
	}
}

func TestServer_KinesisRefusesDamagedIteratorKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, iteratorKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		stop(t, s)
		t.Fatal("Start accepted a 5-byte iterator key")
	}
	if !strings.Contains(err.Error(), "iterator key") {
		t.Fatalf("error %v does not name the iterator key", err)
	}
}

func TestServer_KinesisOverH2CAndMetricsStillServed(t *testing.T) {
	s := startAt(t, t.TempDir())
	defer stop(t, s)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := kinesisClient(s, &http.Client{Transport: tr})
	if _, err := c.CreateStream(context.Background(), &sdk.CreateStreamInput{StreamName: aws.String("h2"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListStreams(context.Background(), &sdk.ListStreamsInput{})
	if err != nil || len(out.StreamNames) != 1 {
		t.Fatalf("ListStreams over h2c: %v %v", out, err)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + s.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
}

func TestServer_ShutdownEndsSubscriptions(t *testing.T) {
	ctx := context.Background()
	s := startAt(t, t.TempDir())
	c := kinesisClient(s, nil)
	if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterStreamConsumer(ctx, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := kinesisClient(s, nil).SubscribeToShard(ctx, &sdk.SubscribeToShardInput{ConsumerARN: reg.Consumer.ConsumerARN,
		ShardId: aws.String("shardId-000000000000"), StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest}})
	if err != nil {
		t.Fatal(err)
	}
	stream := sub.GetStream()
	defer stream.Close()
	done := make(chan error, 1)
	go func() {
		for range stream.Events() {
		}
		done <- stream.Err()
	}()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a subscription open: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("subscription ended with %v; want a clean end", err)
	}
}
