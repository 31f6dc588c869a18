package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kinesis"
)

// Prefix is the path the console is served under; the server mounts the
// Console on it.
const Prefix = "/console/"

//go:embed assets
var assets embed.FS

// Options configures a Console. Zero fields take the documented defaults.
type Options struct {
	// Engine is the server's engine. Required.
	Engine *engine.Engine
	// Auth is the users file in force (sluiced --auth); nil serves the
	// console without sign-in, as the Kinesis door serves its API.
	Auth *auth.Store
	// Audit, if set, receives a line for every action taken through the
	// console and every request it refused, with door "console".
	Audit *auth.Audit
	// Region and Account are those of the ARNs policies name; defaults
	// us-east-1 and 000000000000, as the Kinesis door's.
	Region, Account string
	// SampleEvery is how often the sampler reads the shards' counters for
	// the charts; default 5s. Rates are averaged over one interval.
	SampleEvery time.Duration
	// History is how many samples each shard keeps; default 72 (six
	// minutes at 5s). A sample costs 28 bytes per shard.
	History int
	// SessionTTL is how long a sign-in lasts; default 8h. A session unused
	// for a quarter of it (2h by default) ends sooner.
	SessionTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the console's errors; default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.SampleEvery <= 0 {
		o.SampleEvery = 5 * time.Second
	}
	if o.History <= 0 {
		o.History = 72
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Region == "" {
		o.Region = kinesis.DefaultRegion
	}
	if o.Account == "" {
		o.Account = kinesis.DefaultAccount
	}
}

// Console serves the web console and its API. Close stops its sampler.
type Console struct {
	opts     Options
	eng      *engine.Engine
	scope    kinesis.ARNScope
	mux      *http.ServeMux
	static   fs.FS
	hist     *history
	sessions *sessions

	// ctx is cancelled by Close: it ends the live tails' waits, so that
	// a server shutting down does not wait them out.
	ctx    context.Context
	cancel context.CancelFunc

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New returns a console over opts.Engine and starts its sampler.
func New(opts Options) (*Console, error) {
	if opts.Engine == nil {
		return nil, errors.New("console: Options.Engine is required")
	}
	opts.setDefaults()
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	c := &Console{
		opts: opts, eng: opts.Engine, static: static,
		scope:    kinesis.ARNScope{Partition: kinesis.DefaultPartition, Region: opts.Region, Account: opts.Account},
		hist:     newHistory(opts.History),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		sessions: newSessions(opts.SessionTTL, opts.Now),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.scope.Validate(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.routes()
	c.hist.sample(c.eng, c.opts.Now())
	go c.sampleLoop()
	return c, nil
}

// sampleLoop reads every shard's counters each SampleEvery into the
// history (and ends expired sessions), until Close. It is the only writer of the history besides New's
// first sample; readers take the history's lock.
func (c *Console) sampleLoop() {
	defer close(c.done)
	t := time.NewTicker(c.opts.SampleEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.hist.sample(c.eng, c.opts.Now())
			c.sessions.sweep()
		}
	}
}

// Close stops the sampler and ends the live tails' waits (their requests
// answer with what they have). It is safe to call more than once.
func (c *Console) Close() {
	c.stopOnce.Do(func() {
		c.cancel()
		close(c.stop)
	})
	<-c.done
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /console/{$}", c.serveIndex)
	m.HandleFunc("GET /console/assets/{file...}", c.serveAsset)

	m.HandleFunc("GET /console/api/session", c.getSession)
	m.HandleFunc("POST /console/api/login", c.login)
	m.HandleFunc("POST /console/api/logout", c.action(c.logout))

	m.HandleFunc("GET /console/api/streams", c.user(c.listStreams))
	m.HandleFunc("POST /console/api/streams", c.action(c.createStream))
	m.HandleFunc("GET /console/api/streams/{stream}", c.user(c.describeStream))
	m.HandleFunc("DELETE /console/api/streams/{stream}", c.action(c.deleteStream))
	m.HandleFunc("GET /console/api/streams/{stream}/metrics", c.user(c.streamMetrics))
	m.HandleFunc("GET /console/api/streams/{stream}/splitkey", c.user(c.splitKey))
	m.HandleFunc("POST /console/api/streams/{stream}/split", c.action(c.split))
	m.HandleFunc("POST /console/api/streams/{stream}/merge", c.action(c.merge))
	m.HandleFunc("POST /console/api/streams/{stream}/scale", c.action(c.scale))
	m.HandleFunc("POST /console/api/streams/{stream}/retention", c.action(c.retention))
	m.HandleFunc("POST /console/api/streams/{stream}/tags", c.action(c.tags))
	m.HandleFunc("GET /console/api/streams/{stream}/records", c.user(c.records))
	m.HandleFunc("GET /console/api/streams/{stream}/find", c.user(c.find))
	m.HandleFunc("POST /console/api/streams/{stream}/consumers", c.action(c.registerConsumer))
	m.HandleFunc("DELETE /console/api/streams/{stream}/consumers/{consumer}", c.action(c.deregisterConsumer))
	m.HandleFunc("/console/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "%s %s is not an API of the console; docs/console.md lists them", r.Method, r.URL.Path)
	})
	c.mux = m
}

// ServeHTTP serves the console's pages and API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The page loads only its own scripts and styles, and no other site may
	// frame it.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) serveIndex(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(c.static, "index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "console page missing from the binary: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(c.static, path.Clean(name))
	if err != nil || name == "index.html" {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// maxBody bounds the JSON body of an action: 64 KiB holds any of them
// (tags are the largest: 50 of 128+256 characters).
const maxBody = 64 << 10

// readJSON decodes r's JSON body into v, refusing bodies that are not JSON
// (so that a cross-site form cannot post one), oversized, or hold unknown
// members.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send the request body as JSON with Content-Type: application/json (got %q)", r.Header.Get("Content-Type"))
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "request body is not the expected JSON: %v", err)
		return false
	}
	return true
}

// writeJSON writes v as the JSON response with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// apiError is the body of every error response: {"error": "..."} with the
// reason said plainly.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // the Kinesis exception name, for engine errors
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeErrorBody(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

func writeErrorBody(w http.ResponseWriter, status int, e apiError) {
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// writeEngineError answers with an engine error, its status chosen by its
// code.
func writeEngineError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var e *api.Error
	code := ""
	if errors.As(err, &e) {
		code = e.Code.String()
		switch e.Code {
		case api.CodeInvalidArgument, api.CodeValidation:
			status = http.StatusBadRequest
		case api.CodeResourceNotFound:
			status = http.StatusNotFound
		case api.CodeResourceInUse:
			status = http.StatusConflict
		case api.CodeLimitExceeded, api.CodeThroughputExceeded:
			status = http.StatusTooManyRequests
		case api.CodeAccessDenied, api.CodeKMSAccessDenied:
			status = http.StatusForbidden
		}
	}
	writeErrorBody(w, status, apiError{Error: err.Error(), Code: code})
}

// clientAddr is the request's remote address for the audit log.
func clientAddr(r *http.Request) string { return r.RemoteAddr }
