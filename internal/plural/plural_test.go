package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 peers"}, {1, "1 peer"}, {2, "2 peers"}, {-1, "-1 peers"}} {
		if got := Count(tc.n, "peer", "peers"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
