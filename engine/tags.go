package engine

import (
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
)

func checkTags(tags map[string]string, existing int) error {
	if len(tags)+existing > api.MaxTags {
		return errorf(api.CodeInvalidArgument, "a stream may have at most %d tags; this would make %d", api.MaxTags, len(tags)+existing)
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return errorf(api.CodeInvalidArgument, "tag key %q is %d characters; it must be 1 to 128", clip(k), n)
		}
		if n := utf8.RuneCountInString(v); n > 256 {
			return errorf(api.CodeInvalidArgument, "tag value for key %q is %d characters; the limit is 256", clip(k), n)
		}
	}
	return nil
}

func (e *Engine) addTags(name string, tags map[string]string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		added := 0
		for k := range tags {
			if _, ok := m.Tags[k]; !ok {
				added++
			}
		}
		if err := checkTags(tags, len(m.Tags)+added-len(tags)); err != nil {
			return err
		}
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		for k, v := range tags {
			m.Tags[k] = v
		}
		return nil
	})
}

func (e *Engine) removeTags(name string, keys []string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		for _, k := range keys {
			delete(m.Tags, k)
		}
		return nil
	})
}
