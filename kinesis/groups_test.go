package kinesis

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// groupCall sends a group operation as a worker in any language would: a
// JSON POST with X-Amz-Target, signed with SigV4.
func (env *testEnv) groupCall(t *testing.T, op, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.srv.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", GroupsTargetPrefix+op)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: testAdminKeyID, SecretAccessKey: testAdminSecret}
	if err := v4.NewSigner().SignHTTP(bg, creds, req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s answered %q: %v", op, b, err)
		}
	}
	return resp.StatusCode, out
}

func TestGroups_HTTPDoor(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 2)
	put, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	code, out := env.groupCall(t, "JoinGroup", `{"StreamName":"s","GroupName":"g","MemberName":"py-1","FailoverTimeMillis":5000}`)
	leases, _ := out["Leases"].([]any)
	if code != 200 || len(leases) != 2 || out["HeartbeatIntervalMillis"] != float64(1666) {
		t.Fatalf("JoinGroup: %d %v; want both leases and a 1666 ms heartbeat", code, out)
	}
	var epoch float64
	for _, l := range leases {
		lm := l.(map[string]any)
		if lm["ShardId"] == *put.ShardId {
			epoch = lm["Epoch"].(float64)
		}
	}
	body, _ := json.Marshal(map[string]any{"StreamName": "s", "GroupName": "g", "MemberName": "py-1", "ShardId": *put.ShardId,
		"Epoch": epoch, "SequenceNumber": *put.SequenceNumber, "Whole": true})
	if code, out := env.groupCall(t, "CheckpointGroup", string(body)); code != 200 {
		t.Fatalf("CheckpointGroup: %d %v", code, out)
	}
	_, out = env.groupCall(t, "DescribeGroup", `{"StreamName":"s","GroupName":"g"}`)
	found := false
	for _, s := range out["Shards"].([]any) {
		sm := s.(map[string]any)
		if sm["ShardId"] == *put.ShardId {
			found = sm["Checkpoint"].(map[string]any)["SequenceNumber"] == *put.SequenceNumber && sm["Owner"] == "py-1"
		}
	}
	if !found {
		t.Fatalf("DescribeGroup: %v; want py-1 owning %s checkpointed at %s", out, *put.ShardId, *put.SequenceNumber)
	}
	if _, out := env.groupCall(t, "ListGroups", `{"StreamName":"s"}`); len(out["GroupNames"].([]any)) != 1 {
		t.Fatalf("ListGroups: %v", out)
	}
	if _, out := env.groupCall(t, "GroupHeartbeat", `{"StreamName":"s","GroupName":"g","MemberName":"py-1"}`); len(out["Leases"].([]any)) != 2 {
		t.Fatalf("GroupHeartbeat: %v", out)
	}

	for _, c := range []struct {
		op, body, code, msg string
	}{
		{"CheckpointGroup", strings.Replace(string(body), `"Epoch":1`, `"Epoch":7`, 1), "ResourceInUseException", "lease lost"},
		{"JoinGroup", `{"StreamName":"s","GroupName":"g"}`, "ValidationException", "memberName"},
		{"JoinGroup", `{"StreamName":"s","GroupName":"g","MemberName":"m","Colour":1}`, "SerializationException", "Colour"},
		{"ResetGroup", `{"StreamName":"s","GroupName":"g","To":"YESTERDAY"}`, "ValidationException", "TRIM_HORIZON"},
		{"DescribeGroup", `{"StreamName":"s","GroupName":"nope"}`, "ResourceNotFoundException", "nope"},
		{"JoinTheGroup", `{}`, "UnknownOperationException", "JoinGroup"},
	} {
		code, out := env.groupCall(t, c.op, c.body)
		typ, _ := out["__type"].(string)
		msg, _ := out["message"].(string)
		if m, ok := out["Message"].(string); ok {
			msg = m // SerializationException's member, as AWS spells it
		}
		if code/100 != 4 || !strings.Contains(typ, c.code) || !strings.Contains(msg, c.msg) {
			t.Errorf("%s %s: %d %v; want %s saying %q", c.op, c.body, code, out, c.code, c.msg)
		}
	}
	if code, out := env.groupCall(t, "LeaveGroup", `{"StreamName":"s","GroupName":"g","MemberName":"py-1"}`); code != 200 {
		t.Fatalf("LeaveGroup: %d %v", code, out)
	}
	if code, out := env.groupCall(t, "ResetGroup", `{"StreamName":"s","GroupName":"g","To":"TRIM_HORIZON"}`); code != 200 {
		t.Fatalf("ResetGroup: %d %v", code, out)
	}
	if code, out := env.groupCall(t, "DeleteGroup", `{"StreamName":"s","GroupName":"g"}`); code != 200 {
		t.Fatalf("DeleteGroup: %d %v", code, out)
	}
}
