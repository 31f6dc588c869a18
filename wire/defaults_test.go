package wire

import (
	"testing"
	"time"
)

func TestDefaults_PositiveAndZero(t *testing.T) {
	for _, c := range []struct{ in, positive, zero time.Duration }{
		{0, time.Second, time.Second},
		{-1, time.Second, -1}, // a negative setting is kept by DefaultZero ("disabled")
		{5, 5, 5},
	} {
		p, z := c.in, c.in
		DefaultPositive(&p, time.Second)
		DefaultZero(&z, time.Second)
		if p != c.positive || z != c.zero {
			t.Errorf("setting %v: DefaultPositive gives %v, DefaultZero %v; want %v and %v", c.in, p, z, c.positive, c.zero)
		}
	}
}
