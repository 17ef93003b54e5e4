package bencbound

import "testing"

// FuzzDict checks that Dict never panics and that what it accepts is a
// closed dictionary within the input that it accepts again on its own.
func FuzzDict(f *testing.F) {
	for _, s := range []string{"de", "d1:ai1ee", "d1:ald1:bi-3eeee", "d4:info2:abe", "d1:a5:xe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Dict(data, 16)
		if err != nil {
			return
		}
		if n < 2 || n > len(data) || data[n-1] != 'e' {
			t.Fatalf("Dict(%q) = %d", data, n)
		}
		if err := Exact(data[:n], 16); err != nil {
			t.Fatalf("Exact(%q) = %v after Dict accepted it", data[:n], err)
		}
		if _, err := Dict(data[:n-1], 16); err == nil {
			t.Fatalf("Dict accepted %q with its last byte cut off", data[:n-1])
		}
	})
}
