package server

import (
	"encoding/json"
	"net/http"
	"time"
)

// healthReport is the body of /healthz when a shard has failed.
type healthReport struct {
	Status string        `json:"status"` // "degraded"
	Faults []healthFault `json:"faults"`
}

type healthFault struct {
	Stream string    `json:"stream"`
	Shard  string    `json:"shard"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// healthz answers 200 "ok" while every shard works, and 503 with a JSON body
// naming each failed shard and why (a shard that could not open, or whose
// log was fenced by a failed write or sync) otherwise. The other shards go
// on serving either way: a balancer or an operator decides what a degraded
// node is worth.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	faults := s.eng.Faults()
	if len(faults) == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
		return
	}
	rep := healthReport{Status: "degraded", Faults: make([]healthFault, len(faults))}
	for i, f := range faults {
		rep.Faults[i] = healthFault{Stream: f.Stream, Shard: f.Shard, Reason: f.Reason, Since: f.Since.UTC()}
	}
	body, _ := json.MarshalIndent(rep, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(append(body, '\n'))
}
