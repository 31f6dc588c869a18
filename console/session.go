package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sluicedb/sluice/auth"
)

// Sessions and CSRF protection.
//
// With a users file, POST /console/api/login checks an access key id and its
// secret and opens a session: a random 256-bit token in the cookie
// sluice_console (HttpOnly, so no script can read it; SameSite=Strict, so no
// other site's page sends it; Secure over TLS; Path /console/), and a second
// random token, the CSRF token, that the page reads from the login or
// session response and sends in the X-CSRF-Token header of every action. An
// action (any POST or DELETE but login) without the session's CSRF token is
// refused, as is one whose Origin header names another site. The session
// names the user by access key id and looks the user up on every request, so
// a reloaded users file takes effect at once and a removed user is signed
// out.
//
// Without a users file there is no session, but actions still need the
// server's CSRF token (from GET /console/api/session), so that another
// site's page cannot make a visitor's browser act on a loopback server.

const (
	// cookieName is the session cookie.
	cookieName = "sluice_console"
	// csrfHeader carries the CSRF token of an action.
	csrfHeader = "X-CSRF-Token"
	// tokenBytes is the size of session and CSRF tokens: 256 bits.
	tokenBytes = 32
	// maxSessions bounds the open sessions; at the limit the one used
	// longest ago is ended to make room.
	maxSessions = 10000
)

type session struct {
	id        string // the cookie's value
	csrf      string
	accessKey string
	created   time.Time
	used      time.Time
}

type sessions struct {
	ttl  time.Duration
	now  func() time.Time
	csrf string // the server's CSRF token, for the console without sign-in

	mu   sync.Mutex          // guards byID
	byID map[string]*session // by the sha256 of the cookie's value
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, csrf: newToken(), byID: make(map[string]*session)}
}

func newToken() string {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// key is the map key of a cookie value: its hash, so that a lookup's timing
// says nothing about stored tokens.
func key(id string) string {
	h := sha256.Sum256([]byte(id))
	return string(h[:])
}

// open starts a session for the user of accessKey.
func (s *sessions) open(accessKey string) *session {
	now := s.now()
	ss := &session{id: newToken(), csrf: newToken(), accessKey: accessKey, created: now, used: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		var oldest string
		var at time.Time
		for k, v := range s.byID {
			if oldest == "" || v.used.Before(at) {
				oldest, at = k, v.used
			}
		}
		delete(s.byID, oldest)
	}
	s.byID[key(ss.id)] = ss
	return ss
}

// get returns the live session of a cookie value, or nil; it ends a
// session that has expired.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	k := key(id)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[k]
	if ss == nil {
		return nil
	}
	if now.Sub(ss.created) > s.ttl || now.Sub(ss.used) > s.ttl/4 {
		delete(s.byID, k)
		return nil
	}
	ss.used = now
	return ss
}

// sweep ends the sessions that have expired (the sampler calls it, so that
// sessions nobody comes back to do not stay in memory).
func (s *sessions) sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ss := range s.byID {
		if now.Sub(ss.created) > s.ttl || now.Sub(ss.used) > s.ttl/4 {
			delete(s.byID, k)
		}
	}
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.byID, key(id))
	s.mu.Unlock()
}

// call is what a request of the API acts as: the user (nil on a console
// without sign-in) and the session (nil likewise).
type call struct {
	user *auth.User
	sess *session
}

// authOn reports whether the console requires sign-in.
func (c *Console) authOn() bool { return c.opts.Auth != nil }

// identify returns the caller of r, or writes 401 and returns false.
func (c *Console) identify(w http.ResponseWriter, r *http.Request) (*call, bool) {
	if !c.authOn() {
		return &call{}, true
	}
	ck, err := r.Cookie(cookieName)
	var ss *session
	if err == nil {
		ss = c.sessions.get(ck.Value)
	}
	if ss == nil {
		writeErrorBody(w, http.StatusUnauthorized, apiError{Error: "sign in with an access key id and secret access key first", Code: "SignInRequired"})
		return nil, false
	}
	u := c.opts.Auth.Lookup(ss.accessKey)
	if u == nil {
		c.sessions.end(ck.Value)
		writeErrorBody(w, http.StatusUnauthorized, apiError{Error: "the user of this session is no longer in the users file; sign in again", Code: "SignInRequired"})
		return nil, false
	}
	return &call{user: u, sess: ss}, true
}

// user wraps a read of the API: the caller must be signed in (with a users
// file).
func (c *Console) user(h func(http.ResponseWriter, *http.Request, *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cl, ok := c.identify(w, r)
		if !ok {
			return
		}
		h(w, r, cl)
	}
}

// action wraps an action of the API: on top of what user checks, the
// request must come from the console's own origin and carry the CSRF token.
func (c *Console) action(h func(http.ResponseWriter, *http.Request, *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			writeErrorBody(w, http.StatusForbidden, apiError{Error: "the request comes from another site (Origin " + r.Header.Get("Origin") + "); the console acts only on requests from its own pages", Code: "CSRFRefused"})
			return
		}
		cl, ok := c.identify(w, r)
		if !ok {
			return
		}
		want := c.sessions.csrf
		if cl.sess != nil {
			want = cl.sess.csrf
		}
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			writeErrorBody(w, http.StatusForbidden, apiError{Error: "the action lacks the CSRF token of this session in the " + csrfHeader + " header (reload the page to get a fresh one)", Code: "CSRFRefused"})
			return
		}
		h(w, r, cl)
	}
}

// sameOrigin reports whether r's Origin header, if any, names the host r
// was sent to. Browsers send Origin with every cross-site POST and DELETE.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// sessionInfo is the body of GET /console/api/session and of a sign-in.
type sessionInfo struct {
	// Auth is true when the console requires sign-in.
	Auth bool `json:"auth"`
	// User is the signed-in user's name and ARN ("" when none).
	User    string `json:"user,omitempty"`
	UserARN string `json:"userArn,omitempty"`
	// CSRF is the token every action must send in X-CSRF-Token ("" when
	// signed out).
	CSRF string `json:"csrf,omitempty"`
	// CanList and CanCreate say whether the user may list streams
	// (kinesis:ListStreams on "*") and create them (kinesis:CreateStream
	// on every stream name, "stream/*").
	CanList   bool `json:"canList"`
	CanCreate bool `json:"canCreate"`
	// Region and Account are those of the server's ARNs.
	Region  string `json:"region"`
	Account string `json:"account"`
	// SampleSeconds is how often the charts' counters are sampled.
	SampleSeconds float64 `json:"sampleSeconds"`
}

func (c *Console) sessionInfo(cl *call) sessionInfo {
	si := sessionInfo{Auth: c.authOn(), Region: c.opts.Region, Account: c.opts.Account, SampleSeconds: c.opts.SampleEvery.Seconds()}
	switch {
	case !c.authOn():
		si.CSRF = c.sessions.csrf
	case cl == nil || cl.user == nil:
		return si
	default:
		si.User, si.UserARN, si.CSRF = cl.user.Name, cl.user.ARN, cl.sess.csrf
	}
	si.CanList = c.allowed(cl, actListStreams, auth.AllResources, nil)
	si.CanCreate = c.allowed(cl, actCreateStream, c.scope.StreamARN("*"), nil)
	return si
}

// getSession answers who the caller is; 200 even when signed out (Auth
// true and no User), so that the page knows to ask for keys.
func (c *Console) getSession(w http.ResponseWriter, r *http.Request) {
	var cl *call
	if c.authOn() {
		if ck, err := r.Cookie(cookieName); err == nil {
			if ss := c.sessions.get(ck.Value); ss != nil {
				if u := c.opts.Auth.Lookup(ss.accessKey); u != nil {
					cl = &call{user: u, sess: ss}
				}
			}
		}
	}
	writeJSON(w, c.sessionInfo(cl))
}

type loginInput struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// login checks an access key pair and opens a session. The secret is
// compared in constant time; a wrong key id and a wrong secret get the same
// answer.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.authOn() {
		writeError(w, http.StatusBadRequest, "this server has no users file (sluiced --auth): the console needs no sign-in")
		return
	}
	if !sameOrigin(r) {
		writeErrorBody(w, http.StatusForbidden, apiError{Error: "the sign-in comes from another site (Origin " + r.Header.Get("Origin") + ")", Code: "CSRFRefused"})
		return
	}
	var in loginInput
	if !readJSON(w, r, &in) {
		return
	}
	u := c.opts.Auth.Lookup(in.AccessKeyID)
	secret := "\x00no such user"
	if u != nil {
		secret = u.SecretAccessKey
	}
	a, b := sha256.Sum256([]byte(in.SecretAccessKey)), sha256.Sum256([]byte(secret))
	if u == nil || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		c.audit(r, nil, "console:SignIn", auth.AllResources, auth.OutcomeDenied)
		writeErrorBody(w, http.StatusUnauthorized, apiError{Error: "the access key id or the secret access key is not right", Code: "SignInRefused"})
		return
	}
	ss := c.sessions.open(u.AccessKeyID)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: ss.id, Path: Prefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		MaxAge: int(c.opts.SessionTTL / time.Second),
	})
	cl := &call{user: u, sess: ss}
	c.audit(r, cl, "console:SignIn", auth.AllResources, auth.OutcomeAllowed)
	writeJSON(w, c.sessionInfo(cl))
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, cl *call) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.end(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	writeJSON(w, c.sessionInfo(nil))
}
