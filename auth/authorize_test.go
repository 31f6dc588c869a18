package auth

import (
	"errors"
	"strings"
	"testing"
)

const testAccount = "123456789012"

// testUser returns user name of account testAccount with the identity policy
// doc ("" for none), parsed through ParseUsers as a users file would be.
func testUser(t testing.TB, name, doc string) *User {
	t.Helper()
	policy := ""
	if doc != "" {
		policy = `, "policy": ` + doc
	}
	file := `{"account": "` + testAccount + `", "users": [{"name": "` + name + `", "access_key_id": "AKIA` + strings.Repeat("X", 16) +
		`", "secret_access_key": "` + strings.Repeat("s", 40) + `"` + policy + `}]}`
	us, err := ParseUsers([]byte(file))
	if err != nil {
		t.Fatalf("ParseUsers: %v", err)
	}
	return us.List()[0]
}

func mustResourcePolicy(t testing.TB, doc string) *Policy {
	t.Helper()
	if doc == "" {
		return nil
	}
	p, err := ParseResourcePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParseResourcePolicy(%s): %v", doc, err)
	}
	return p
}

const (
	ordersARN   = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-1"
	paymentsARN = "arn:aws:kinesis:us-east-1:123456789012:stream/payments"
	ingestARN   = "arn:aws:iam::123456789012:user/ingest"
	otherARN    = "arn:aws:iam::123456789012:user/other"
)

// stmt builds a one-statement policy document.
func stmt(body string) string { return `{"Version": "2012-10-17", "Statement": [{` + body + `}]}` }

// Outcomes of TestAuthorize cases.
const (
	allowed       = "allowed"
	implicitDeny  = "implicit"
	identityDeny  = "identity-deny"
	resourceDeny  = "resource-deny"
	noIdentityMsg = "because no identity-based policy allows the "
)

func TestAuthorize(t *testing.T) {
	cases := []struct {
		name     string
		user     string // user name: ingest or other
		identity string // identity policy document, "" for none
		resource string // resource policy document, "" for none
		action   string
		target   string // resource ARN
		want     string
	}{
		{"allow", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "` + ordersARN + `"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"no policy is an implicit deny", "ingest", "", "", "kinesis:PutRecords", ordersARN, implicitDeny},
		{"another action is not allowed", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "*"`), "",
			"kinesis:DeleteStream", ordersARN, implicitDeny},
		{"another resource is not allowed", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "` + ordersARN + `"`), "",
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"identity deny beats identity allow", "ingest",
			`{"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}, {"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*"}]}`, "",
			"kinesis:DeleteStream", ordersARN, identityDeny},
		{"identity deny beats resource allow", "ingest",
			stmt(`"Effect": "Deny", "Action": "kinesis:PutRecords", "Resource": "*"`),
			stmt(`"Effect": "Allow", "Principal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, identityDeny},
		{"resource deny beats identity allow", "ingest",
			stmt(`"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"`),
			stmt(`"Effect": "Deny", "Principal": "*", "Action": "kinesis:DeleteStream", "Resource": "*"`),
			"kinesis:DeleteStream", paymentsARN, resourceDeny},
		{"resource deny of another action leaves the allow", "ingest",
			stmt(`"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"`),
			stmt(`"Effect": "Deny", "Principal": "*", "Action": "kinesis:DeleteStream", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"action * wildcard", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:Put*", "Resource": "*"`), "",
			"kinesis:PutRecord", ordersARN, allowed},
		{"action * wildcard does not cover others", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:Put*", "Resource": "*"`), "",
			"kinesis:GetRecords", ordersARN, implicitDeny},
		{"action ? matches one character", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecord?", "Resource": "*"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"action ? needs a character", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecord?", "Resource": "*"`), "",
			"kinesis:PutRecord", ordersARN, implicitDeny},
		{"actions are case-insensitive", "ingest", stmt(`"Effect": "Allow", "Action": "KINESIS:putrecords", "Resource": "*"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"action * alone", "ingest", stmt(`"Effect": "Allow", "Action": "*", "Resource": "*"`), "",
			"sluice:SetQuotas", ordersARN, allowed},
		{"resource * wildcard", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "arn:aws:kinesis:*:*:stream/orders-*"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"resource * wildcard does not cover others", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "arn:aws:kinesis:*:*:stream/orders-*"`), "",
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"resources are case-sensitive", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "arn:aws:kinesis:*:*:stream/ORDERS-*"`), "",
			"kinesis:PutRecords", ordersARN, implicitDeny},
		{"resource ? matches one character", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "arn:aws:kinesis:*:*:stream/orders-?"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"resource ? matches only one", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "arn:aws:kinesis:*:*:stream/orders-?"`), "",
			"kinesis:PutRecords", ordersARN + "2", implicitDeny},
		{"a stream pattern does not cover *", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "arn:aws:kinesis:*:*:stream/*"`), "",
			"kinesis:ListStreams", AllResources, implicitDeny},
		{"resource * covers *", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "*"`), "",
			"kinesis:ListStreams", AllResources, allowed},
		{"NotAction allows the others", "ingest", stmt(`"Effect": "Allow", "NotAction": "kinesis:DeleteStream", "Resource": "*"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"NotAction does not allow what it names", "ingest", stmt(`"Effect": "Allow", "NotAction": "kinesis:DeleteStream", "Resource": "*"`), "",
			"kinesis:DeleteStream", ordersARN, implicitDeny},
		{"NotAction in a Deny", "ingest",
			`{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "NotAction": ["kinesis:Describe*", "kinesis:List*"], "Resource": "*"}]}`, "",
			"kinesis:PutRecords", ordersARN, identityDeny},
		{"NotResource allows the others", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:*", "NotResource": "` + paymentsARN + `"`), "",
			"kinesis:PutRecords", ordersARN, allowed},
		{"NotResource does not allow what it names", "ingest", stmt(`"Effect": "Allow", "Action": "kinesis:*", "NotResource": "` + paymentsARN + `"`), "",
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"resource policy grants a named user", "ingest", "",
			stmt(`"Effect": "Allow", "Principal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"resource policy grant of another action", "ingest", "",
			stmt(`"Effect": "Allow", "Principal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:DeleteStream", paymentsARN, implicitDeny},
		{"account principal grants nothing by itself", "ingest", "",
			stmt(`"Effect": "Allow", "Principal": {"AWS": "` + testAccount + `"}, "Action": "kinesis:*", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"account root principal grants nothing by itself", "ingest", "",
			stmt(`"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + testAccount + `:root"}, "Action": "kinesis:*", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"account principal delegates to the identity policy", "ingest",
			stmt(`"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "*"`),
			stmt(`"Effect": "Allow", "Principal": {"AWS": "` + testAccount + `"}, "Action": "kinesis:*", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"account principal deny applies to its users", "ingest",
			stmt(`"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"`),
			stmt(`"Effect": "Deny", "Principal": {"AWS": "` + testAccount + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, resourceDeny},
		{"a grant to user A does not grant user B", "other", "",
			stmt(`"Effect": "Allow", "Principal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"a deny of user A does not deny user B", "other",
			stmt(`"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"`),
			stmt(`"Effect": "Deny", "Principal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:*", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"principal * grants everyone", "other", "",
			stmt(`"Effect": "Allow", "Principal": "*", "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"principal AWS * grants everyone", "other", "",
			stmt(`"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"NotPrincipal grants the others", "other", "",
			stmt(`"Effect": "Allow", "NotPrincipal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, allowed},
		{"NotPrincipal does not grant whom it names", "ingest", "",
			stmt(`"Effect": "Allow", "NotPrincipal": {"AWS": "` + ingestARN + `"}, "Action": "kinesis:PutRecords", "Resource": "*"`),
			"kinesis:PutRecords", paymentsARN, implicitDeny},
		{"resource policy Resource limits its statements", "ingest", "",
			stmt(`"Effect": "Allow", "Principal": "*", "Action": "kinesis:PutRecords", "Resource": "` + ordersARN + `"`),
			"kinesis:PutRecords", paymentsARN, implicitDeny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := testUser(t, c.user, c.identity)
			err := Authorize(u, c.action, c.target, mustResourcePolicy(t, c.resource))
			if c.want == allowed {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			var de *DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T); want a *DeniedError", err, err)
			}
			prefix := "User: " + u.ARN + " is not authorized to perform: " + c.action + " on resource: " + c.target + " "
			var why string
			switch c.want {
			case implicitDeny:
				why = noIdentityMsg + c.action + " action"
			case identityDeny:
				why = "with an explicit deny in an identity-based policy"
			case resourceDeny:
				why = "with an explicit deny in a resource-based policy"
			}
			if got := err.Error(); got != prefix+why {
				t.Fatalf("message\n %q\nwant\n %q", got, prefix+why)
			}
			if de.User != u.ARN || de.Action != c.action || de.Resource != c.target {
				t.Fatalf("DeniedError %+v names another request", de)
			}
			if de.Explicit != (c.want != implicitDeny) || de.ByResourcePolicy != (c.want == resourceDeny) {
				t.Fatalf("DeniedError %+v; want %s", de, c.want)
			}
		})
	}
}

// TestAuthorize_AllowedDoesNotAllocate: the HTTP door judges every PutRecords
// call, so an allowed request costs no garbage, through both policies.
func TestAuthorize_AllowedDoesNotAllocate(t *testing.T) {
	u := testUser(t, "ingest", `{"Statement": [
		{"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*"},
		{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream*"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}`)
	rp := mustResourcePolicy(t, stmt(`"Effect": "Allow", "Principal": {"AWS": ["`+otherARN+`", "`+ingestARN+`"]}, "Action": "kinesis:Get*", "Resource": "*"`))
	for _, c := range []struct{ action, resource string }{
		{"kinesis:PutRecords", ordersARN},
		{"kinesis:GetRecords", ordersARN},
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if err := Authorize(u, c.action, c.resource, rp); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Authorize(%s) allocates %.1f times when it allows", c.action, allocs)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	u := testUser(b, "ingest", `{"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream*", "kinesis:ListShards"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := Authorize(u, "kinesis:PutRecords", ordersARN, nil); err != nil {
			b.Fatal(err)
		}
	}
}
