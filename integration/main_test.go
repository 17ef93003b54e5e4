package integration

import (
	"os"
	"testing"

	"github.com/torfs/torfs/integration/harness"
)

// TestMain lets every test of this binary share one torfs build.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
