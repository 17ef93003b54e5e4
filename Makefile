# torfs — build, demo, and the full check CI runs.
GO      ?= go
FUZZTIME ?= 50000x

.PHONY: all build demo check deps vet test stress fuzz clean man docs install uninstall

all: build

build:
	$(GO) build -o bin/torfs ./cmd/torfs

# torfs in $(PREFIX)/bin, and mount(8)'s helper for type torfs, so that
# an /etc/fstab line or a systemd .mount unit mounts a torrent:
# /sbin/mount.torfs, a symlink to it (torfs answers to that name as the
# helper). DESTDIR for packaging.
PREFIX ?= /usr/local
SBINDIR ?= /sbin
install: build
	install -D -m 0755 bin/torfs $(DESTDIR)$(PREFIX)/bin/torfs
	install -d $(DESTDIR)$(SBINDIR)
	ln -sf $(PREFIX)/bin/torfs $(DESTDIR)$(SBINDIR)/mount.torfs

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mount.torfs $(DESTDIR)$(PREFIX)/bin/torfs

# The main job: build torfs and run its offline demo.
demo: build
	./bin/torfs demo

# Everything CI runs: installs missing Debian test dependencies, then
# formatting, go mod tidiness, vet, the race-enabled test suite, short
# fuzz runs and the generated man page and completions.
check: deps vet test fuzz docs

# The man page and the shell completions, generated from the commands'
# help texts and flag sets: bin/torfs.1, bin/torfs.bash, .zsh, .fish.
man: build
	./bin/torfs help --man > bin/torfs.1
	for sh in bash zsh fish; do ./bin/torfs completion $$sh > bin/torfs.$$sh || exit 1; done

# make man into a temporary directory, checked: not empty, rendered by
# man -l (when installed), the bash script parsed by bash -n.
docs:
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	$(GO) build -o $$dir/torfs ./cmd/torfs && \
	$$dir/torfs help --man > $$dir/torfs.1 && test -s $$dir/torfs.1 && \
	for sh in bash zsh fish; do $$dir/torfs completion $$sh > $$dir/torfs.$$sh && test -s $$dir/torfs.$$sh || exit 1; done && \
	bash -n $$dir/torfs.bash && \
	if command -v man >/dev/null; then MANWIDTH=80 man -l $$dir/torfs.1 | grep -q 'torfs umount'; fi && \
	echo "man page and completions: ok"

deps:
	bash scripts/deps.sh

# vet also fails when go.mod or go.sum differ from what go mod tidy
# would write (a requirement missing, unused, or wrongly marked indirect).
vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if ! out=$$($(GO) mod tidy -diff 2>&1); then echo "go.mod and go.sum are not tidy; run go mod tidy:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

TEST_CMD = $(GO) test -race -timeout 14m ./...

test:
	$(TEST_CMD)

# The test suite STRESS_RUNS times in a row (default 5), stopping at the
# first failure: a test that fails now and then shows up here. -count 1
# makes every run a real one (go test would replay cached results).
STRESS_RUNS ?= 5
stress:
	@for i in $$(seq 1 $(STRESS_RUNS)); do \
		echo "=== stress run $$i of $(STRESS_RUNS)"; \
		$(TEST_CMD) -count 1 || { echo "=== stress run $$i of $(STRESS_RUNS) failed"; exit 1; }; \
	done; echo "=== $(STRESS_RUNS) runs in a row passed"

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin

# Cache benchmarks: ReadAt against a plain file, write+verify against raw SHA-1.
.PHONY: bench-cache
bench-cache:
	$(GO) test -run '^$$' -bench . -benchtime 20x -count 3 ./cache

# Swarm engine vs libtorrent on loopback, 1 GiB (see bench/swarm).
.PHONY: bench-swarm
bench-swarm: deps
	$(GO) run ./bench/swarm $(BENCH_SWARM_FLAGS)

# torfs create vs mktorrent on a 1 GiB file, same piece length, all cores (see bench/create).
.PHONY: bench-create
bench-create: deps build
	$(GO) run ./bench/create -torfs bin/torfs $(BENCH_CREATE_FLAGS)

# torfs tracker vs opentracker: HTTP announce load on loopback, 1,000 and 100,000 swarms (see bench/tracker).
.PHONY: bench-tracker
bench-tracker: deps build
	$(GO) run ./bench/tracker -torfs bin/torfs $(BENCH_TRACKER_FLAGS)

# torfs mount streaming a 1 GiB file from a libtorrent seeder: time to first byte, seek latency, cold read vs torfs get, warm re-read vs the page cache, a cold read through a 64 MiB cache vs an unlimited one and its download amplification (see bench/mount).
.PHONY: bench-mount
bench-mount: deps
	$(GO) run ./bench/mount $(BENCH_MOUNT_FLAGS)

# libtorrent leeching 1 GiB from 1 and 3 libtorrent seeders: the reference for bench-swarm.
.PHONY: bench-reference
bench-reference: deps
	$(GO) test -run '^$$' -bench LibtorrentReference -benchtime 1x ./integration/

# torfs get vs a libtorrent leecher over an emulated WAN (internal/netemu: 25 ms each way, 0.5% loss, 100 Mbit/s, 1000-packet queue), 256 MiB from a libtorrent seeder, median of 3 pairs; needs root (see bench/wan).
.PHONY: bench-wan
bench-wan: deps
	$(GO) run ./bench/wan $(BENCH_WAN_FLAGS)
