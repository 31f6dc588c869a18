package kpl

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// vector is one aggregate made by AWS Labs' aws-kinesis-agg (npm, 4.2.8)
// of fixed user records; `node e2e/js/kpl.mjs vectors` makes the file.
type vector struct {
	Name    string `json:"name"`
	Records []struct {
		PartitionKey    string  `json:"partitionKey"`
		ExplicitHashKey *string `json:"explicitHashKey"`
		Data            []byte  `json:"data"`
	} `json:"records"`
	PartitionKey    string  `json:"partitionKey"`
	ExplicitHashKey *string `json:"explicitHashKey"`
	Aggregate       string  `json:"aggregate"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func (v vector) records() []Record {
	recs := make([]Record, len(v.Records))
	for i, r := range v.Records {
		recs[i] = Record{PartitionKey: []byte(r.PartitionKey), Data: r.Data}
		if r.ExplicitHashKey != nil {
			recs[i].ExplicitHashKey = []byte(*r.ExplicitHashKey)
		}
	}
	return recs
}

func (v vector) data(t testing.TB) []byte {
	b, err := hex.DecodeString(v.Aggregate)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors_Deaggregate reads the npm module's aggregates.
func TestVectors_Deaggregate(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			got, ok := collect(t, v.data(t))
			if !ok {
				t.Fatal("Deaggregate refused the npm module's aggregate")
			}
			sameRecords(t, got, v.records())
		})
	}
}

// TestVectors_Aggregate makes, of the same user records, the very bytes
// the npm module made, and routes the aggregate as it did (its partition
// key is the first record's; its explicit hash key the first record's
// when any record has one: here, always the first's too).
func TestVectors_Aggregate(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			agg := aggregateAll(t, v.records())
			if want := v.data(t); !bytes.Equal(agg.Data, want) {
				t.Fatalf("aggregate\n%x\nwant (aws-kinesis-agg)\n%x", agg.Data, want)
			}
			if string(agg.PartitionKey) != v.PartitionKey {
				t.Fatalf("partition key %q, want %q", agg.PartitionKey, v.PartitionKey)
			}
			if v.ExplicitHashKey != nil && string(agg.ExplicitHashKey) != *v.ExplicitHashKey {
				t.Fatalf("explicit hash key %q, want %q", agg.ExplicitHashKey, *v.ExplicitHashKey)
			}
		})
	}
}
