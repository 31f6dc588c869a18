package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// MaxPolicySize bounds a policy document: AWS's limit on a Kinesis resource
// policy (20,480 bytes) is also a generous one for identity policies.
const MaxPolicySize = 20480

// Policy is a parsed, validated policy document, ready to evaluate. It is
// immutable and safe for concurrent use.
type Policy struct {
	statements []statement
	resource   bool // a resource policy: statements carry principals
}

// Effect is a statement's effect.
type effect uint8

const (
	allow effect = iota + 1
	deny
)

// statement is one compiled statement. Patterns of actions are lower-cased
// (IAM action names are case-insensitive); resource patterns are not.
type statement struct {
	effect      effect
	actions     []string
	notAction   bool
	resources   []string
	notResource bool
	// principals of a resource policy's statement: "*" (everyone the
	// server authenticated), user ARNs, or accounts (an account id). An
	// account principal only delegates to the account's identity policies:
	// its Allow grants nothing by itself, its Deny applies to every user
	// of the account.
	principals   []string
	notPrincipal bool
}

// rawStatement is a statement as it appears in JSON.
type rawStatement struct {
	Sid          string          `json:"Sid"`
	Effect       string          `json:"Effect"`
	Action       json.RawMessage `json:"Action"`
	NotAction    json.RawMessage `json:"NotAction"`
	Resource     json.RawMessage `json:"Resource"`
	NotResource  json.RawMessage `json:"NotResource"`
	Principal    json.RawMessage `json:"Principal"`
	NotPrincipal json.RawMessage `json:"NotPrincipal"`
	Condition    json.RawMessage `json:"Condition"`
}

type rawPolicy struct {
	Version   string          `json:"Version"`
	ID        string          `json:"Id"`
	Statement json.RawMessage `json:"Statement"`
}

// ParsePolicy parses an identity policy (one attached to a user). It
// refuses a malformed document with the reason, and a statement that names a
// Principal (identity policies apply to their user) or carries a Condition
// (which sluice does not evaluate).
func ParsePolicy(doc []byte) (*Policy, error) { return parsePolicy(doc, false) }

// ParseResourcePolicy parses a stream's or consumer's resource policy: every
// statement must name its Principal.
func ParseResourcePolicy(doc []byte) (*Policy, error) { return parsePolicy(doc, true) }

func parsePolicy(doc []byte, resource bool) (*Policy, error) {
	if len(doc) > MaxPolicySize {
		return nil, fmt.Errorf("policy is %d bytes; the limit is %d", len(doc), MaxPolicySize)
	}
	var raw rawPolicy
	if err := strictUnmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("policy is not a valid policy document: %w", err)
	}
	if err := checkMembers(doc, "policy", policyMembers); err != nil {
		return nil, err
	}
	switch raw.Version {
	case "", "2012-10-17", "2008-10-17":
	default:
		return nil, fmt.Errorf("policy Version %q is not one IAM knows; use \"2012-10-17\"", raw.Version)
	}
	var stmts []rawStatement
	switch t := firstToken(raw.Statement); t {
	case '[':
		if err := strictUnmarshal(raw.Statement, &stmts); err != nil {
			return nil, fmt.Errorf("policy Statement: %w", err)
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw.Statement, &elems); err != nil {
			return nil, fmt.Errorf("policy Statement: %w", err)
		}
		for i, e := range elems {
			if err := checkMembers(e, fmt.Sprintf("policy statement %d", i+1), statementMembers); err != nil {
				return nil, err
			}
		}
	case '{':
		var one rawStatement
		if err := strictUnmarshal(raw.Statement, &one); err != nil {
			return nil, fmt.Errorf("policy Statement: %w", err)
		}
		if err := checkMembers(raw.Statement, "policy statement 1", statementMembers); err != nil {
			return nil, err
		}
		stmts = []rawStatement{one}
	case 0:
		return nil, fmt.Errorf("policy has no Statement")
	default:
		return nil, fmt.Errorf("policy Statement must be an object or an array of objects")
	}
	if len(stmts) == 0 {
		return nil, fmt.Errorf("policy has no Statement")
	}
	p := &Policy{resource: resource, statements: make([]statement, 0, len(stmts))}
	for i, rs := range stmts {
		s, err := compileStatement(rs, resource)
		if err != nil {
			name := fmt.Sprintf("statement %d", i+1)
			if rs.Sid != "" {
				name = fmt.Sprintf("statement %d (Sid %q)", i+1, rs.Sid)
			}
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

func compileStatement(rs rawStatement, resource bool) (statement, error) {
	var s statement
	switch rs.Effect {
	case "Allow":
		s.effect = allow
	case "Deny":
		s.effect = deny
	case "":
		return s, fmt.Errorf("Effect is missing; it must be \"Allow\" or \"Deny\"")
	default:
		return s, fmt.Errorf("Effect %q must be \"Allow\" or \"Deny\"", rs.Effect)
	}
	if len(rs.Condition) > 0 {
		return s, fmt.Errorf("Condition blocks are not supported: sluice cannot evaluate them, and ignoring one would grant more than the policy says; remove it")
	}
	var err error
	s.actions, s.notAction, err = pickList("Action", rs.Action, "NotAction", rs.NotAction)
	if err != nil {
		return s, err
	}
	for i, a := range s.actions {
		if err := checkAction(a); err != nil {
			return s, err
		}
		s.actions[i] = strings.ToLower(a)
	}
	s.resources, s.notResource, err = pickList("Resource", rs.Resource, "NotResource", rs.NotResource)
	if err != nil {
		return s, err
	}
	for _, r := range s.resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return s, fmt.Errorf("Resource %q must be \"*\" or an ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", r)
		}
	}
	hasPrincipal := len(rs.Principal) > 0 || len(rs.NotPrincipal) > 0
	if !resource {
		if hasPrincipal {
			return s, fmt.Errorf("an identity policy cannot name a Principal (it applies to the user it is attached to)")
		}
		return s, nil
	}
	if !hasPrincipal {
		return s, fmt.Errorf("a resource policy statement must name a Principal")
	}
	if len(rs.Principal) > 0 && len(rs.NotPrincipal) > 0 {
		return s, fmt.Errorf("a statement takes Principal or NotPrincipal, not both")
	}
	raw := rs.Principal
	if len(raw) == 0 {
		raw, s.notPrincipal = rs.NotPrincipal, true
	}
	s.principals, err = parsePrincipal(raw)
	return s, err
}

// pickList reads exactly one of two members (Action or NotAction, Resource
// or NotResource), each a string or an array of strings.
func pickList(name string, v json.RawMessage, notName string, notV json.RawMessage) ([]string, bool, error) {
	switch {
	case len(v) > 0 && len(notV) > 0:
		return nil, false, fmt.Errorf("a statement takes %s or %s, not both", name, notName)
	case len(v) == 0 && len(notV) == 0:
		return nil, false, fmt.Errorf("%s (or %s) is missing", name, notName)
	case len(notV) > 0:
		l, err := stringList(notName, notV)
		return l, true, err
	}
	l, err := stringList(name, v)
	return l, false, err
}

// stringList reads a string or a non-empty array of non-empty strings.
func stringList(name string, v json.RawMessage) ([]string, error) {
	var one string
	if firstToken(v) == '"' {
		if err := json.Unmarshal(v, &one); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if one == "" {
			return nil, fmt.Errorf("%s is empty", name)
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, fmt.Errorf("%s must be a string or an array of strings", name)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s is an empty array", name)
	}
	for _, s := range list {
		if s == "" {
			return nil, fmt.Errorf("%s holds an empty string", name)
		}
	}
	return list, nil
}

// checkAction checks an action pattern: "*" or "service:name" where the
// service is letters, digits and '-'.
func checkAction(a string) error {
	if a == "*" {
		return nil
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return fmt.Errorf("Action %q must be \"*\" or service:action (kinesis:PutRecords, kinesis:Describe*, sluice:*)", a)
	}
	for _, c := range []byte(svc) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("Action %q has an invalid service prefix %q", a, svc)
		}
	}
	return nil
}

// parsePrincipal reads "*" or {"AWS": "*" | ARN | account | [...]}.
func parsePrincipal(raw json.RawMessage) ([]string, error) {
	if firstToken(raw) == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != "*" {
			return nil, fmt.Errorf("Principal must be \"*\" or {\"AWS\": ...}")
		}
		return []string{"*"}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("Principal must be \"*\" or {\"AWS\": ...}")
	}
	var out []string
	for k, v := range m {
		if k != "AWS" {
			return nil, fmt.Errorf("Principal type %q is not supported; sluice's principals are {\"AWS\": user ARN, account id or \"*\"}", k)
		}
		l, err := stringList("Principal AWS", v)
		if err != nil {
			return nil, err
		}
		for _, p := range l {
			norm, err := normalizePrincipal(p)
			if err != nil {
				return nil, err
			}
			out = append(out, norm)
		}
	}
	if err := checkMembers(raw, "Principal", []string{"AWS"}); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("Principal names no one")
	}
	return out, nil
}

// normalizePrincipal returns "*", a user ARN, or a bare account id (for
// "123456789012" and "arn:aws:iam::123456789012:root").
func normalizePrincipal(p string) (string, error) {
	if p == "*" {
		return p, nil
	}
	if isAccountID(p) {
		return p, nil
	}
	if acct, ok := strings.CutPrefix(p, "arn:aws:iam::"); ok {
		id, rest, _ := strings.Cut(acct, ":")
		if isAccountID(id) {
			if rest == "root" {
				return id, nil
			}
			if name, ok := strings.CutPrefix(rest, "user/"); ok && validUserName(name) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("Principal %q must be \"*\", an account id, arn:aws:iam::ACCOUNT:root or arn:aws:iam::ACCOUNT:user/NAME", p)
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// The members of a policy document and of a statement, as IAM spells them.
var (
	policyMembers    = []string{"Version", "Id", "Statement"}
	statementMembers = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)

// checkMembers refuses a member of the JSON object obj (what names it in
// the message) whose name is not one of names exactly, or that appears
// twice. encoding/json matches member names case-insensitively and keeps
// the last of duplicates, so without this check {"Effect": "Deny", ...,
// "effect": "Allow"} would read as a Deny and judge as an Allow. obj is a
// value that was decoded already; anything but an object passes.
func checkMembers(obj []byte, what string, names []string) error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		k, _ := t.(string)
		switch {
		case !slices.Contains(names, k):
			return fmt.Errorf("%s member %q is not one of %s (member names are case-sensitive)", what, k, strings.Join(names, ", "))
		case seen[k]:
			return fmt.Errorf("%s member %q appears twice", what, k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// firstToken is the first non-space byte of v, or 0.
func firstToken(v []byte) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// strictUnmarshal decodes JSON refusing unknown members and trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the document")
	}
	return nil
}

// match reports whether s matches pattern, where '*' matches any run of
// characters (including none) and '?' any one character. fold compares
// ASCII letters case-insensitively (pattern must then be lower case). It
// does not allocate.
func match(pattern, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || eqByte(pattern[p], s[i], fold)):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func eqByte(p, c byte, fold bool) bool {
	if fold && c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	return p == c
}
