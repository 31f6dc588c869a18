package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/sluicedb/sluice/auth"
)

// checkExposure refuses to put a door on a non-loopback address of a
// server without a users file, unless the configuration says Insecure (and
// then logs a warning): such a server lets anyone who reaches it read,
// write and delete every stream.
func checkExposure(cfg *Config) error {
	if cfg.AuthFile != "" {
		return nil
	}
	for _, d := range []struct{ door, flag, addr string }{
		{"binary protocol", "--listen", cfg.Listen},
		{"Kinesis HTTP API", "--http", cfg.HTTP},
	} {
		if loopback(d.addr) {
			continue
		}
		if !cfg.Insecure {
			return fmt.Errorf("the %s door (%s %s) would be reachable beyond this machine without authentication, "+
				"letting anyone who can connect read, write and delete every stream: give --auth FILE, "+
				"bind it to a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT), "+
				"or pass --insecure to serve it unauthenticated anyway", d.door, d.flag, d.addr)
		}
		cfg.Logger.Warn("serving without authentication on a non-loopback address (--insecure): anyone who can connect may read, write and delete every stream",
			"door", d.door, "flag", d.flag, "addr", d.addr)
	}
	return nil
}

// loopback reports whether the listen address addr (host:port) binds only
// loopback interfaces: 127.0.0.0/8, ::1 or the name localhost. An empty
// host binds every interface; another name may resolve anywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr // net.Listen reports the malformed address itself
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.SplitN(host, "%", 2)[0], "."))
	return ip != nil && ip.IsLoopback()
}

// adoptAccount reconciles the server's account (--account, which appears
// in ARNs) with the users file's: policies name resources by ARN, so the
// two must agree. A server left at the default account takes the file's.
func adoptAccount(cfg *Config, st *auth.Store) error {
	file := st.Account()
	switch {
	case cfg.Account == file:
	case cfg.Account == "" || cfg.Account == auth.DefaultAccount:
		cfg.Account = file
	case file == auth.DefaultAccount:
		// The users' ARNs carry the file's account, which resource
		// policies name them by: it must be the streams' account too.
		return fmt.Errorf("--account is %s but the users file %s names no account (its users are in %s): add \"account\": \"%s\" to the file, or leave --account out",
			cfg.Account, cfg.AuthFile, auth.DefaultAccount, cfg.Account)
	default:
		return fmt.Errorf("--account %s differs from the account %s of the users file %s: stream ARNs and the policies' resources would never match; give the same account in both (or leave --account out)",
			cfg.Account, file, cfg.AuthFile)
	}
	return nil
}

// requireBearer serves h only to requests that carry the bearer token
// ("Authorization: Bearer TOKEN"), compared in constant time; others get
// 401 with a WWW-Authenticate challenge.
func requireBearer(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
		// Hashing first makes the comparison's time independent of the
		// token's length too.
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice metrics"`)
			http.Error(w, "/metrics requires the bearer token of sluiced --metrics-token: send \"Authorization: Bearer TOKEN\"", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
