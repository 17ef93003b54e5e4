package allocbound

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

var sink []byte

// recorder is a testing.TB that records a failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = format }

func TestCheck(t *testing.T) {
	in := make([]byte, 1000)
	alloc := func() { sink = make([]byte, 64<<10) }
	if got := Bytes(alloc); got < 64<<10 || got > 80<<10 {
		t.Errorf("Bytes of a 64 KiB allocation = %d", got)
	}
	if got := Bytes(func() {}); got > 1<<10 {
		t.Errorf("Bytes of nothing = %d", got)
	}
	r := &recorder{TB: t}
	Check(r, Limit{PerByte: 64, Const: 8 << 10}, "allocating", in, alloc)
	if r.failed != "" {
		t.Error("Check failed 64 KiB for 1000 bytes against 64n + 8 KiB")
	}
	Check(r, Limit{PerByte: 16, Const: 8 << 10}, "allocating", in, alloc)
	if r.failed == "" {
		t.Error("Check passed 64 KiB for 1000 bytes against 16n + 8 KiB")
	}
}

func TestCheckEach(t *testing.T) {
	in := make([]byte, 1000)
	small := Step{"small", func() { sink = make([]byte, 40<<10) }}
	big := Step{"big", func() { sink = make([]byte, 80<<10) }}
	r := &recorder{TB: t}
	CheckEach(r, Limit{PerByte: 64, Const: 8 << 10}, in, small, small)
	if r.failed != "" {
		t.Error("CheckEach failed two steps of 40 KiB each within 72 KiB")
	}
	CheckEach(r, Limit{PerByte: 64, Const: 8 << 10}, in, small, big)
	if r.failed == "" {
		t.Error("CheckEach passed a step of 80 KiB against 72 KiB")
	}
}

// TestForTestsOnly checks that no package of the module but tests
// imports this one (and with it package testing).
func TestForTestsOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const self = "github.com/torfs/torfs/internal/allocbound"
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "github.com/torfs/torfs/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list found %d packages:\n%s", len(lines), out)
	}
	for _, l := range lines {
		pkg, imports, _ := strings.Cut(l, ":")
		if slices.Contains(strings.Fields(imports), self) {
			t.Errorf("%s imports %s, which is for tests only", pkg, self)
		}
	}
}
