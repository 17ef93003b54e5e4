package webui

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// torrentLabels name the torrent of a per-torrent metric: the name the
// mount shows and the info-hash.
var torrentLabels = []string{"torrent", "info_hash"}

// collector turns one Status per scrape into metrics, so that a scrape
// sees every number of one snapshot and costs nothing between scrapes.
type collector struct {
	src Source

	size, verified, pieces, downRate, upRate, downloaded, uploaded, wasted *prometheus.Desc
	peers, seeds, cacheUsed, cacheBudget, evictions, diskFull              *prometheus.Desc
	readers, stalls                                                        *prometheus.Desc
	torrents, resolving, mountCacheUsed, mountCacheBudget                  *prometheus.Desc
}

func newCollector(src Source) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	t := func(name, help string, extra ...string) *prometheus.Desc {
		return d(name, help, append(append([]string(nil), torrentLabels...), extra...)...)
	}
	return &collector{
		src:         src,
		size:        t("torfs_torrent_size_bytes", "Bytes of the torrent's content."),
		verified:    t("torfs_torrent_verified_bytes", "Bytes of the torrent verified and held in the cache."),
		pieces:      t("torfs_torrent_pieces", "Pieces of the torrent by state: verified, downloading, wanted (by a reader), evicted, missing.", "state"),
		downRate:    t("torfs_torrent_download_rate_bytes_per_second", "Payload download rate, smoothed."),
		upRate:      t("torfs_torrent_upload_rate_bytes_per_second", "Payload upload rate, smoothed."),
		downloaded:  t("torfs_torrent_downloaded_bytes_total", "Payload bytes downloaded this session."),
		uploaded:    t("torfs_torrent_uploaded_bytes_total", "Payload bytes uploaded this session."),
		wasted:      t("torfs_torrent_wasted_bytes_total", "Bytes received that could not be used (duplicates, failed hash checks)."),
		peers:       t("torfs_torrent_peers", "Connected peers by transport (tcp, utp).", "transport"),
		seeds:       t("torfs_torrent_seeds", "Connected peers that have every piece."),
		cacheUsed:   t("torfs_torrent_cache_used_bytes", "Bytes the torrent's pieces take in the cache."),
		cacheBudget: t("torfs_torrent_cache_budget_bytes", "The torrent's cache budget (the one the mount's torrents share, when shared); 0 = unlimited."),
		evictions:   t("torfs_torrent_cache_evictions_total", "Pieces evicted from the cache to make room."),
		diskFull:    t("torfs_torrent_cache_disk_full", "1 once the disk under the torrent's cache filled up."),
		readers:     t("torfs_torrent_readers", "Streams open on the torrent (files open in the mount)."),
		stalls:      t("torfs_torrent_reader_stalls_total", "Reads that ended for want of progress (no peer had the piece)."),
		torrents:    d("torfs_torrents", "Torrents served."),
		resolving:   d("torfs_magnets_resolving", "Magnet links whose metadata is being fetched, or whose resolution failed.", "state"),
		mountCacheUsed: d("torfs_cache_used_bytes",
			"Bytes all the torrents' pieces take in the cache."),
		mountCacheBudget: d("torfs_cache_budget_bytes",
			"The cache budget of all the torrents: the one they share, or the sum of theirs; 0 = unlimited."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.size, c.verified, c.pieces, c.downRate, c.upRate, c.downloaded, c.uploaded, c.wasted,
		c.peers, c.seeds, c.cacheUsed, c.cacheBudget, c.evictions, c.diskFull, c.readers, c.stalls,
		c.torrents, c.resolving, c.mountCacheUsed, c.mountCacheBudget,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.torrents, float64(len(st.Torrents)))
	gauge(c.mountCacheUsed, float64(st.CacheUsed))
	gauge(c.mountCacheBudget, float64(st.CacheBudget))
	resolving := map[string]int{"resolving metadata": 0, "failed": 0}
	for _, r := range st.Resolving {
		resolving[r.State]++
	}
	for state, n := range resolving {
		gauge(c.resolving, float64(n), state)
	}
	for _, t := range st.Torrents {
		l := []string{t.Name, t.InfoHash}
		with := func(v string) []string { return append(append([]string(nil), l...), v) }
		gauge(c.size, float64(t.Length), l...)
		gauge(c.verified, float64(t.Verified), l...)
		pc := t.PieceCounts
		for _, s := range []struct {
			state string
			n     int
		}{{"verified", pc.Verified}, {"downloading", pc.Downloading}, {"wanted", pc.Wanted}, {"evicted", pc.Evicted}, {"missing", pc.Missing}} {
			gauge(c.pieces, float64(s.n), with(s.state)...)
		}
		gauge(c.downRate, t.DownloadRate, l...)
		gauge(c.upRate, t.UploadRate, l...)
		counter(c.downloaded, float64(t.Downloaded), l...)
		counter(c.uploaded, float64(t.Uploaded), l...)
		counter(c.wasted, float64(t.Wasted), l...)
		transports := map[string]int{"tcp": 0, "utp": 0}
		seeds := 0
		for _, p := range t.Peers {
			transports[p.Transport]++
			if p.Seed {
				seeds++
			}
		}
		for tr, n := range transports {
			gauge(c.peers, float64(n), with(tr)...)
		}
		gauge(c.seeds, float64(seeds), l...)
		gauge(c.cacheUsed, float64(t.CacheUsed), l...)
		gauge(c.cacheBudget, float64(t.CacheBudget), l...)
		counter(c.evictions, float64(t.Evictions), l...)
		full := 0.0
		if t.DiskFull != "" {
			full = 1
		}
		gauge(c.diskFull, full, l...)
		gauge(c.readers, float64(t.Readers), l...)
		counter(c.stalls, float64(t.Stalls), l...)
	}
}

// newMetrics serves src's metrics, and the Go runtime's and the
// process's, from a registry of its own (as the tracker's /metrics).
func newMetrics(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
