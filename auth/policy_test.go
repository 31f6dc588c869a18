package auth

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePolicy_Errors(t *testing.T) {
	allowAll := `"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"`
	cases := []struct {
		name     string
		resource bool // parse as a resource policy
		doc      string
		want     []string // what the message must name
	}{
		{"condition refused", false, stmt(allowAll + `, "Condition": {"StringEquals": {"aws:RequestTag/team": "a"}}`),
			[]string{"statement 1", "Condition", "not supported"}},
		{"condition refused in a resource policy", true, stmt(allowAll + `, "Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}`),
			[]string{"Condition"}},
		{"identity policy with a Principal", false, stmt(allowAll + `, "Principal": "*"`),
			[]string{"identity policy", "Principal"}},
		{"resource policy without a Principal", true, stmt(allowAll),
			[]string{"resource policy", "must name a Principal"}},
		{"Principal and NotPrincipal", true, stmt(allowAll + `, "Principal": "*", "NotPrincipal": "*"`),
			[]string{"Principal or NotPrincipal, not both"}},
		{"bad Effect", false, stmt(`"Effect": "Permit", "Action": "kinesis:*", "Resource": "*"`),
			[]string{`Effect "Permit"`, `"Allow" or "Deny"`}},
		{"missing Effect", false, stmt(`"Action": "kinesis:*", "Resource": "*"`),
			[]string{"Effect is missing"}},
		{"Action and NotAction", false, stmt(`"Effect": "Allow", "Action": "kinesis:*", "NotAction": "kinesis:DeleteStream", "Resource": "*"`),
			[]string{"Action or NotAction, not both"}},
		{"no Action", false, stmt(`"Effect": "Allow", "Resource": "*"`),
			[]string{"Action (or NotAction) is missing"}},
		{"Resource and NotResource", false, stmt(`"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"`),
			[]string{"Resource or NotResource, not both"}},
		{"no Resource", false, stmt(`"Effect": "Allow", "Action": "*"`),
			[]string{"Resource (or NotResource) is missing"}},
		{"Resource not an ARN", false, stmt(`"Effect": "Allow", "Action": "*", "Resource": "stream/orders"`),
			[]string{`Resource "stream/orders"`, "ARN"}},
		{"Action without a service", false, stmt(`"Effect": "Allow", "Action": "PutRecords", "Resource": "*"`),
			[]string{`Action "PutRecords"`, "service:action"}},
		{"Action with a bad service", false, stmt(`"Effect": "Allow", "Action": "kin esis:PutRecords", "Resource": "*"`),
			[]string{"invalid service prefix"}},
		{"empty Action list", false, stmt(`"Effect": "Allow", "Action": [], "Resource": "*"`),
			[]string{"Action is an empty array"}},
		{"Action of the wrong type", false, stmt(`"Effect": "Allow", "Action": 7, "Resource": "*"`),
			[]string{"Action must be a string or an array of strings"}},
		{"bad JSON", false, `{"Statement": [`,
			[]string{"not a valid policy document"}},
		{"trailing data", false, stmt(allowAll) + ` {}`,
			[]string{"unexpected data after the document"}},
		{"empty Statement", false, `{"Version": "2012-10-17", "Statement": []}`,
			[]string{"no Statement"}},
		{"no Statement", false, `{"Version": "2012-10-17"}`,
			[]string{"no Statement"}},
		{"Statement of the wrong type", false, `{"Statement": "allow"}`,
			[]string{"Statement must be an object or an array of objects"}},
		{"unknown member", false, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Actions": "kinesis:*", "Resource": "*"}]}`,
			[]string{`unknown field "Actions"`}},
		{"unknown top-level member", false, `{"Version": "2012-10-17", "Statements": []}`,
			[]string{`unknown field "Statements"`}},
		{"unknown Version", false, `{"Version": "2020-01-01", "Statement": [{` + allowAll + `}]}`,
			[]string{`Version "2020-01-01"`, "2012-10-17"}},
		{"unsupported principal type", true, stmt(allowAll + `, "Principal": {"Service": "kinesis.amazonaws.com"}`),
			[]string{`Principal type "Service"`}},
		{"malformed principal", true, stmt(allowAll + `, "Principal": {"AWS": "ingest"}`),
			[]string{`Principal "ingest"`, "arn:aws:iam::ACCOUNT:user/NAME"}},
		{"principal string other than *", true, stmt(allowAll + `, "Principal": "ingest"`),
			[]string{`Principal must be "*" or {"AWS": ...}`}},
		{"second statement named by Sid", false, `{"Statement": [{` + allowAll + `}, {"Sid": "two", "Effect": "Deny", "Action": "*"}]}`,
			[]string{`statement 2 (Sid "two")`, "Resource"}},
		{"member of another case", false, stmt(`"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*", "effect": "Allow"`),
			[]string{`member "effect"`, "case-sensitive"}},
		{"member twice", false, stmt(`"Effect": "Allow", "Action": "kinesis:Get*", "Resource": "*", "Action": "kinesis:*"`),
			[]string{`member "Action" appears twice`}},
		{"top-level member of another case", false, `{"statement": [{` + allowAll + `}]}`,
			[]string{`member "statement"`}},
		{"single statement member twice", false, `{"Statement": {` + allowAll + `, "Effect": "Deny"}}`,
			[]string{`member "Effect" appears twice`}},
		{"principal twice", true, stmt(allowAll + `, "Principal": {"AWS": "arn:aws:iam::123456789012:user/a", "AWS": "*"}`),
			[]string{`Principal member "AWS" appears twice`}},
		{"too large", false, `{"Statement": [{` + allowAll + `, "Sid": "` + strings.Repeat("x", MaxPolicySize) + `"}]}`,
			[]string{"the limit is 20480"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parse := ParsePolicy
			if c.resource {
				parse = ParseResourcePolicy
			}
			p, err := parse([]byte(c.doc))
			if err == nil {
				t.Fatalf("parsed %s into %+v; want an error", c.doc, p)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestParsePolicy_Forms: the shapes IAM accepts parse, and mean the same.
func TestParsePolicy_Forms(t *testing.T) {
	u := testUser(t, "ingest", "")
	for _, doc := range []string{
		`{"Statement": {"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "*"}}`,
		`{"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecords"], "Resource": ["*"]}]}`,
		`{"Version": "2012-10-17", "Id": "p1", "Statement": [{"Sid": "s1", "Effect": "Allow", "Action": "Kinesis:PUTRECORDS", "Resource": "*"}]}`,
	} {
		p, err := ParsePolicy([]byte(doc))
		if err != nil {
			t.Fatalf("ParsePolicy(%s): %v", doc, err)
		}
		u.Policy = p
		if err := Authorize(u, "kinesis:PutRecords", ordersARN, nil); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// FuzzParsePolicy: no document makes either parser panic; one that parses
// evaluates without panicking, parses again to the same policy, and judges
// the same request the same way every time.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(stmt(`"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"`)))
	f.Add([]byte(stmt(`"Effect": "Deny", "NotAction": "kinesis:Describe*", "NotResource": "*"`)))
	f.Add([]byte(stmt(`"Effect": "Allow", "Principal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:user/ingest"]}, "Action": "*", "Resource": "*"`)))
	f.Add([]byte(`{"Statement": {"Effect": "Allow", "NotPrincipal": "*", "Action": "kinesis:Put?ecords", "Resource": "*"}}`))
	users := []*User{testUser(f, "ingest", ""), testUser(f, "other", "")}
	requests := []struct{ action, resource string }{
		{"kinesis:PutRecords", ordersARN}, {"kinesis:DeleteStream", paymentsARN},
		{"kinesis:ListStreams", AllResources}, {"sluice:SetQuotas", ordersARN + "/consumer/c:1"},
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, resource := range []bool{false, true} {
			p, err := parsePolicy(doc, resource)
			if err != nil {
				if p != nil {
					t.Fatalf("a policy and an error: %v", err)
				}
				continue
			}
			again, err := parsePolicy(doc, resource)
			if err != nil || !reflect.DeepEqual(p, again) {
				t.Fatalf("parsing again gives %+v, %v; first %+v", again, err, p)
			}
			for _, u := range users {
				u := *u
				var rp *Policy
				if resource {
					rp = p
				} else {
					u.Policy = p
				}
				for _, r := range requests {
					first := Authorize(&u, r.action, r.resource, rp)
					second := Authorize(&u, r.action, r.resource, rp)
					if (first == nil) != (second == nil) || (first != nil && first.Error() != second.Error()) {
						t.Fatalf("%s on %s judged %v then %v", r.action, r.resource, first, second)
					}
				}
			}
		}
	})
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		fold, want bool
	}{
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"", "", false, true},
		{"", "a", false, false},
		{"a*b*c", "aXbYc", false, true},
		{"a*b*c", "aXbY", false, false},
		{"a*b", "abab", false, true},
		{"??", "ab", false, true},
		{"??", "abc", false, false},
		{"abc", "ABC", true, true},
		{"abc", "ABC", false, false},
		{"*x", "xxxxxxxxxxxxxxxxxxxxxxxy", false, false},
	}
	for _, c := range cases {
		if got := match(c.pattern, c.s, c.fold); got != c.want {
			t.Errorf("match(%q, %q, fold=%v) = %v; want %v", c.pattern, c.s, c.fold, got, c.want)
		}
	}
}
