package checksum

import (
	"testing"
	"testing/quick"
)

func TestValue_KnownVector(t *testing.T) {
	// RFC 3720 B.4: 32 bytes of zeros have CRC-32C 0x8a9136aa.
	if got := Value(make([]byte, 32)); got != 0x8a9136aa {
		t.Fatalf("Value(zeros) = %#x, want 0x8a9136aa", got)
	}
	if got := Value([]byte("123456789")); got != 0xe3069283 {
		t.Fatalf("Value(123456789) = %#x, want 0xe3069283", got)
	}
}

func TestMask_RoundTrip(t *testing.T) {
	if err := quick.Check(func(c uint32) bool { return Unmask(Mask(c)) == c }, nil); err != nil {
		t.Fatal(err)
	}
}

func TestUpdate_EqualsWhole(t *testing.T) {
	b := []byte("the quick brown fox jumps over the lazy dog")
	if Update(Value(b[:10]), b[10:]) != Value(b) {
		t.Fatal("Update over two parts differs from Value over the whole")
	}
}
