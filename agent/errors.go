package agent

import "errors"

// Errors of the agent. Callers test for them with errors.Is.
var (
	// ErrConfig is a configuration file that cannot run: the wrapping
	// error says which key is wrong and what would be right.
	ErrConfig = errors.New("agent: bad configuration")
	// ErrCheckpointCorrupt is a checkpoint file that does not decode. The
	// agent refuses to start on one rather than re-send or skip lines.
	ErrCheckpointCorrupt = errors.New("agent: checkpoint file corrupt")
)
