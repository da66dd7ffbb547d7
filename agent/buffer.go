package agent

// The upload buffer: a FIFO of pending uploads bounded in memory and (optionally) on disk.
// Pushing never blocks on the network: when memory is full the oldest in-memory item is spilled to
// the disk directory (if any), and when that is full too the oldest item is dropped and counted.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type item struct {
	key      string
	meta     map[string]string
	body     []byte // nil when spilled
	path     string // file on disk when spilled
	size     int64
	attempts int
	inflight bool
}

type buffer struct {
	mu        sync.Mutex
	items     []*item // oldest first
	memBytes  int64
	diskBytes int64
	maxMem    int64
	maxDisk   int64
	dir       string
	seq       uint64
	notify    chan struct{} // 1-buffered: "something was pushed"
	stats     *counters
}

type counters struct {
	enqueued, uploaded, uploadedBytes, attemptsFailed, dropped, droppedBytes,
	rejected, spilled, panics, skipped atomic.Int64
	lastErr atomic.Value // string
}

func newBuffer(maxMem, maxDisk int64, dir string, st *counters) *buffer {
	b := &buffer{maxMem: maxMem, maxDisk: maxDisk, dir: dir, notify: make(chan struct{}, 1), stats: st}
	if dir != "" {
		b.reload()
	}
	return b
}

const spillSuffix = ".fleetprof"

// reload re-queues the items a previous process left in the directory (oldest first).
func (b *buffer) reload() {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		b.stats.setErr(fmt.Errorf("buffer dir: %w", err))
		b.dir = ""
		return
	}
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), spillSuffix) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // names start with a fixed-width nanosecond time: oldest first
	for _, n := range names {
		p := filepath.Join(b.dir, n)
		it, err := readSpillHeader(p)
		if err != nil {
			os.Remove(p)
			continue
		}
		b.items = append(b.items, it)
		b.diskBytes += it.size
	}
	b.mu.Lock()
	b.trimDisk()
	b.mu.Unlock()
}

func (s *counters) setErr(err error) {
	if err != nil {
		s.lastErr.Store(err.Error())
	}
}

// push adds an upload; never blocks on I/O other than a local spill write.
func (b *buffer) push(key string, meta map[string]string, body []byte) {
	it := &item{key: key, meta: meta, body: body, size: int64(len(body))}
	b.stats.enqueued.Add(1)
	b.mu.Lock()
	if it.size > b.maxMem && (b.dir == "" || it.size > b.maxDisk) {
		b.mu.Unlock()
		b.drop(it)
		return
	}
	b.items = append(b.items, it)
	b.memBytes += it.size
	b.trimMem()
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *buffer) drop(it *item) {
	b.stats.dropped.Add(1)
	b.stats.droppedBytes.Add(it.size)
	if it.path != "" {
		os.Remove(it.path)
	}
}

// trimMem spills or drops the oldest in-memory items until memory fits. Caller holds mu.
func (b *buffer) trimMem() {
	for b.memBytes > b.maxMem {
		idx := -1
		for i, it := range b.items {
			if it.body != nil && !it.inflight {
				idx = i
				break
			}
		}
		if idx < 0 {
			return // only the in-flight item is left in memory: bounded by one item
		}
		it := b.items[idx]
		if b.dir != "" && it.size <= b.maxDisk {
			if err := b.spill(it); err == nil {
				b.memBytes -= it.size
				b.diskBytes += it.size
				b.stats.spilled.Add(1)
				b.trimDisk()
				continue
			} else {
				b.stats.setErr(err)
			}
		}
		b.removeAt(idx)
		b.drop(it)
	}
}

// trimDisk drops the oldest spilled items until the disk budget fits. Caller holds mu.
func (b *buffer) trimDisk() {
	for b.diskBytes > b.maxDisk {
		idx := -1
		for i, it := range b.items {
			if it.body == nil && !it.inflight {
				idx = i
				break
			}
		}
		if idx < 0 {
			return
		}
		it := b.items[idx]
		b.removeAt(idx)
		b.drop(it)
	}
}

// removeAt removes items[i] and its byte accounting. Caller holds mu.
func (b *buffer) removeAt(i int) {
	it := b.items[i]
	if it.body != nil {
		b.memBytes -= it.size
	} else {
		b.diskBytes -= it.size
	}
	b.items = append(b.items[:i], b.items[i+1:]...)
}

type spillHeader struct {
	Key  string            `json:"key"`
	Meta map[string]string `json:"meta,omitempty"`
}

func (b *buffer) spill(it *item) error {
	b.seq++
	name := fmt.Sprintf("%020d-%06d%s", time.Now().UnixNano(), b.seq%1000000, spillSuffix)
	p := filepath.Join(b.dir, name)
	hdr, _ := json.Marshal(spillHeader{Key: it.key, Meta: it.meta})
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	_, err = f.Write(append(hdr, '\n'))
	if err == nil {
		_, err = f.Write(it.body)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spill: %w", err)
	}
	it.path = p
	it.body = nil
	return nil
}

func readSpillHeader(p string) (*item, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(io.LimitReader(f, 64*1024)).ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var h spillHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Key == "" {
		return nil, fmt.Errorf("bad spill header in %s", p)
	}
	return &item{key: h.Key, meta: h.Meta, path: p, size: st.Size() - int64(len(line))}, nil
}

func readSpillBody(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	nl := strings.IndexByte(string(data[:min(len(data), 64*1024)]), '\n')
	if nl < 0 {
		return nil, fmt.Errorf("bad spill file %s", p)
	}
	return data[nl+1:], nil
}

// next marks the oldest item in flight and returns it with its body, or nil when empty.
func (b *buffer) next() (*item, []byte) {
	for {
		b.mu.Lock()
		if len(b.items) == 0 {
			b.mu.Unlock()
			return nil, nil
		}
		it := b.items[0]
		it.inflight = true
		body, path := it.body, it.path
		b.mu.Unlock()
		if body != nil {
			return it, body
		}
		data, err := readSpillBody(path)
		if err == nil {
			return it, data
		}
		b.stats.setErr(err)
		b.mu.Lock()
		b.removeIfPresent(it)
		b.mu.Unlock()
		b.drop(it)
	}
}

func (b *buffer) removeIfPresent(it *item) bool {
	for i, x := range b.items {
		if x == it {
			b.removeAt(i)
			return true
		}
	}
	return false
}

// done finishes an in-flight item: removed on success or permanent failure, else kept at the head.
func (b *buffer) done(it *item, remove bool) {
	b.mu.Lock()
	it.inflight = false
	if remove {
		b.removeIfPresent(it)
		if it.path != "" {
			os.Remove(it.path)
		}
	} else {
		b.trimMem()
		b.trimDisk()
	}
	b.mu.Unlock()
}

func (b *buffer) pending() (n int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items), b.memBytes + b.diskBytes
}

// persistOrDrop runs at shutdown: in-memory items go to disk when there is a directory, else
// they are counted as dropped. Spilled items stay for the next process.
func (b *buffer) persistOrDrop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.items[:0]
	for _, it := range b.items {
		if it.body != nil {
			if b.dir != "" && b.diskBytes+it.size <= b.maxDisk {
				if err := b.spill(it); err == nil {
					b.memBytes -= it.size
					b.diskBytes += it.size
					b.stats.spilled.Add(1)
					kept = append(kept, it)
					continue
				}
			}
			b.memBytes -= it.size
			b.drop(it)
			continue
		}
		kept = append(kept, it)
	}
	b.items = kept
}
