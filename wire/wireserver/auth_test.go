package wireserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/wire"
)

// testUsers is the users file of the authentication tests: ingest may put
// to the orders-* streams only; admin may do anything kinesis: allows;
// reader has no policy of its own.
const testUsers = `{"account": "123456789012", "users": [
 {"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "ingest-secret-0123456789",
  "policy": {"Version": "2012-10-17", "Statement": [
   {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}},
 {"name": "admin", "access_key_id": "AKIAADMIN00000000001", "secret_access_key": "admin-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}},
 {"name": "reader", "access_key_id": "AKIAREADER0000000001", "secret_access_key": "reader-secret-0123456789"}]}`

var (
	ingestKey = &client.Credentials{AccessKeyID: "AKIAINGEST0000000001", SecretAccessKey: "ingest-secret-0123456789"}
	adminKey  = &client.Credentials{AccessKeyID: "AKIAADMIN00000000001", SecretAccessKey: "admin-secret-0123456789"}
	readerKey = &client.Credentials{AccessKeyID: "AKIAREADER0000000001", SecretAccessKey: "reader-secret-0123456789"}
)

func testStore(t testing.TB) *auth.Store {
	t.Helper()
	u, err := auth.ParseUsers([]byte(testUsers))
	if err != nil {
		t.Fatalf("users: %v", err)
	}
	return auth.NewStore(u)
}

// newAuthEnv is a server requiring authentication with testUsers.
func newAuthEnv(t testing.TB, mod func(*ServerOptions)) *testEnv {
	t.Helper()
	store := testStore(t)
	return newServerEnv(t, func(so *ServerOptions) {
		so.Auth = store
		if mod != nil {
			mod(so)
		}
	})
}

// dialErr dials env with creds and returns the error.
func (env *testEnv) dialErr(creds *client.Credentials) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, env.addr, client.ClientOptions{Credentials: creds})
	if err == nil {
		c.Close()
	}
	return err
}

// wantWireError checks that err carries the server's error name and a
// message containing contains.
func wantWireError(t *testing.T, err error, name, contains string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Name != name || !strings.Contains(we.Message, contains) {
		t.Fatalf("error %v; want %s containing %q", err, name, contains)
	}
}

func TestAuth_HandshakeSucceeds(t *testing.T) {
	env := newAuthEnv(t, nil)
	c := env.dial(client.ClientOptions{Credentials: adminKey})
	env.createStream(c, "orders-1", 1)
	names, err := c.ListStreams(testCtx(t))
	if err != nil || len(names) != 1 || names[0] != "orders-1" {
		t.Fatalf("ListStreams = %v, %v; want [orders-1]", names, err)
	}
	if err := c.Ping(testCtx(t), []byte("x")); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestAuth_WrongSecret(t *testing.T) {
	env := newAuthEnv(t, nil)
	err := env.dialErr(&client.Credentials{AccessKeyID: adminKey.AccessKeyID, SecretAccessKey: "not-the-secret-at-all"})
	wantWireError(t, err, wire.NameInvalidSignature, "Check your secret access key")
}

func TestAuth_UnknownKey(t *testing.T) {
	env := newAuthEnv(t, nil)
	err := env.dialErr(&client.Credentials{AccessKeyID: "AKIANOBODY0000000001", SecretAccessKey: "whatever-secret-1234"})
	wantWireError(t, err, wire.NameUnrecognizedClient, "The security token included in the request is invalid.")
}

func TestAuth_ClientWithoutCredentials(t *testing.T) {
	env := newAuthEnv(t, nil)
	err := env.dialErr(nil)
	if !errors.Is(err, wire.ErrAuthRequired) || !strings.Contains(err.Error(), "access key") {
		t.Fatalf("Dial without credentials: %v; want ErrAuthRequired naming the access key", err)
	}
}

func TestAuth_CredentialsOnOpenServer(t *testing.T) {
	// A server without users does not ask: the connection runs as
	// anonymous, as before.
	env := newTestEnv(t, nil)
	c := env.dial(client.ClientOptions{Credentials: adminKey})
	if err := c.Ping(testCtx(t), nil); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// rawAuth is a connection that has sent an AUTH hello and read the server's
// hello and challenge.
type rawAuth struct {
	*rawConn
	t wire.AuthTranscript
}

func (env *testEnv) rawAuthConn(t *testing.T, features uint32) *rawAuth {
	t.Helper()
	nc, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := &rawAuth{rawConn: &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}}
	r.t.ClientHello = wire.Hello{Version: wire.Version, Features: features, MaxFrame: wire.DefaultMaxFrameSize}.Marshal()
	r.write(r.t.ClientHello[:])
	if _, err := io.ReadFull(r.br, r.t.ServerHello[:]); err != nil {
		t.Fatalf("read the server hello: %v", err)
	}
	h, err := wire.ReadHello(bytes.NewReader(r.t.ServerHello[:]))
	if err != nil || h.Status != wire.StatusOK || h.Features&wire.FeatureAuth == 0 {
		t.Fatalf("server hello %+v (%v); want status 0 with feature bit 0x1", h, err)
	}
	if features&wire.FeatureAuth == 0 {
		return r
	}
	fh, body, ok := r.read()
	if !ok || fh.Op != wire.OpChallenge || fh.ID != 0 {
		t.Fatalf("got %+v (ok %v); want a Challenge under id 0", fh, ok)
	}
	var ch wire.Challenge
	if err := wire.DecodeMessage(body, &ch); err != nil {
		t.Fatalf("challenge: %v", err)
	}
	r.t.ServerNonce = ch.Nonce
	return r
}

// authenticateFrame is the Authenticate request for creds, under id 1.
func (r *rawAuth) authenticateFrame(creds *client.Credentials) []byte {
	r.t.AccessKeyID = creds.AccessKeyID
	rand.Read(r.t.ClientNonce[:])
	key := wire.DeriveAuthKey(creds.SecretAccessKey)
	req := wire.ReqAuthenticate{AccessKeyID: creds.AccessKeyID, Nonce: r.t.ClientNonce, Proof: r.t.ClientProof(&key)}
	return frame(wire.OpAuthenticate, 0, 1, req.AppendTo(nil))
}

func TestAuth_ReplayOnNewConnectionFails(t *testing.T) {
	env := newAuthEnv(t, nil)
	first := env.rawAuthConn(t, wire.FeatureAuth)
	recorded := first.authenticateFrame(adminKey)
	first.write(recorded)
	h, body, ok := first.read()
	if !ok || h.Op != wire.OpAuthenticate || h.ID != 1 || h.Flags != 0 {
		t.Fatalf("got %+v (ok %v); want the Authenticate response", h, ok)
	}
	var resp wire.RespAuthenticate
	key := wire.DeriveAuthKey(adminKey.SecretAccessKey)
	if err := wire.DecodeMessage(body, &resp); err != nil || resp.Proof != first.t.ServerProof(&key) {
		t.Fatalf("server proof %x (%v); want %x", resp.Proof, err, first.t.ServerProof(&key))
	}
	first.expectPing(2)

	// The same bytes on a new connection: the server's nonce is new, so
	// the proof no longer matches.
	second := env.rawAuthConn(t, wire.FeatureAuth)
	if second.t.ServerNonce == first.t.ServerNonce {
		t.Fatal("the server sent the same nonce twice")
	}
	second.write(recorded)
	second.expectError(wire.OpAuthenticate, 1, wire.NameInvalidSignature, "does not match")
	second.expectGoAwayAndClose("does not match")
}

func TestAuth_RequestBeforeAuthenticationRefused(t *testing.T) {
	env := newAuthEnv(t, nil)
	r := env.rawAuthConn(t, wire.FeatureAuth)
	create := (&wire.ReqCreateStream{In: api.CreateStreamInput{Name: "sneaky", ShardCount: 1}}).AppendTo(nil)
	r.write(frame(wire.OpCreateStream, 0, 7, create))
	r.expectError(wire.OpCreateStream, 7, wire.NameMissingAuth, "must authenticate")
	r.expectGoAwayAndClose("must authenticate")
	if _, err := env.eng.DescribeStream("sneaky"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the stream of a request sent before authenticating exists (%v)", err)
	}
}

func TestAuth_OldClientGetsClearError(t *testing.T) {
	env := newAuthEnv(t, nil)
	// The hello of a client that predates authentication: no feature bits.
	r := env.rawAuthConn(t, 0)
	r.expectGoAwayAndClose("this server requires authentication (hello feature bit 0x1): use a client that supports it and give it an access key")
}

func TestAuth_ExchangeBoundByHandshakeTimeout(t *testing.T) {
	env := newAuthEnv(t, func(so *ServerOptions) { so.HandshakeTimeout = 200 * time.Millisecond })
	r := env.rawAuthConn(t, wire.FeatureAuth)
	// Never answer the challenge: the server closes once the handshake
	// timeout has passed.
	t0 := time.Now()
	if h, _, ok := r.read(); ok {
		t.Fatalf("the server sent %+v; want the connection closed", h)
	}
	if el := time.Since(t0); el > 10*time.Second {
		t.Fatalf("the server waited %v for the Authenticate request; its handshake timeout is 200ms", el)
	}
}

// fakeServer accepts one connection, answers the hello with the AUTH bit
// and a challenge, and answers the Authenticate request with proof.
func fakeServer(t *testing.T, proof [wire.ProofSize]byte) string {
	l := listenLoopback(t)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		if _, err := wire.ReadHello(br); err != nil {
			return
		}
		sh := wire.Hello{Version: wire.Version, Features: wire.FeatureAuth, MaxFrame: wire.DefaultMaxFrameSize}.Marshal()
		out := append(sh[:], frame(wire.OpChallenge, 0, 0, make([]byte, wire.NonceSize))...)
		nc.Write(out)
		var hb [wire.HeaderSize]byte
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			return
		}
		h, _ := wire.ParseHeader(hb[:], 1<<20)
		io.CopyN(io.Discard, br, int64(h.Size-wire.HeaderSize))
		nc.Write(frame(wire.OpAuthenticate, 0, h.ID, proof[:]))
		io.Copy(io.Discard, br)
	}()
	return l.Addr().String()
}

func TestAuth_ClientRefusesServerWithoutTheSecret(t *testing.T) {
	addr := fakeServer(t, [wire.ProofSize]byte{1, 2, 3})
	_, err := client.Dial(testCtx(t), addr, client.ClientOptions{Credentials: adminKey})
	if !errors.Is(err, wire.ErrServerAuth) {
		t.Fatalf("Dial to a server that cannot prove the secret: %v; want ErrServerAuth", err)
	}
}

// authzEnv is an authenticating server with streams orders-1 and other,
// and a client of each user.
type authzEnv struct {
	*testEnv
	admin, ingest, reader *client.Client
}

func newAuthzEnv(t *testing.T, mod func(*ServerOptions)) *authzEnv {
	env := newAuthEnv(t, mod)
	a := &authzEnv{testEnv: env,
		admin:  env.dial(client.ClientOptions{Credentials: adminKey}),
		ingest: env.dial(client.ClientOptions{Credentials: ingestKey}),
		reader: env.dial(client.ClientOptions{Credentials: readerKey}),
	}
	env.createStream(a.admin, "orders-1", 1)
	env.createStream(a.admin, "other", 1)
	return a
}

func oneRecord() []api.PutRecord { return []api.PutRecord{{Key: []byte("k"), Data: []byte("v")}} }

// wantDenied checks that err is AccessDeniedException for action on
// stream, in auth's wording.
func wantDenied(t *testing.T, err error, user, action, stream string) {
	t.Helper()
	wantWireError(t, err, wire.NameAccessDenied, "User: arn:aws:iam::123456789012:user/"+user+
		" is not authorized to perform: "+action+" on resource: arn:aws:kinesis:us-east-1:123456789012:stream/"+stream)
}

func TestAuthz_PutOnlyUser(t *testing.T) {
	a := newAuthzEnv(t, nil)
	ctx := testCtx(t)
	res := make([]api.PutResult, 1)
	if failed, err := a.ingest.PutRecords(ctx, "orders-1", oneRecord(), res); err != nil || failed != 0 {
		t.Fatalf("ingest PutRecords to orders-1: %d failed, %v", failed, err)
	}
	if _, err := a.ingest.PutRecord(ctx, "orders-1", oneRecord()[0]); err != nil {
		t.Fatalf("ingest PutRecord to orders-1: %v", err)
	}
	_, err := a.ingest.PutRecords(ctx, "other", oneRecord(), res)
	wantDenied(t, err, "ingest", "kinesis:PutRecords", "other")
	_, err = a.ingest.PutRecord(ctx, "other", oneRecord()[0])
	wantDenied(t, err, "ingest", "kinesis:PutRecord", "other")
	_, err = a.ingest.GetIterator(ctx, "orders-1", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	wantDenied(t, err, "ingest", "kinesis:GetShardIterator", "orders-1")
	pos, err := a.admin.GetIterator(ctx, "orders-1", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.ingest.Read(ctx, pos, 0, 0)
	wantDenied(t, err, "ingest", "kinesis:GetRecords", "orders-1")
	sub, err := a.ingest.Subscribe(ctx, pos, client.SubscribeOptions{})
	if err == nil {
		_, err = sub.Next(ctx) // the refusal ends the subscription
		sub.Close()
	}
	wantDenied(t, err, "ingest", "kinesis:SubscribeToShard", "orders-1")
	err = a.ingest.DeleteStream(ctx, "orders-1", false)
	wantDenied(t, err, "ingest", "kinesis:DeleteStream", "orders-1")
	_, err = a.ingest.ListStreams(ctx)
	wantWireError(t, err, wire.NameAccessDenied, "kinesis:ListStreams on resource: *")
	// The connection stays open after refusals, and nothing was stored by
	// them: orders-1 has the two records, other none.
	if n := recordCount(t, a.admin, "orders-1"); n != 2 {
		t.Fatalf("orders-1 holds %d records; want 2", n)
	}
	if n := recordCount(t, a.admin, "other"); n != 0 {
		t.Fatalf("other holds %d records; want 0", n)
	}
	if _, err := a.ingest.PutRecord(ctx, "orders-1", oneRecord()[0]); err != nil {
		t.Fatalf("ingest PutRecord after refusals: %v", err)
	}
}

func TestAuthz_CoalescedPutsJudgedPerStream(t *testing.T) {
	a := newAuthzEnv(t, nil)
	// Pipelined single-record puts to an allowed and a refused stream:
	// the server reads them together; each gets its own answer.
	type outcome struct {
		stream string
		err    error
	}
	done := make(chan outcome, 64)
	for i := range 64 {
		stream := "orders-1"
		if i%3 == 0 {
			stream = "other"
		}
		err := a.ingest.PutRecordAsync(stream, oneRecord()[0], func(_ api.SeqNum, err error) { done <- outcome{stream, err} })
		if err != nil {
			t.Fatal(err)
		}
	}
	allowed := 0
	for range 64 {
		o := <-done
		switch {
		case o.stream == "other":
			wantDenied(t, o.err, "ingest", "kinesis:PutRecord", "other")
		case o.err != nil:
			t.Fatalf("put to orders-1: %v", o.err)
		default:
			allowed++
		}
	}
	if n := recordCount(t, a.admin, "orders-1"); n != allowed {
		t.Fatalf("orders-1 holds %d records; %d puts were acknowledged", n, allowed)
	}
	if n := recordCount(t, a.admin, "other"); n != 0 {
		t.Fatalf("other holds %d records; want 0", n)
	}
}

func setPolicy(t *testing.T, env *testEnv, stream, doc string) {
	t.Helper()
	if err := env.eng.SetPolicy(stream, "", doc); err != nil {
		t.Fatalf("set policy: %v", err)
	}
}

func TestAuthz_ResourcePolicyGrantsRead(t *testing.T) {
	a := newAuthzEnv(t, nil)
	ctx := testCtx(t)
	spec := api.IteratorSpec{Type: api.TrimHorizon}
	_, err := a.reader.GetIterator(ctx, "orders-1", api.ShardID(0), spec)
	wantDenied(t, err, "reader", "kinesis:GetShardIterator", "orders-1")

	// The same connection sees the new policy at its next request.
	setPolicy(t, a.testEnv, "orders-1", `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::123456789012:user/reader"},
		"Action": ["kinesis:GetShardIterator", "kinesis:GetRecords"],
		"Resource": "arn:aws:kinesis:us-east-1:123456789012:stream/orders-1"}]}`)
	pos, err := a.reader.GetIterator(ctx, "orders-1", api.ShardID(0), spec)
	if err != nil {
		t.Fatalf("reader GetIterator with a resource policy granting it: %v", err)
	}
	if _, err := a.reader.Read(ctx, pos, 0, 0); err != nil {
		t.Fatalf("reader Read with a resource policy granting it: %v", err)
	}
	_, err = a.reader.PutRecord(ctx, "orders-1", oneRecord()[0])
	wantDenied(t, err, "reader", "kinesis:PutRecord", "orders-1")
	_, err = a.reader.GetIterator(ctx, "other", api.ShardID(0), spec)
	wantDenied(t, err, "reader", "kinesis:GetShardIterator", "other")
}

func TestAuthz_ExplicitDenyWins(t *testing.T) {
	a := newAuthzEnv(t, nil)
	setPolicy(t, a.testEnv, "orders-1", `{"Statement": [{"Effect": "Deny",
		"Principal": {"AWS": "arn:aws:iam::123456789012:user/admin"}, "Action": "kinesis:DeleteStream", "Resource": "*"}]}`)
	err := a.admin.DeleteStream(testCtx(t), "orders-1", false)
	wantWireError(t, err, wire.NameAccessDenied, "kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:123456789012:stream/orders-1 with an explicit deny in a resource-based policy")
	if _, err := a.eng.DescribeStream("orders-1"); err != nil {
		t.Fatalf("orders-1 after a denied delete: %v", err)
	}
	// Everything else admin's policy allows still goes.
	if _, err := a.admin.PutRecord(testCtx(t), "orders-1", oneRecord()[0]); err != nil {
		t.Fatalf("admin PutRecord: %v", err)
	}
}

func TestAuthz_SluiceActionsNeedTheirOwnGrant(t *testing.T) {
	a := newAuthzEnv(t, nil)
	// admin's kinesis:* does not cover sluice:SetQuotas.
	q := ratelimit.Kinesis
	err := a.admin.SetQuotas(testCtx(t), "orders-1", &q)
	wantDenied(t, err, "admin", "sluice:SetQuotas", "orders-1")
	err = a.admin.SetDurability(testCtx(t), "orders-1", api.None)
	wantDenied(t, err, "admin", "sluice:SetDurability", "orders-1")
	info, err := a.eng.DescribeStream("orders-1")
	if err != nil || info.Quotas != ratelimit.Unlimited {
		t.Fatalf("quotas after a denied SetQuotas: %+v, %v", info.Quotas, err)
	}
}

func TestAuthz_InvalidStoredPolicyDenies(t *testing.T) {
	a := newAuthzEnv(t, nil)
	setPolicy(t, a.testEnv, "orders-1", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kinesis:*", "Resource": "*", "Condition": {}}]}`)
	_, err := a.admin.PutRecord(testCtx(t), "orders-1", oneRecord()[0])
	wantWireError(t, err, wire.NameAccessDenied, "resource policy is not valid")
	setPolicy(t, a.testEnv, "orders-1", "")
	if _, err := a.admin.PutRecord(testCtx(t), "orders-1", oneRecord()[0]); err != nil {
		t.Fatalf("PutRecord once the policy is removed: %v", err)
	}
}

// auditLine is one line of the audit log.
type auditLine struct {
	Identity, Action, Resource, Door, Outcome, Remote string
}

func readAudit(t *testing.T, a *auth.Audit, path string) []auditLine {
	t.Helper()
	if err := a.Close(); err != nil {
		t.Fatalf("close audit log: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []auditLine
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var al auditLine
		if err := json.Unmarshal(l, &al); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		lines = append(lines, al)
	}
	return lines
}

func TestAuthz_AuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	audit, err := auth.OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthzEnv(t, func(so *ServerOptions) { so.Audit = audit })
	ctx := testCtx(t)
	res := make([]api.PutResult, 1)
	if _, err := a.ingest.PutRecords(ctx, "orders-1", oneRecord(), res); err != nil {
		t.Fatal(err)
	}
	if err := a.ingest.DeleteStream(ctx, "orders-1", false); err == nil {
		t.Fatal("ingest deleted orders-1")
	}
	if _, err := a.admin.DescribeStream(ctx, "orders-1"); err != nil { // neither mutating nor denied
		t.Fatal(err)
	}
	if err := a.admin.DeleteStream(ctx, "nope", false); err == nil {
		t.Fatal("deleted a stream that does not exist")
	}
	if err := a.dialErr(&client.Credentials{AccessKeyID: ingestKey.AccessKeyID, SecretAccessKey: "wrong-secret-0123456789"}); err == nil {
		t.Fatal("authenticated with a wrong secret")
	}
	a.srv.Close() // every request answered and logged
	lines := readAudit(t, audit, path)
	const acct = "arn:aws:kinesis:us-east-1:123456789012:stream/"
	want := []auditLine{
		{"arn:aws:iam::123456789012:user/admin", "kinesis:CreateStream", acct + "orders-1", "wire", "allowed", ""},
		{"arn:aws:iam::123456789012:user/admin", "kinesis:CreateStream", acct + "other", "wire", "allowed", ""},
		{"arn:aws:iam::123456789012:user/ingest", "kinesis:PutRecords", acct + "orders-1", "wire", "allowed", ""},
		{"arn:aws:iam::123456789012:user/ingest", "kinesis:DeleteStream", acct + "orders-1", "wire", "denied", ""},
		{"arn:aws:iam::123456789012:user/admin", "kinesis:DeleteStream", acct + "nope", "wire", "error:ResourceNotFoundException", ""},
		{"arn:aws:iam::123456789012:user/ingest", "sluice:Authenticate", "*", "wire", "error:InvalidSignatureException", ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("audit log has %d lines; want %d:\n%+v", len(lines), len(want), lines)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l.Remote, "127.0.0.1:") {
			t.Errorf("line %d: remote %q; want the client's address", i, l.Remote)
		}
		l.Remote = ""
		if l != want[i] {
			t.Errorf("line %d: %+v; want %+v", i, l, want[i])
		}
	}
}

func TestAuthz_AuditAnonymous(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	audit, err := auth.OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	env := newServerEnv(t, func(so *ServerOptions) { so.Audit = audit })
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	if _, err := c.PutRecord(testCtx(t), "s", oneRecord()[0]); err != nil {
		t.Fatal(err)
	}
	env.srv.Close()
	lines := readAudit(t, audit, path)
	if len(lines) != 2 || lines[1].Identity != auth.Anonymous || lines[1].Action != "kinesis:PutRecord" ||
		lines[1].Resource != "arn:aws:kinesis:us-east-1:000000000000:stream/s" || lines[1].Outcome != "allowed" {
		t.Fatalf("audit lines %+v; want CreateStream then an anonymous PutRecord on stream s", lines)
	}
}

func TestAuthz_AllowedRequestDoesNotAllocate(t *testing.T) {
	env := newAuthEnv(t, nil)
	admin := env.dial(client.ClientOptions{Credentials: adminKey})
	env.createStream(admin, "orders-1", 1)
	c := newConn(env.srv, &memConn{in: bytes.NewReader(nil)})
	c.user = env.srv.opts.Auth.Lookup(ingestKey.AccessKeyID)
	name := []byte("orders-1")
	check := func(what string) {
		t.Helper()
		if _, e := c.authorize("kinesis:PutRecords", name); e != nil {
			t.Fatalf("%s: %v", what, e)
		}
		if n := testing.AllocsPerRun(100, func() { c.authorize("kinesis:PutRecords", name) }); n != 0 {
			t.Errorf("%s: an allowed put allocates %v times; want 0", what, n)
		}
	}
	check("no resource policy")
	setPolicy(t, env, "orders-1", `{"Statement": [{"Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::123456789012:user/reader"}, "Action": "kinesis:GetRecords", "Resource": "*"}]}`)
	check("a resource policy")
}

func TestAuth_ReloadAppliesToOpenConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, []byte(testUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := auth.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	env := newServerEnv(t, func(so *ServerOptions) { so.Auth = store })
	admin := env.dial(client.ClientOptions{Credentials: adminKey})
	ingest := env.dial(client.ClientOptions{Credentials: ingestKey})
	env.createStream(admin, "orders-1", 1)
	ctx := testCtx(t)
	if _, err := ingest.PutRecord(ctx, "orders-1", oneRecord()[0]); err != nil {
		t.Fatalf("PutRecord before the reload: %v", err)
	}
	// The new file takes ingest's grant away and removes admin.
	users := strings.Replace(testUsers, `"kinesis:PutRecord", "kinesis:PutRecords"`, `"kinesis:DescribeStream"`, 1)
	users = strings.Replace(users, `"AKIAADMIN00000000001"`, `"AKIAADMIN00000000002"`, 1)
	if err := os.WriteFile(path, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	_, err = ingest.PutRecord(ctx, "orders-1", oneRecord()[0])
	wantDenied(t, err, "ingest", "kinesis:PutRecord", "orders-1")
	if _, err := ingest.DescribeStream(ctx, "orders-1"); err != nil {
		t.Fatalf("DescribeStream, which the new file grants: %v", err)
	}
	_, err = admin.ListStreams(ctx)
	wantWireError(t, err, wire.NameUnrecognizedClient, "was removed from the server's users")
	if _, err := admin.ListStreams(ctx); !errors.Is(err, wire.ErrConnectionLost) {
		t.Fatalf("a request after the key was removed: %v; want the connection closed", err)
	}
}
