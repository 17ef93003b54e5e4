// Package bytesize renders byte counts for the messages people read.
package bytesize

import "fmt"

// Format renders n bytes in binary units: "300 B", "512.0 KiB",
// "1.5 GiB". Counts past a thousand TiB stay in PiB.
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
