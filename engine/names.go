package engine

import (
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
)

// validName reports whether s matches [a-zA-Z0-9_.-]{1,128}, the rule for
// stream and consumer names.
func validName(s string) bool {
	if len(s) == 0 || len(s) > api.MaxStreamNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

func checkStreamName(s string) error {
	if !validName(s) {
		return errorf(api.CodeInvalidArgument,
			"stream name %q is invalid: it must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", clip(s))
	}
	return nil
}

// checkPartitionKey validates a partition key without allocating on success.
func checkPartitionKey(k []byte) error {
	if len(k) == 0 {
		return errorf(api.CodeInvalidArgument, "partition key is empty; it must be 1 to 256 characters")
	}
	if len(k) <= api.MaxPartitionKeyLen {
		if !utf8.Valid(k) {
			return errorf(api.CodeInvalidArgument, "partition key is not valid UTF-8")
		}
		return nil
	}
	if !utf8.Valid(k) {
		return errorf(api.CodeInvalidArgument, "partition key is not valid UTF-8")
	}
	if n := utf8.RuneCount(k); n > api.MaxPartitionKeyLen {
		return errorf(api.CodeInvalidArgument, "partition key is %d characters; the limit is %d", n, api.MaxPartitionKeyLen)
	}
	return nil
}
