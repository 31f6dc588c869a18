package kinesis

import (
	"net/http"
	"strings"
)

// Cross-origin resource sharing, so that the AWS SDK for JavaScript in a
// browser can call the API: a preflight (OPTIONS with an Origin) is answered
// without authentication, as AWS answers it, and every answer to a request
// with an allowed Origin carries the headers that let the page read it.

// Values of the CORS headers.
const (
	// corsMaxAge is how long browsers may cache a preflight (AWS's 2 days).
	corsMaxAge = "172800"
	// corsExposed are the response headers the SDK reads.
	corsExposed = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
)

var (
	corsMaxAgeValue  = []string{corsMaxAge}
	corsExposedValue = []string{corsExposed}
	corsAnyOrigin    = []string{"*"}
	corsVaryOrigin   = []string{"Origin"}
)

// corsPolicy is the set of origins allowed to call the API from a browser.
type corsPolicy struct {
	any     bool
	origins map[string]bool
}

// newCORSPolicy returns the policy of Options.CORSOrigins: "*" allows any
// origin; nil takes the default, any origin without Auth and none with it.
func newCORSPolicy(origins []string, authOn bool) corsPolicy {
	if origins == nil && !authOn {
		origins = []string{"*"}
	}
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		switch o {
		case "":
		case "*":
			p.any = true
		default:
			p.origins[strings.ToLower(o)] = true
		}
	}
	return p
}

// allows reports whether a page of origin may call the API.
func (p *corsPolicy) allows(origin string) bool {
	return p.any || p.origins[strings.ToLower(origin)]
}

// allowOrigin sets Access-Control-Allow-Origin for an allowed origin.
func (p *corsPolicy) allowOrigin(h http.Header, origin string) {
	if p.any {
		h["Access-Control-Allow-Origin"] = corsAnyOrigin
		return
	}
	h["Access-Control-Allow-Origin"] = []string{origin}
	h["Vary"] = corsVaryOrigin
}

// cors handles the CORS part of a request: it answers a preflight (true:
// the request is done) and sets the headers of the answer to a request from
// an allowed origin.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) (done bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	hdr := w.Header()
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if !h.corsPolicy.allows(origin) {
			// No CORS headers: the browser refuses the call.
			hdr["Content-Length"] = []string{"0"}
			w.WriteHeader(http.StatusForbidden)
			return true
		}
		h.corsPolicy.allowOrigin(hdr, origin)
		hdr.Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
		if rh := r.Header.Values("Access-Control-Request-Headers"); len(rh) > 0 {
			hdr.Set("Access-Control-Allow-Headers", strings.Join(rh, ","))
		}
		hdr["Access-Control-Max-Age"] = corsMaxAgeValue
		hdr["Access-Control-Expose-Headers"] = corsExposedValue
		hdr["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusOK)
		return true
	}
	if h.corsPolicy.allows(origin) {
		h.corsPolicy.allowOrigin(hdr, origin)
		hdr["Access-Control-Expose-Headers"] = corsExposedValue
	}
	return false
}
