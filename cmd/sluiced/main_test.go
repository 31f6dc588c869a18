package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluicedb/sluice/server"
)

// TestParseConfig_FlagsWinOverFileAndDefaultsFillTheRest: a setting given
// on the command line wins over the config file, the file wins over a
// flag's default, and defaults fill what neither sets.
func TestParseConfig_FlagsWinOverFileAndDefaultsFillTheRest(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluiced.json")
	if err := os.WriteFile(file, []byte(`{"listen": "127.0.0.1:9000", "region": "eu-west-1", "max_conns": 7, "idle_timeout": "2m"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"--config", file, "--region", "ap-south-1", "--segment-size", "4096"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{
		DataDir: "./data", Listen: "127.0.0.1:9000", HTTP: "127.0.0.1:4567", Fsync: "always",
		SyncInterval: server.Duration(50 * time.Millisecond), Quotas: "kinesis", SegmentSize: 4096, MaxConns: 7,
		MaxInFlightBytes: 64 << 20, IdleTimeout: server.Duration(2 * time.Minute), MaxInFlightTotal: 1 << 30,
		MaxHTTPConns: 10000, HTTP2MaxStreams: 100, HeaderTimeout: server.Duration(10 * time.Second),
		BodyTimeout: server.Duration(30 * time.Second), FrameTimeout: server.Duration(30 * time.Second),
		WriteTimeout: server.Duration(time.Minute), MaxStreams: 1000, MaxShards: 10000,
		Region: "ap-south-1", Account: "000000000000",
	}
	if cfg.Logger == nil {
		t.Fatal("no logger")
	}
	cfg.Logger = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config\n got  %+v\n want %+v", cfg, want)
	}
}

func TestParseConfig_RefusesUnknownFileKeysAndArguments(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluiced.json")
	if err := os.WriteFile(file, []byte(`{"listen_addr": "127.0.0.1:9000"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseConfig([]string{"--config", file}, io.Discard); err == nil {
		t.Error("a config file with an unknown key was accepted")
	}
	if _, err := parseConfig([]string{"serve"}, io.Discard); err == nil {
		t.Error("a positional argument was accepted")
	}
}
