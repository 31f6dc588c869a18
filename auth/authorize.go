package auth

// Authorize judges whether u may perform action on resource, given the
// resource's policy (nil when it has none). action is an IAM action name
// ("kinesis:PutRecords", "sluice:SetQuotas"); resource is an ARN, or "*"
// for actions on no particular resource (ListStreams, DescribeLimits).
//
// The identity policy and the resource policy are judged together, as IAM
// judges requests within one account: an explicit Deny in either wins;
// otherwise an Allow in either grants; otherwise the request is denied. A
// resource policy's Allow grants only to the principals it names (a user's
// ARN, or "*"); naming the account delegates to the identity policies and
// grants nothing by itself. A nil user is denied. Authorize returns nil or a *DeniedError; it does
// not allocate when it allows.
func Authorize(u *User, action, resource string, resourcePolicy *Policy) error {
	if u == nil { // no identity: nothing can grant
		return &DeniedError{User: Anonymous, Action: action, Resource: resource}
	}
	idAllow, idDeny := u.Policy.evaluate(u, action, resource)
	resAllow, resDeny := resourcePolicy.evaluate(u, action, resource)
	switch {
	case idDeny || resDeny:
		return &DeniedError{User: u.ARN, Action: action, Resource: resource, Explicit: true, ByResourcePolicy: !idDeny}
	case idAllow || resAllow:
		return nil
	}
	return &DeniedError{User: u.ARN, Action: action, Resource: resource}
}

// evaluate reports whether a statement of p allows and whether one denies
// the request. A nil policy does neither.
func (p *Policy) evaluate(u *User, action, resource string) (allowed, denied bool) {
	if p == nil {
		return false, false
	}
	for i := range p.statements {
		s := &p.statements[i]
		if !s.matches(u, action, resource, p.resource) {
			continue
		}
		if s.effect == deny {
			return allowed, true
		}
		if !p.resource || s.grants(u) {
			allowed = true
		}
	}
	return allowed, false
}

func (s *statement) matches(u *User, action, resource string, resourcePolicy bool) bool {
	if anyMatch(s.actions, action, true) == s.notAction {
		return false
	}
	if anyMatch(s.resources, resource, false) == s.notResource {
		return false
	}
	if !resourcePolicy {
		return true
	}
	return s.principalMatches(u) != s.notPrincipal
}

// principalMatches reports whether the statement's principals take in u: "*",
// u's ARN, or u's account.
func (s *statement) principalMatches(u *User) bool {
	for _, p := range s.principals {
		if p == "*" || p == u.ARN || p == u.Account {
			return true
		}
	}
	return false
}

// grants reports whether an Allow that matched u grants by itself: it must
// name u (or everyone); an account principal only delegates.
func (s *statement) grants(u *User) bool {
	if s.notPrincipal {
		return true
	}
	for _, p := range s.principals {
		if p == "*" || p == u.ARN {
			return true
		}
	}
	return false
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if match(p, s, fold) {
			return true
		}
	}
	return false
}
