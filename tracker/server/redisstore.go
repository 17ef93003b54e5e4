package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/torfs/torfs/tracker"
)

// redisBuckets is how many time buckets span a peer timeout. A peer is a
// member of the set for the bucket of its last announce; a bucket key
// expires (in Redis) a timeout after its last write, and readers only
// look at the buckets within the timeout. Finer buckets expire peers
// closer to the timeout, at the cost of more keys read per announce.
const redisBuckets = 4

// redisKeyPrefix namespaces the store's keys so a Redis database can be
// shared with other uses.
const redisKeyPrefix = "torfs:tracker:"

// RedisStore keeps swarms in Redis so that several tracker processes
// behind one address serve the same swarms. Peer expiry is Redis's own
// key expiry: nothing sweeps.
//
// Layout, per swarm (H is the hex info-hash, B a time bucket):
// "torfs:tracker:H:S:B" and "...:H:L:B" are sets of the seeders and
// leechers whose last announce fell in bucket B, each member the peer id
// followed by the compact address; "...:H:D" counts completed downloads.
type RedisStore struct {
	rdb     *redis.Client
	timeout time.Duration
	width   time.Duration // one bucket
	buckets int64         // how many buckets span the timeout
}

// NewRedisStore connects to the Redis server at url
// (redis://[user:password@]host:port/db) and checks that it answers.
// Peers expire peerTimeout after their last announce (at most a quarter
// more, bucket granularity).
func NewRedisStore(ctx context.Context, url string, peerTimeout time.Duration) (*RedisStore, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis store URL %q: %w", url, err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis store at %s does not answer: %w", opts.Addr, err)
	}
	width := max(peerTimeout/redisBuckets, time.Second)
	buckets := int64((peerTimeout + width - 1) / width)
	return &RedisStore{rdb: rdb, timeout: peerTimeout, width: width, buckets: buckets}, nil
}

// Close implements Store.
func (s *RedisStore) Close() error { return s.rdb.Close() }

func (s *RedisStore) bucket(now time.Time) int64 { return now.UnixNano() / int64(s.width) }

func swarmKey(h [20]byte) string { return redisKeyPrefix + hex.EncodeToString(h[:]) }

// bucketKeys lists the set keys of one kind ('S' or 'L') still within
// the timeout, newest first.
func (s *RedisStore) bucketKeys(base string, kind byte, now time.Time) []string {
	b := s.bucket(now)
	keys := make([]string, 0, s.buckets+1)
	for i := int64(0); i <= s.buckets; i++ {
		keys = append(keys, base+":"+string(kind)+":"+strconv.FormatInt(b-i, 10))
	}
	return keys
}

func redisMember(id [20]byte, addr netip.AddrPort) string {
	b := make([]byte, 0, 38)
	b = append(b, id[:]...)
	b = append(b, addr.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, addr.Port())
	return string(b)
}

func parseRedisMember(m string) (Peer, bool) {
	var p Peer
	switch len(m) {
	case 26:
		p.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte([]byte(m[20:24]))), binary.BigEndian.Uint16([]byte(m[24:])))
	case 38:
		p.Addr = netip.AddrPortFrom(netip.AddrFrom16([16]byte([]byte(m[20:36]))), binary.BigEndian.Uint16([]byte(m[36:])))
	default:
		return p, false
	}
	copy(p.ID[:], m[:20])
	return p, true
}

// Announce implements Store with one pipelined round trip.
func (s *RedisStore) Announce(ctx context.Context, a *PeerAnnounce, res *AnnounceResult) error {
	now := time.Now()
	base := swarmKey(a.InfoHash)
	seedKeys := s.bucketKeys(base, 'S', now)
	leechKeys := s.bucketKeys(base, 'L', now)
	member := redisMember(a.PeerID, a.Addr)
	ttl := s.timeout + s.width
	var seeders, leechers *redis.StringSliceCmd
	var downloaded *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		mine, other := leechKeys, seedKeys
		if a.Seeder {
			mine, other = seedKeys, leechKeys
		}
		if a.Event == tracker.EventStopped {
			for _, k := range mine {
				p.SRem(ctx, k, member)
			}
		} else {
			p.SAdd(ctx, mine[0], member)
			p.Expire(ctx, mine[0], ttl)
			for _, k := range mine[1:] {
				p.SRem(ctx, k, member)
			}
		}
		for _, k := range other {
			p.SRem(ctx, k, member)
		}
		if a.Event == tracker.EventCompleted {
			p.Incr(ctx, base+":D")
		}
		p.Expire(ctx, base+":D", ttl)
		seeders = p.SUnion(ctx, seedKeys...)
		leechers = p.SUnion(ctx, leechKeys...)
		downloaded = p.Get(ctx, base+":D")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis store: %w", err)
	}
	seeds, leeches := seeders.Val(), leechers.Val()
	res.Complete, res.Incomplete = len(seeds), len(leeches)
	res.Downloaded, _ = strconv.Atoi(downloaded.Val())
	if a.Event == tracker.EventStopped {
		return nil
	}
	first, second := append(seeds, leeches...), []string(nil)
	if a.Seeder {
		first, second = leeches, seeds
	}
	res.Peers = pickMembers(res.Peers, first, a, a.NumWant)
	res.Peers = pickMembers(res.Peers, second, a, a.NumWant-len(res.Peers))
	return nil
}

// pickMembers appends up to want peers from members, from a random
// starting point, skipping the asker and (when asked) the other family.
func pickMembers(out []Peer, members []string, a *PeerAnnounce, want int) []Peer {
	if want <= 0 || len(members) == 0 {
		return out
	}
	start := rand.N(len(members))
	for k := 0; k < len(members) && want > 0; k++ {
		p, ok := parseRedisMember(members[(start+k)%len(members)])
		if !ok || p.ID == a.PeerID {
			continue
		}
		if a.SameFamily && p.Addr.Addr().Is4() != a.Addr.Addr().Is4() {
			continue
		}
		out = append(out, p)
		want--
	}
	return out
}

// Scrape implements Store with one pipelined round trip.
func (s *RedisStore) Scrape(ctx context.Context, hashes [][20]byte, out []tracker.ScrapeStats) error {
	now := time.Now()
	type cmds struct {
		s, l *redis.StringSliceCmd
		d    *redis.StringCmd
	}
	cs := make([]cmds, len(hashes))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hashes {
			base := swarmKey(h)
			cs[i].s = p.SUnion(ctx, s.bucketKeys(base, 'S', now)...)
			cs[i].l = p.SUnion(ctx, s.bucketKeys(base, 'L', now)...)
			cs[i].d = p.Get(ctx, base+":D")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis store: %w", err)
	}
	for i := range hashes {
		out[i].Complete = len(cs[i].s.Val())
		out[i].Incomplete = len(cs[i].l.Val())
		out[i].Downloaded, _ = strconv.Atoi(cs[i].d.Val())
		if out[i].Complete+out[i].Incomplete == 0 {
			out[i].Downloaded = 0 // a swarm without peers is gone, as in MemoryStore
		}
	}
	return nil
}

// redisStatsLimit bounds the keys Stats walks: totals over a huge shared
// store belong to Redis's own monitoring, not to a tracker's /metrics.
const redisStatsLimit = 200_000

// Stats implements Store by scanning the swarm keys, so it costs time in
// proportion to the number of swarms; it gives up past redisStatsLimit.
func (s *RedisStore) Stats(ctx context.Context) (StoreStats, error) {
	swarms := make(map[[20]byte]struct{})
	var cursor uint64
	seen := 0
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, redisKeyPrefix+"*:[SL]:*", 1000).Result()
		if err != nil {
			return StoreStats{}, fmt.Errorf("redis store: %w", err)
		}
		for _, k := range keys {
			hexHash, _, _ := strings.Cut(strings.TrimPrefix(k, redisKeyPrefix), ":")
			var h [20]byte
			if n, err := hex.Decode(h[:], []byte(hexHash)); err == nil && n == 20 {
				swarms[h] = struct{}{}
			}
		}
		seen += len(keys)
		if seen > redisStatsLimit {
			return StoreStats{}, fmt.Errorf("redis store holds more than %d keys: too many to total", redisStatsLimit)
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	hashes := make([][20]byte, 0, len(swarms))
	for h := range swarms {
		hashes = append(hashes, h)
	}
	counts := make([]tracker.ScrapeStats, len(hashes))
	if err := s.Scrape(ctx, hashes, counts); err != nil {
		return StoreStats{}, err
	}
	var st StoreStats
	for _, c := range counts {
		if c.Complete+c.Incomplete > 0 {
			st.Swarms++
		}
		st.Seeders += c.Complete
		st.Leechers += c.Incomplete
	}
	return st, nil
}
