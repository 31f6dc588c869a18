// Package auth decides who a request comes from and whether they may do what
// it asks. Both front doors and every later HTTP surface call it, so that one
// set of rules holds everywhere:
//
//   - Identities come from the users file (sluiced --auth FILE): an account
//     id and users, each with an access key pair and an identity policy.
//     A Store holds the file in force and swaps it atomically on Reload.
//   - The HTTP door proves identity with AWS Signature Version 4 (sigv4.go);
//     the binary protocol with a challenge-response over the same secret.
//   - Authorize judges one action (an IAM action name such as
//     "kinesis:PutRecords" or "sluice:SetQuotas") on one resource ARN against
//     the user's identity policy and the resource's policy together: an
//     explicit Deny in either wins, otherwise an Allow in either grants,
//     otherwise the request is denied.
//   - An Audit log records every mutating or denied request as a JSON line.
//
// The policy language is the part of IAM's that sluice can judge without
// request context: Effect, Action/NotAction, Resource/NotResource with the
// '*' and '?' wildcards, and Principal in resource policies. A Condition
// block is refused when a policy is loaded, never silently ignored.
package auth
