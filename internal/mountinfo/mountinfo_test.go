package mountinfo

import (
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/plain`:        "/mnt/plain",
		`/mnt/a\040b`:       "/mnt/a b",
		`/mnt/tab\011x`:     "/mnt/tab\tx",
		`/mnt/back\134lash`: `/mnt/back\lash`,
		`/mnt/short\04`:     `/mnt/short\04`,
		`/mnt/bad\09x`:      `/mnt/bad\09x`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	const table = `22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw
90 22 0:50 / /mnt/my\040film rw,nosuid,nodev master:1 - fuse.torfs film rw,user_id=0
91 90 0:51 / /mnt/my\040film ro - fuse.torfs film2 ro
short line
`
	ms, err := parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Device: "0:21", Mountpoint: "/proc", FSType: "proc"},
		{Device: "0:50", Mountpoint: "/mnt/my film", FSType: "fuse.torfs"},
		{Device: "0:51", Mountpoint: "/mnt/my film", FSType: "fuse.torfs"},
	}
	if len(ms) != len(want) {
		t.Fatalf("parsed %d mounts, want %d: %+v", len(ms), len(want), ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, ms[i], want[i])
		}
	}
}

func TestTopFindsRoot(t *testing.T) {
	m, ok := Top("/")
	if !ok || m.Device == "" || m.FSType == "" {
		t.Fatalf("Top(\"/\") = %+v, %v; want the root mount", m, ok)
	}
	if _, ok := Top("/surely/not/a/mountpoint"); ok {
		t.Error("Top of a path that is no mountpoint found one")
	}
}
