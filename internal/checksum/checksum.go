// Package checksum is sluice's one checksum primitive: CRC-32C (Castagnoli)
// with the pebble/LevelDB-style mask for checksums that are stored next to
// the data they cover. Every on-disk and on-wire format uses it; nothing else
// in the module imports a CRC package.
package checksum

import "github.com/klauspost/crc32"

// table is the one Castagnoli table of the process. klauspost/crc32 uses the
// SSE4.2 / PCLMULQDQ instructions where the CPU has them.
var table = crc32.MakeTable(crc32.Castagnoli)

// maskDelta is added after rotating the CRC; part of the stored format.
const maskDelta = 0xa282ead8

// Value returns the (unmasked) CRC-32C of b.
func Value(b []byte) uint32 { return crc32.Checksum(b, table) }

// Update returns the CRC-32C of the bytes already summed into crc followed by b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, table, b) }

// Mask returns the stored form of a CRC. Masking keeps the CRC of data that
// itself embeds CRCs (a frame copied into another frame, say) from being
// trivially related to the embedded one.
func Mask(crc uint32) uint32 { return (crc>>15 | crc<<17) + maskDelta }

// Unmask inverts Mask.
func Unmask(masked uint32) uint32 {
	rot := masked - maskDelta
	return rot>>17 | rot<<15
}
