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
	t.Setenv("SLUICE_METRICS_TOKEN", "")
	t.Setenv("SLUICE_KMS_PASSPHRASE", "")
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
		AutoscaleWindow: server.Duration(5 * time.Minute), AutoscaleMergeWindow: server.Duration(30 * time.Minute),
		AutoscaleSplitThreshold: 0.8, AutoscaleMergeThreshold: 0.2,
		ReplicationFactor: 3, ElectionTimeout: server.Duration(time.Second),
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

// TestParseConfig_SecurityFlags: the TLS, auth and exposure flags reach the
// configuration, and the metrics token comes from $SLUICE_METRICS_TOKEN
// unless --metrics-token names one.
func TestParseConfig_SecurityFlags(t *testing.T) {
	t.Setenv("SLUICE_METRICS_TOKEN", "from-env")
	cfg, err := parseConfig([]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem",
		"--auth", "users.json", "--audit-log", "audit.log", "--insecure"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCert != "c.pem" || cfg.TLSKey != "k.pem" || cfg.TLSClientCA != "ca.pem" || cfg.AuthFile != "users.json" ||
		cfg.AuditLog != "audit.log" || !cfg.Insecure || cfg.MetricsToken != "from-env" {
		t.Fatalf("config %+v", cfg)
	}
	cfg, err = parseConfig([]string{"--metrics-token", "from-flag"}, io.Discard)
	if err != nil || cfg.MetricsToken != "from-flag" {
		t.Fatalf("--metrics-token: %q, %v", cfg.MetricsToken, err)
	}
	file := filepath.Join(t.TempDir(), "sluiced.json")
	if err := os.WriteFile(file, []byte(`{"tls_cert": "f.pem", "tls_key": "fk.pem", "metrics_token": "from-file", "insecure": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = parseConfig([]string{"--config", file}, io.Discard)
	if err != nil || cfg.TLSCert != "f.pem" || cfg.TLSKey != "fk.pem" || cfg.MetricsToken != "from-file" || !cfg.Insecure {
		t.Fatalf("config file: %+v, %v", cfg, err)
	}
}

// TestParseConfig_KMSKeys: --kms-keys wins over the file's kms_keys, and the
// keyring's passphrase comes from $SLUICE_KMS_PASSPHRASE only.
func TestParseConfig_KMSKeys(t *testing.T) {
	t.Setenv("SLUICE_KMS_PASSPHRASE", "correct horse")
	file := filepath.Join(t.TempDir(), "sluiced.json")
	if err := os.WriteFile(file, []byte(`{"kms_keys": "/from/file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"--config", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KMSKeys != "/from/file" || cfg.KMSPassphrase != "correct horse" {
		t.Fatalf("kms_keys %q, passphrase %q; want /from/file and the environment's", cfg.KMSKeys, cfg.KMSPassphrase)
	}
	cfg, err = parseConfig([]string{"--config", file, "--kms-keys", "/mnt/keys"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KMSKeys != "/mnt/keys" {
		t.Fatalf("--kms-keys gave %q; want /mnt/keys", cfg.KMSKeys)
	}
}

// TestParseConfig_CORSOrigins: --cors-origins wins over the file's
// cors_origins, and is empty (the handler's default) without either.
func TestParseConfig_CORSOrigins(t *testing.T) {
	cfg, err := parseConfig(nil, io.Discard)
	if err != nil || cfg.CORSOrigins != "" {
		t.Fatalf("default: %q, %v", cfg.CORSOrigins, err)
	}
	file := filepath.Join(t.TempDir(), "sluiced.json")
	if err := os.WriteFile(file, []byte(`{"cors_origins": "https://file.example"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = parseConfig([]string{"--config", file}, io.Discard)
	if err != nil || cfg.CORSOrigins != "https://file.example" {
		t.Fatalf("config file: %q, %v", cfg.CORSOrigins, err)
	}
	cfg, err = parseConfig([]string{"--config", file, "--cors-origins", "https://a.example,http://localhost:3000"}, io.Discard)
	if err != nil || cfg.CORSOrigins != "https://a.example,http://localhost:3000" {
		t.Fatalf("--cors-origins: %q, %v", cfg.CORSOrigins, err)
	}
}
