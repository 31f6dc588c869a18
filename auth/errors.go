package auth

import "errors"

// ErrUserExists is returned by AddUser when the users file already has a
// user of the name.
var ErrUserExists = errors.New("auth: user exists")

// DeniedError is the refusal of an action: AccessDeniedException at the
// doors. Its message is AWS's.
type DeniedError struct {
	// User is the ARN of the identity refused.
	User string
	// Action and Resource are what it asked for.
	Action, Resource string
	// Explicit is true when a Deny statement matched; ByResourcePolicy
	// says whether that statement was in the resource's policy.
	Explicit, ByResourcePolicy bool
}

func (e *DeniedError) Error() string {
	why := "because no identity-based policy allows the " + e.Action + " action"
	switch {
	case e.Explicit && e.ByResourcePolicy:
		why = "with an explicit deny in a resource-based policy"
	case e.Explicit:
		why = "with an explicit deny in an identity-based policy"
	}
	return "User: " + e.User + " is not authorized to perform: " + e.Action + " on resource: " + e.Resource + " " + why
}
