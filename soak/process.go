package soak

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Server is one sluiced process serving on loopback ports it chose.
type Server struct {
	WireAddr string // the binary protocol's host:port
	HTTPAddr string // the Kinesis API's, /metrics' and /healthz' host:port
	PID      int

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited; then err is set
	err    error

	// mu guards tail.
	mu   sync.Mutex
	tail []string // the last logTail log lines
}

// logTail is how many of the server's last log lines a Server keeps for
// failure messages; a long soak logs far more.
const logTail = 200

// startTimeout bounds the wait for the server to log its addresses.
const startTimeout = 30 * time.Second

// Start runs binary on dataDir with free loopback ports and extra flags,
// and waits until it logs the addresses it bound. Kill it when done.
func Start(binary, dataDir string, extra ...string) (*Server, error) {
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-format", "json"}, extra...)
	s := &Server{cmd: exec.Command(binary, args...), exited: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	s.PID = s.cmd.Process.Pid
	serving := make(chan [2]string, 1)
	logDone := make(chan struct{})
	// Read the log until the process closes it: keep the tail, and report
	// the "serving" line's addresses.
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			var rec struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
				HTTP   string `json:"http"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec.Msg = "unparsed"
			}
			s.mu.Lock()
			if len(s.tail) == logTail {
				s.tail = append(s.tail[:0], s.tail[1:]...)
			}
			s.tail = append(s.tail, line)
			s.mu.Unlock()
			if rec.Msg == "sluiced serving" && !announced {
				announced = true
				serving <- [2]string{rec.Listen, rec.HTTP}
			}
		}
	}()
	go func() {
		<-logDone
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case a := <-serving:
		s.WireAddr, s.HTTPAddr = a[0], a[1]
	case <-s.exited:
		return nil, fmt.Errorf("sluiced exited before serving: %v\n%s", s.err, s.Log())
	case <-time.After(startTimeout):
		s.Kill()
		return nil, fmt.Errorf("sluiced did not log its addresses within %v\n%s", startTimeout, s.Log())
	}
	if s.WireAddr == "" || s.HTTPAddr == "" || strings.HasSuffix(s.WireAddr, ":0") {
		s.Kill()
		return nil, fmt.Errorf("sluiced logged listen=%q http=%q; want the bound addresses", s.WireAddr, s.HTTPAddr)
	}
	return s, nil
}

// ErrExited is returned by Alive once the process has exited.
var ErrExited = errors.New("soak: sluiced exited")

// Alive returns nil while the process runs, and why it ended otherwise.
func (s *Server) Alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%w: %v", ErrExited, s.err)
	default:
		return nil
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Log returns the last lines the server logged.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// Memory reads the process's memory figures from /proc.
func (s *Server) Memory() (Memory, error) { return ReadMemory(s.PID) }
