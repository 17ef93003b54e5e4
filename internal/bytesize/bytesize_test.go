package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", -5: "-5 B", 1023: "1023 B", 1024: "1.0 KiB", 256 << 10: "256.0 KiB",
		3 << 29: "1.5 GiB", 1 << 50: "1.0 PiB", 1 << 60: "1024.0 PiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
