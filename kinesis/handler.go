package kinesis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/budget"
	"github.com/sluicedb/sluice/internal/ratelog"
)

// DefaultMaxBodyBytes bounds a request body: 16 MiB holds the largest
// PutRecords call (10 MiB of data, base64-encoded in JSON to 13.3 MiB, plus
// 500 partition keys of up to 256 escaped characters).
const DefaultMaxBodyBytes = 16 << 20

// Defaults of the limits on every other request and on slow clients.
const (
	// DefaultMaxControlBodyBytes bounds the body of a control operation:
	// the largest, a resource policy, is 20 KiB.
	DefaultMaxControlBodyBytes = 1 << 20
	// DefaultBodyTimeout: a body that has not arrived in 30 s after its
	// headers is a stalled client (16 MiB in 30 s is 0.5 MiB/s).
	DefaultBodyTimeout = 30 * time.Second
	// DefaultWriteTimeout: a client that reads nothing of a response or an
	// event for a minute is dropped.
	DefaultWriteTimeout = time.Minute
)

// Defaults of the subscription options, as on AWS.
const (
	// DefaultSubscriptionDuration is how long a SubscribeToShard response
	// lasts before the server ends it and the client subscribes again.
	DefaultSubscriptionDuration = 5 * time.Minute
	// DefaultHeartbeatInterval is the longest a subscription goes without an
	// event: an idle one sends an empty SubscribeToShardEvent this often.
	DefaultHeartbeatInterval = 5 * time.Second
)

// Options configure a Handler. Zero fields take the documented defaults.
type Options struct {
	// Scope is the partition, region and account of the ARNs the handler
	// mints and accepts. Default DefaultARNScope(); an ARN of another scope
	// names a resource that does not exist here.
	Scope ARNScope
	// IteratorKey is the HMAC key of shard iterators and NextTokens: at least
	// 16 bytes, secret. Required. Keep it across restarts (the server stores
	// it in its data directory), or every outstanding iterator turns invalid.
	IteratorKey []byte
	// Now is the clock of iterator and NextToken expiry and of the
	// subscription rate rules. Default time.Now; tests inject one.
	Now func() time.Time
	// Logger receives internal failures. Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds the body of a data operation (PutRecord,
	// PutRecords); larger ones get 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxControlBodyBytes bounds the body of every other operation, none of
	// which needs more than a few KiB. Default DefaultMaxControlBodyBytes.
	MaxControlBodyBytes int64
	// BodyTimeout bounds the arrival of a request body once its headers
	// are in; a client that stalls is disconnected. Default
	// DefaultBodyTimeout; negative disables it.
	BodyTimeout time.Duration
	// WriteTimeout bounds the writing of a response, and of each event of a
	// subscription: a client that stops reading is dropped and what its
	// response held released. Default DefaultWriteTimeout; negative
	// disables it.
	WriteTimeout time.Duration
	// Budget is the server-wide allowance of in-flight request bytes,
	// shared with the other front door; nil means no server-wide limit. A
	// body's declared size (or, without one, the operation's limit) is
	// reserved before the body is read, waiting while the budget is spent.
	Budget *budget.Budget
	// SubscriptionDuration is how long a subscription lasts. Default
	// DefaultSubscriptionDuration (5 minutes, as on AWS).
	SubscriptionDuration time.Duration
	// HeartbeatInterval is the longest a subscription stays silent. Default
	// DefaultHeartbeatInterval (5 s, as on AWS).
	HeartbeatInterval time.Duration
	// IteratorTTL is how long shard iterators stay valid. Default IteratorTTL
	// (5 minutes, as on AWS).
	IteratorTTL time.Duration
	// NextTokenTTL is how long NextTokens stay valid. Default NextTokenTTL
	// (300 s, as on AWS).
	NextTokenTTL time.Duration
	// AllowUnsigned admits requests without SigV4 authentication (AWS
	// answers them with MissingAuthenticationTokenException, as does the
	// handler by default). It cannot be combined with Auth.
	AllowUnsigned bool
	// Auth holds the identities requests are authenticated as. With it,
	// every request must be signed (SigV4) by one of its users for the
	// service "kinesis" in Scope's region, within 15 minutes of Now; the
	// user is the request's identity (UserFrom), and every operation is
	// authorized: the user's identity policy and the resource's policy
	// must allow it (see authorize.go). nil: signatures are parsed but not
	// verified (any credentials are accepted), and every request is
	// allowed.
	Auth *auth.Store
	// Audit, if set, receives a line for every mutating request (all but
	// Describe*, List*, Get* and SubscribeToShard) and every denied one.
	Audit *auth.Audit
	// CORSOrigins are the origins (scheme://host[:port]) of the web pages
	// allowed to call the API from a browser; "*" allows any. nil: any
	// without Auth, none with it. A preflight (OPTIONS) is answered without
	// authentication, as AWS answers it.
	CORSOrigins []string
}

// Handler serves the Kinesis API on an engine: POST requests dispatched on
// X-Amz-Target, in JSON or CBOR, over HTTP/1.1 or HTTP/2. It is safe for
// concurrent use. Close ends its subscriptions.
type Handler struct {
	eng    *engine.Engine
	opts   Options
	scope  ARNScope
	iters  *IteratorCodec
	tokens *pageTokenCodec
	now    func() time.Time
	log    *slog.Logger
	// verifier checks signatures against opts.Auth; nil when it is nil.
	verifier *auth.Verifier
	// corsPolicy says which web origins may call the API (cors.go).
	corsPolicy corsPolicy

	// states holds idle per-request states for reuse: a bounded free list
	// rather than a sync.Pool, whose contents every garbage collection
	// drops, and a client process that allocates fast collects often.
	states chan *reqState
	// streams caches facts of streams the data path reports (*streamFacts
	// by stream name).
	streams sync.Map
	// consumerPolicies caches the compiled resource policies of consumers
	// (*policyCache by consumer ARN).
	consumerPolicies sync.Map
	subs             subscriptions
	// defaultKey is the ARN of the key alias/aws/kinesis names, once known
	// (an alias never changes keys); see allowKey.
	defaultKey atomic.Pointer[string]

	reqPrefix string        // 12 random hex digits per handler, so request ids differ across restarts
	reqSeq    atomic.Uint64 // request counter

	internalLog ratelog.Limiter // internal failures, whose causes clients are not told

	// testHookBodyRead, if set, is called after each read of a request
	// body with the bytes read so far.
	testHookBodyRead func(got int)
	// testHookThrottled, if set, is called when a subscription's push waits
	// for its consumer's quota.
	testHookThrottled func()
	// testHookUser, if set, names the user a request is authenticated as
	// (tests of authorization run without signature verification).
	testHookUser func(*http.Request) *auth.User
}

// NewHandler returns a Handler serving eng.
func NewHandler(eng *engine.Engine, opts Options) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("kinesis: NewHandler: engine is nil")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxControlBodyBytes <= 0 {
		opts.MaxControlBodyBytes = DefaultMaxControlBodyBytes
	}
	if opts.BodyTimeout == 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.SubscriptionDuration <= 0 {
		opts.SubscriptionDuration = DefaultSubscriptionDuration
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.IteratorTTL <= 0 {
		opts.IteratorTTL = IteratorTTL
	}
	if opts.NextTokenTTL <= 0 {
		opts.NextTokenTTL = NextTokenTTL
	}
	if err := opts.Scope.Validate(); err != nil {
		return nil, err
	}
	if opts.Auth != nil && opts.AllowUnsigned {
		return nil, errors.New("kinesis: NewHandler: AllowUnsigned admits unsigned requests, which Auth refuses; set one of them")
	}
	iters, err := NewIteratorCodec(IteratorOptions{Key: opts.IteratorKey, Now: opts.Now, TTL: opts.IteratorTTL})
	if err != nil {
		return nil, err
	}
	var prefix [6]byte
	_, _ = rand.Read(prefix[:])
	h := &Handler{
		eng: eng, opts: opts, scope: opts.Scope.withDefaults(), iters: iters,
		tokens: newPageTokenCodec(opts.IteratorKey, opts.Now, opts.NextTokenTTL),
		now:    opts.Now, log: opts.Logger, reqPrefix: hex.EncodeToString(prefix[:]),
	}
	if opts.Auth != nil {
		h.verifier = auth.NewVerifier(h.scope.Region, SigV4Service, opts.Now)
	}
	h.corsPolicy = newCORSPolicy(opts.CORSOrigins, opts.Auth != nil)
	h.states = make(chan *reqState, max(8, 4*runtime.GOMAXPROCS(0)))
	h.subs.init()
	return h, nil
}

// Close ends every subscription (each response ends as if its five minutes
// were up, so clients resume where they were) and refuses new ones. Servers
// call it when they shut down (http.Server.RegisterOnShutdown), since a
// subscription keeps its connection busy for minutes.
func (h *Handler) Close() {
	h.subs.close()
}

// contentTypeHeaders are shared header values (never modified).
var contentTypeHeaders = [...][]string{
	FormatJSON: {ContentTypeJSON},
	FormatCBOR: {ContentTypeCBOR},
}

// requestFormat is FormatOf, also reading application/json as JSON (as
// kinesalite does).
func requestFormat(contentType string) (Format, bool) {
	if f, ok := FormatOf(contentType); ok {
		return f, true
	}
	mt, _, _ := strings.Cut(contentType, ";")
	if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return FormatJSON, true
	}
	return 0, false
}

// ServeHTTP answers one request. The order of checks is AWS's: a CORS
// preflight is answered first; then method, content type, operation,
// authentication, body size and syntax (SerializationException), member
// constraints (ValidationException), authorization, then the operation
// itself, which reports a missing resource before its own checks.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.setRequestID(w)
	if h.cors(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		WriteError(w, FormatJSON, &Error{Code: CodeAccessDenied, Status: http.StatusForbidden,
			Message: "Unable to determine service/operation name to be authorized"})
		return
	}
	f, ok := requestFormat(r.Header.Get("Content-Type"))
	if !ok {
		WriteError(w, FormatJSON, &Error{Code: CodeUnknownOperation, Status: http.StatusNotFound,
			Message: "Content-Type must be application/x-amz-json-1.1 or application/x-amz-cbor-1.1"})
		return
	}
	if name, ok := groupTarget(r.Header.Get("X-Amz-Target")); ok {
		h.serveGroups(w, r, f, name)
		return
	}
	op, err := ParseTarget(r.Header.Get("X-Amz-Target"))
	if err != nil {
		WriteError(w, f, err)
		return
	}
	st := h.getState()
	defer h.putState(st)
	signer, err := h.authenticate(r, st)
	if err != nil {
		WriteError(w, f, err)
		st.unauthenticated = true
		h.audit(r, op, st, err)
		return
	}
	if h.testHookUser != nil {
		st.user = h.testHookUser(r)
	}
	rc := http.NewResponseController(w)
	limit := h.opts.MaxControlBodyBytes
	if op == OpPutRecord || op == OpPutRecords {
		limit = h.opts.MaxBodyBytes
	}
	if err := h.reserveBody(r, st, limit); err != nil {
		h.fail(w, f, err)
		h.audit(r, op, st, err)
		return
	}
	setDeadline(rc.SetReadDeadline, h.opts.BodyTimeout)
	if err := st.readBody(r, limit, h.testHookBodyRead); err != nil {
		// The rest of the body is not worth waiting for: close the
		// connection after the answer (the deadline stays in force).
		w.Header().Set("Connection", "close")
		h.fail(w, f, err)
		h.audit(r, op, st, err)
		return
	}
	setDeadline(rc.SetReadDeadline, -1)
	if err := h.verifySignature(r, st, signer); err != nil {
		h.fail(w, f, err)
		st.unauthenticated = true
		h.audit(r, op, st, err)
		return
	}
	if op != OpSubscribeToShard {
		// From here the response is the server's to write, within the
		// write timeout (a wait for the budget above does not count). A
		// subscription sets a deadline for each event instead.
		setDeadline(rc.SetWriteDeadline, h.opts.WriteTimeout)
	}
	switch op {
	case OpPutRecords:
		err = h.putRecords(w, f, st)
	case OpGetRecords:
		err = h.getRecords(w, f, st)
	case OpSubscribeToShard:
		err = h.subscribeToShard(h.requestContext(r, st), w, f, st)
	default:
		err = h.serveOperation(h.requestContext(r, st), w, f, op, st)
	}
	if err != nil {
		h.fail(w, f, err)
	}
	h.audit(r, op, st, err)
}

// authenticate parses the request's SigV4 authentication into st. With
// Options.Auth set, it also looks up the access key's user, returned as the
// signer, and makes the checks that need no body (credential scope, clock
// skew, expiry), so that a missing token, an unknown key or a stale
// signature fails before the body is read; verifySignature completes the
// check once the body is in. Without Options.Auth any credentials are
// accepted.
func (h *Handler) authenticate(r *http.Request, st *reqState) (signer *auth.User, err error) {
	a, err := auth.ParseAuth(r)
	if err != nil {
		if h.opts.AllowUnsigned && errors.Is(err, auth.ErrMissingAuthenticationToken) {
			return nil, nil
		}
		return nil, authError(err)
	}
	st.sig = a
	if !h.verifying() {
		return nil, nil
	}
	u := h.opts.Auth.Lookup(a.AccessKeyID)
	if u == nil {
		return nil, authError(auth.UnrecognizedClient())
	}
	if err := h.verifier.Check(&st.sig); err != nil {
		return nil, authError(err)
	}
	return u, nil
}

// verifySignature checks the signature of signer (from authenticate) over
// the request and its body, hashed once where it lies in st.body, and
// records signer as the request's user. It does nothing when the handler
// verifies no signatures.
func (h *Handler) verifySignature(r *http.Request, st *reqState, signer *auth.User) error {
	if !h.verifying() {
		return nil
	}
	if err := h.verifier.Verify(r, &st.sig, signer.SecretAccessKey, st.body, &st.sigScratch); err != nil {
		return authError(err)
	}
	st.user = signer
	return nil
}

// verifying reports whether the handler verifies signatures: it does with
// Options.Auth, unless a test names each request's user (testHookUser).
func (h *Handler) verifying() bool { return h.verifier != nil && h.testHookUser == nil }

// requestContext returns the context of the operations that take one:
// r's, carrying the access key id (AccessKeyFrom) and the verified user
// (UserFrom).
func (h *Handler) requestContext(r *http.Request, st *reqState) context.Context {
	if st.sig.AccessKeyID == "" {
		return r.Context()
	}
	return withIdentity(r.Context(), st.sig.AccessKeyID, st.user)
}

// serveOperation decodes, runs and answers an operation off the hot path.
func (h *Handler) serveOperation(ctx context.Context, w http.ResponseWriter, f Format, op Operation, st *reqState) error {
	in := op.NewInput()
	if err := st.dec.Decode(f, st.body, in); err != nil {
		return err
	}
	if err := validateInput(op, in, st.dec.present); err != nil {
		return err
	}
	if err := h.authorizeInput(st, op, in); err != nil {
		return err
	}
	out, err := operationFuncs[op](h, ctx, in)
	if err != nil {
		return err
	}
	if _, empty := out.(*EmptyOutput); empty {
		// AWS answers the operations without output 200 with no body.
		writeOK(w, f, nil)
		return nil
	}
	body, err := AppendResponse(st.out[:0], f, out)
	if err != nil {
		return err
	}
	st.out = body
	writeOK(w, f, body)
	return nil
}

// setRequestID sets the x-amzn-RequestId header the SDKs report: a UUID,
// as AWS's are, made of the handler's random prefix and a counter (unique
// without a read of the random source per request).
func (h *Handler) setRequestID(w http.ResponseWriter) {
	w.Header()["X-Amzn-Requestid"] = []string{h.requestID(h.reqSeq.Add(1))}
}

// requestID formats request n as a version-4-shaped UUID:
// 8-4-4-4-12 hex digits, the first 12 random per handler, the rest n.
func (h *Handler) requestID(n uint64) string {
	const hexDigits = "0123456789abcdef"
	var b [36]byte
	p := h.reqPrefix // 12 hex digits
	copy(b[0:8], p[0:8])
	b[8] = '-'
	copy(b[9:13], p[8:12])
	b[13] = '-'
	b[14] = '4' // version 4
	b[18], b[23] = '-', '-'
	// 3 digits, then a variant digit (8-b) and 3, then 12: 18 digits of n.
	digits := [...]int{15, 16, 17, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35}
	for i := len(digits) - 1; i >= 0; i-- {
		b[digits[i]] = hexDigits[n&0xf]
		n >>= 4
	}
	b[19] = hexDigits[8|n&0x3]
	return string(b[:])
}

// writeOK answers 200 with body.
func writeOK(w http.ResponseWriter, f Format, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeHeaders[f]
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// fail answers err, logging internal failures.
func (h *Handler) fail(w http.ResponseWriter, f Format, err error) {
	e := h.apiError(err)
	if e.Code == CodeInternalFailure {
		h.internalLog.Log(h.log, slog.LevelError, "kinesis API request failed", "err", err)
	}
	WriteError(w, f, e)
}

// apiError converts any error to the *Error answered to the client: an
// *Error as it is, an engine error under its Kinesis name.
func (h *Handler) apiError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, engine.ErrClosed) {
		return Errorf(CodeInternalFailure, "the server is shutting down; retry against it once it is back")
	}
	var ee *api.Error
	if !errors.As(err, &ee) {
		return AsError(err)
	}
	if ee.Code == api.CodeInternal {
		return Errorf(CodeInternalFailure, "%s", api.PublicMessage(ee))
	}
	return Errorf(ErrorCode(ee.Code.String()), "%s", engineMessage(ee, h.scope.Account))
}

// engErr converts an engine error (nil stays nil).
func (h *Handler) engErr(err error) error {
	if err == nil {
		return nil
	}
	return h.apiError(err)
}

// dryRun is the answer to a request with DryRun set that would have succeeded.
func dryRun() error {
	return Errorf(CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
}

// reqState is the reusable state of one request: body, decoder, the engine's
// put and read structures and the response buffer.
type reqState struct {
	body    []byte
	dec     Decoder
	putIn   PutRecordsInput
	recs    []api.PutRecord
	results []api.PutResult
	seq     []byte // decimal sequence number scratch
	out     []byte
	res     engine.ReadResult
	// reserved is what the request holds of the server's in-flight
	// budget, released with the state.
	reserved int64
	// sig is the request's SigV4 authentication, sigScratch the working
	// memory of its verification.
	sig        auth.Auth
	sigScratch auth.Scratch
	// user is who the request is authenticated as: the user whose
	// signature was verified; nil when Options.Auth is nil.
	user *auth.User
	// resource is the ARN the request was authorized on (for the audit
	// log); denied is set when authorization refused it, unauthenticated
	// when authentication did (both are audited whatever the operation).
	resource        string
	denied          bool
	unauthenticated bool
}

// maxPooledBuffer: a request state whose buffers grew past this (a body of
// large records) is stripped before it goes back to the free list, so that
// a burst of 10 MiB calls does not pin that much memory per idle state.
const maxPooledBuffer = 1 << 20

// getState returns an idle request state, or a new one.
func (h *Handler) getState() *reqState {
	select {
	case st := <-h.states:
		return st
	default:
		return new(reqState)
	}
}

// putState keeps st for reuse if the free list has room.
func (h *Handler) putState(st *reqState) {
	st.res.Release()
	h.opts.Budget.Release(st.reserved)
	st.reserved = 0
	st.sig, st.user, st.resource, st.denied, st.unauthenticated = auth.Auth{}, nil, "", false, false
	if cap(st.body) > maxPooledBuffer || cap(st.out) > maxPooledBuffer || cap(st.dec.blobs) > maxPooledBuffer ||
		st.sigScratch.Cap() > maxPooledBuffer {
		*st = reqState{}
	}
	select {
	case h.states <- st:
	default:
	}
}

// setDeadline sets a deadline d from now through set (a ResponseController
// method), or clears it for a negative d. Connections that cannot take
// deadlines keep the server's.
func setDeadline(set func(time.Time) error, d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	_ = set(t)
}

// reserveBody reserves the request's body in the server's in-flight budget
// (its declared length, or the limit when it declares none), waiting while
// the budget is spent. A body declared over the limit is refused first.
func (h *Handler) reserveBody(r *http.Request, st *reqState, limit int64) error {
	if r.ContentLength > limit {
		return RequestTooLarge(r.ContentLength, limit)
	}
	n := limit
	if r.ContentLength >= 0 {
		n = r.ContentLength
	}
	// The wait is bounded like the body's arrival: a server that stays
	// this busy answers with a failure that clients retry.
	if err := h.opts.Budget.Acquire(r.Context(), n, max(h.opts.BodyTimeout, 0)); err != nil {
		return Errorf(CodeInternalFailure, "the server is out of memory for requests in flight; retry (%v)", err)
	}
	st.reserved = n
	return nil
}

// bodyChunk bounds how far the body buffer grows ahead of the bytes that
// arrived: a declared length is a claim, not a reason to allocate.
const bodyChunk = 64 << 10

// readBody reads the request body into st.body, up to limit bytes; a longer
// body is a 413. The buffer grows as bytes arrive.
func (st *reqState) readBody(r *http.Request, limit int64, onRead func(got int)) error {
	if r.ContentLength > limit {
		return RequestTooLarge(r.ContentLength, limit)
	}
	want := 512
	if r.ContentLength > 0 {
		want = int(min(r.ContentLength+1, bodyChunk)) // +1: the read that sees EOF needs room
	}
	buf := st.body[:0]
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), 4<<20))
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if onRead != nil {
			onRead(len(buf))
		}
		if int64(len(buf)) > limit {
			st.body = buf[:0]
			return RequestTooLarge(int64(len(buf)), limit)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			st.body = buf[:0]
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return RequestTooLarge(mbe.Limit, mbe.Limit)
			}
			return Errorf(CodeSerialization, "cannot read the request body: %v", err)
		}
	}
	st.body = buf
	return nil
}

// opFunc runs one operation off the hot path: in is the decoded input shape,
// the result an output shape for AppendResponse.
type opFunc func(h *Handler, ctx context.Context, in any) (any, error)

// typedOp adapts a typed operation method to an opFunc.
func typedOp[T any](fn func(*Handler, context.Context, *T) (any, error)) opFunc {
	return func(h *Handler, ctx context.Context, in any) (any, error) {
		t, ok := in.(*T)
		if !ok {
			return nil, fmt.Errorf("kinesis: operation input is %T, not %T", in, new(T))
		}
		return fn(h, ctx, t)
	}
}

// operationFuncs are the operations served by serveOperation. PutRecords,
// GetRecords and SubscribeToShard have paths of their own.
var operationFuncs = [opCount]opFunc{
	OpAddTagsToStream:               typedOp((*Handler).addTagsToStream),
	OpCreateStream:                  typedOp((*Handler).createStream),
	OpDecreaseStreamRetentionPeriod: typedOp((*Handler).decreaseStreamRetentionPeriod),
	OpDeleteResourcePolicy:          typedOp((*Handler).deleteResourcePolicy),
	OpDeleteStream:                  typedOp((*Handler).deleteStream),
	OpDeregisterStreamConsumer:      typedOp((*Handler).deregisterStreamConsumer),
	OpDescribeLimits:                typedOp((*Handler).describeLimits),
	OpDescribeStream:                typedOp((*Handler).describeStream),
	OpDescribeStreamConsumer:        typedOp((*Handler).describeStreamConsumer),
	OpDescribeStreamSummary:         typedOp((*Handler).describeStreamSummary),
	OpDisableEnhancedMonitoring:     typedOp((*Handler).disableEnhancedMonitoring),
	OpEnableEnhancedMonitoring:      typedOp((*Handler).enableEnhancedMonitoring),
	OpGetResourcePolicy:             typedOp((*Handler).getResourcePolicy),
	OpGetShardIterator:              typedOp((*Handler).getShardIterator),
	OpIncreaseStreamRetentionPeriod: typedOp((*Handler).increaseStreamRetentionPeriod),
	OpListShards:                    typedOp((*Handler).listShards),
	OpListStreamConsumers:           typedOp((*Handler).listStreamConsumers),
	OpListStreams:                   typedOp((*Handler).listStreams),
	OpListTagsForResource:           typedOp((*Handler).listTagsForResource),
	OpListTagsForStream:             typedOp((*Handler).listTagsForStream),
	OpMergeShards:                   typedOp((*Handler).mergeShards),
	OpPutRecord:                     typedOp((*Handler).putRecord),
	OpPutResourcePolicy:             typedOp((*Handler).putResourcePolicy),
	OpRegisterStreamConsumer:        typedOp((*Handler).registerStreamConsumer),
	OpRemoveTagsFromStream:          typedOp((*Handler).removeTagsFromStream),
	OpSplitShard:                    typedOp((*Handler).splitShard),
	OpStartStreamEncryption:         typedOp((*Handler).startStreamEncryption),
	OpStopStreamEncryption:          typedOp((*Handler).stopStreamEncryption),
	OpTagResource:                   typedOp((*Handler).tagResource),
	OpUntagResource:                 typedOp((*Handler).untagResource),
	OpUpdateMaxRecordSize:           typedOp((*Handler).updateMaxRecordSize),
	OpUpdateShardCount:              typedOp((*Handler).updateShardCount),
	OpUpdateStreamMode:              typedOp((*Handler).updateStreamMode),
}
