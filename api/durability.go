package api

import "fmt"

// Durability says when a put is acknowledged.
type Durability uint8

const (
	// DurabilityDefault (the zero value, only in per-stream settings) means
	// "use the server's mode".
	DurabilityDefault Durability = iota
	// Always acknowledges after fdatasync: a put survives a process crash and
	// a power loss. Readers see only synced records.
	Always
	// Interval acknowledges after the write and syncs in the background every
	// Options.SyncInterval: a crash of the machine may lose that window.
	Interval
	// None leaves syncing to the OS: a put survives a process crash, not a
	// power loss.
	None
)

var durabilityNames = [...]string{"", "always", "interval", "none"}

func (d Durability) String() string {
	if int(d) < len(durabilityNames) {
		return durabilityNames[d]
	}
	return fmt.Sprintf("Durability(%d)", d)
}

// ParseDurability parses "always", "interval" or "none".
func ParseDurability(s string) (Durability, error) {
	for i, n := range durabilityNames {
		if n == s && i != 0 {
			return Durability(i), nil
		}
	}
	return 0, Errorf(CodeInvalidArgument, "durability %q is not one of always, interval, none", Clip(s))
}

// MarshalText writes the mode's name.
func (d Durability) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a mode's name; the empty string is DurabilityDefault.
func (d *Durability) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = DurabilityDefault
		return nil
	}
	v, err := ParseDurability(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
