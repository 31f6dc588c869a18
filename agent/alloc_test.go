package agent

import (
	"context"
	"fmt"
	"hash/fnv"
	"os/exec"
	"strings"
	"testing"
)

// TestScan_NoAllocationPerLine: splitting lines, processing them (none,
// LOGTOJSON, CSVTOJSON, SINGLELINE) and adding them to a batch allocates
// nothing once the buffers have grown.
func TestScan_NoAllocationPerLine(t *testing.T) {
	var apache, csv []byte
	for i := range 100 {
		apache = fmt.Appendf(apache, "10.0.0.%d - - [03/Dec/2026:14:31:32 +0000] \"GET /items/%d HTTP/1.1\" 200 %d \"-\" \"curl/8\"\n", i, i, i)
		csv = fmt.Appendf(csv, "user%d,\"note, %d\"\n", i, i)
	}
	for _, tc := range []struct {
		name string
		flow func(f *Flow)
	}{
		{"raw RANDOM", nil},
		{"raw DETERMINISTIC", func(f *Flow) { f.PartitionKeyOption = KeyDeterministic }},
		{"LOGTOJSON", func(f *Flow) {
			f.DataProcessingOptions = []ProcessingOption{{OptionName: OptLogToJSON, LogFormat: FormatCombinedApache}}
		}},
		{"CSVTOJSON", func(f *Flow) {
			f.DataProcessingOptions = []ProcessingOption{{OptionName: OptCSVToJSON, CustomFieldNames: []string{"a", "b"}}}
		}},
		{"SINGLELINE multi-line", func(f *Flow) {
			f.MultiLineStartPattern = `^10\.`
			f.DataProcessingOptions = []ProcessingOption{{OptionName: OptSingleLine}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.flow)
			fl := h.a.flows[0]
			buf := apache
			if tc.name == "CSVTOJSON" {
				buf = csv
			}
			s := &source{}
			ctx := context.Background()
			run := func() {
				fl.cur.reset()
				s.readOff = 0
				if _, err := fl.scan(ctx, s, buf, true); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if raceEnabled && fl.multi != nil {
				t.Skip("under the race detector sync.Pool drops items, so regexp matching allocates")
			}
			if n := testing.AllocsPerRun(20, run); n != 0 {
				t.Fatalf("%v allocations per 100 lines", n)
			}
			if fl.cur.len() != 100 || fl.pipe.errors != 0 {
				t.Fatalf("%d records, %d unparsed", fl.cur.len(), fl.pipe.errors)
			}
		})
	}
}

func TestKeyer_DeterministicIsFNV1a(t *testing.T) {
	k := newKeyer(&Flow{PartitionKeyOption: KeyDeterministic})
	h := fnv.New64a()
	h.Write([]byte("line\n"))
	if got, want := string(k.key([]byte("line\n"))), fmt.Sprintf("%016x", h.Sum64()); got != want {
		t.Fatalf("key %s; want %s", got, want)
	}
}

// TestAgent_LinksNoStorageCode: the agent ships through the client and the
// AWS SDK and links none of the server's storage code.
func TestAgent_LinksNoStorageCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/sluicedb/sluice/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, f := range []string{"github.com/sluicedb/sluice/engine", "github.com/sluicedb/sluice/segment", "github.com/sluicedb/sluice/index", "github.com/sluicedb/sluice/server", "github.com/edsrzf/mmap-go"} {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the agent links %s", d)
			}
		}
	}
}
