package agent_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fleetprof/fleetprof/agent"
	"github.com/fleetprof/fleetprof/agent/internal/contract"
	"github.com/fleetprof/fleetprof/agent/internal/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("not gzip: % x", b[:min(len(b), 8)])
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func work(stop <-chan struct{}) {
	var sink [][]byte
	for {
		select {
		case <-stop:
			return
		default:
		}
		sink = append(sink, make([]byte, 4096))
		if len(sink) > 1000 {
			sink = sink[:0]
		}
	}
}

// runBriefly runs the agent with short periods beside a busy workload for 1.5 s, stops it and
// returns its stats: a couple of rounds of every profile kind and metrics batch.
func runBriefly(t *testing.T, cfg agent.Config) agent.Stats {
	t.Helper()
	cfg.Period, cfg.CPUDuration, cfg.MetricsPeriod = 700*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond
	cfg.S3 = moto.Client()
	a, err := agent.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	go work(stop)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return a.Stats()
}

func TestAgentUploadsToMoto(t *testing.T) {
	mototest.Require(t, moto)
	bucket := moto.Bucket(t)
	before := time.Now()
	st := runBriefly(t, agent.Config{
		Bucket: bucket, Service: "checkout", Instance: "pod-7", Version: "v1.4.2",
		Labels: map[string]string{"region": "eu-west-1", "team": "a b,c=d"}, PerFileUploads: true,
	})
	if st.Uploaded == 0 || st.Uploaded != st.Enqueued || st.Dropped != 0 || st.Pending != 0 || st.Panics != 0 {
		t.Fatalf("stats %+v", st)
	}
	objs := moto.Objects(t, bucket)
	if int64(len(objs)) != st.Uploaded {
		t.Fatalf("%d objects, %d uploaded", len(objs), st.Uploaded)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		k, err := contract.ParseKey(o.Key)
		if err != nil {
			t.Fatal(err)
		}
		kinds[k.Kind]++
		if k.Service != "checkout" || k.Instance != "pod-7" || k.Tag == "" {
			t.Errorf("%s: fields %+v", o.Key, k)
		}
		if k.Start.Before(before.Add(-time.Millisecond)) || k.Start.After(time.Now()) {
			t.Errorf("%s: start %v outside the test", o.Key, k.Start)
		}
		if o.Metadata["version"] != "v1.4.2" || o.Metadata["labels"] != "region=eu-west-1,team=a%20b%2Cc%3Dd" {
			t.Errorf("%s: metadata %v", o.Key, o.Metadata)
		}
		labels, err := contract.ParseLabels(o.Metadata["labels"])
		if err != nil || labels["team"] != "a b,c=d" {
			t.Errorf("labels %v %v", labels, err)
		}
		raw := gunzip(t, o.Body)
		switch k.Kind {
		case "metrics":
			if k.Ext != "jsonl.gz" {
				t.Errorf("%s: ext", o.Key)
			}
			checkMetrics(t, raw)
		default:
			if k.Ext != "pb.gz" {
				t.Errorf("%s: ext", o.Key)
			}
			checkPprof(t, o.Key, raw)
		}
	}
	for _, k := range agent.DefaultProfiles {
		if kinds[k] < 2 {
			t.Errorf("kind %s: %d uploads, want >= 2 (two periods)", k, kinds[k])
		}
	}
	if kinds["metrics"] < 2 {
		t.Errorf("metrics: %d batches", kinds["metrics"])
	}
}

// The default: one bundle per period (docs/upload-contract.md, "Bundles"), a gzipped USTAR
// archive with manifest.json first, members uncompressed, each member described by the manifest.
func TestAgentBundlesToMoto(t *testing.T) {
	mototest.Require(t, moto)
	bucket := moto.Bucket(t)
	before := time.Now()
	st := runBriefly(t, agent.Config{Bucket: bucket, Service: "checkout", Instance: "pod-7", Version: "v1.4.2", Labels: map[string]string{"region": "eu"}})
	if st.Uploaded == 0 || st.Uploaded != st.Enqueued || st.Dropped != 0 || st.Pending != 0 || st.Panics != 0 {
		t.Fatalf("stats %+v", st)
	}
	objs := moto.Objects(t, bucket)
	// 1.5 s of 0.7 s periods: two periods and the last one at Stop (metrics may close a bundle of their own).
	if len(objs) < 2 || len(objs) > 5 {
		t.Fatalf("%d objects, want one bundle per period (2-5)", len(objs))
	}
	kinds := map[string]int{}
	for _, o := range objs {
		k, err := contract.ParseKey(o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if k.Kind != "bundle" || k.Ext != "tar.gz" || k.Tag == "" {
			t.Fatalf("%s: not a bundle key", o.Key)
		}
		if o.Metadata["version"] != "v1.4.2" || o.Metadata["labels"] != "region=eu" || o.Metadata["process"] == "" || o.Metadata["temporality"] != "" {
			t.Errorf("%s: metadata %v", o.Key, o.Metadata)
		}
		tr := tar.NewReader(bytes.NewReader(gunzip(t, o.Body)))
		hdr, err := tr.Next()
		if err != nil || hdr.Name != "manifest.json" || hdr.Format != tar.FormatUSTAR {
			t.Fatalf("%s: first entry %+v, %v", o.Key, hdr, err)
		}
		var mf struct {
			Format  string
			Version int
			Members []struct{ Name, Kind, Start, Temporality string }
		}
		if err := json.NewDecoder(tr).Decode(&mf); err != nil || mf.Format != "fleetprof-bundle" || mf.Version != 1 || len(mf.Members) == 0 {
			t.Fatalf("%s: manifest %+v, %v", o.Key, mf, err)
		}
		earliest := time.Now()
		for i, m := range mf.Members {
			hdr, err := tr.Next()
			if err != nil || hdr.Name != m.Name {
				t.Fatalf("%s: entry %d = %v, %v; manifest says %s", o.Key, i+1, hdr, err, m.Name)
			}
			body, _ := io.ReadAll(tr)
			start, err := time.Parse(time.RFC3339Nano, m.Start)
			if err != nil || start.Before(before.Add(-time.Millisecond)) || start.After(time.Now()) {
				t.Errorf("%s: %s start %q", o.Key, m.Name, m.Start)
			}
			if start.Before(earliest) {
				earliest = start
			}
			kinds[m.Kind]++
			counter := m.Kind == "allocs" || m.Kind == "heap" || m.Kind == "block" || m.Kind == "mutex"
			if (m.Temporality == "delta") != counter {
				t.Errorf("%s: %s temporality %q", o.Key, m.Name, m.Temporality)
			}
			switch m.Kind {
			case "metrics":
				if !strings.HasSuffix(m.Name, ".jsonl") {
					t.Errorf("%s: member name %s", o.Key, m.Name)
				}
				checkMetrics(t, body)
			default:
				if !strings.HasSuffix(m.Name, ".pb") || (len(body) > 1 && body[0] == 0x1f && body[1] == 0x8b) {
					t.Errorf("%s: %s should be uncompressed protobuf", o.Key, m.Name)
				}
				checkPprof(t, o.Key+"!"+m.Name, body)
			}
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Errorf("%s: entries beyond the manifest: %v", o.Key, err)
		}
		if got := k.Start.UTC().Truncate(time.Millisecond); !got.Equal(earliest.UTC().Truncate(time.Millisecond)) {
			t.Errorf("%s: key start %v, earliest member %v", o.Key, got, earliest)
		}
	}
	for _, k := range agent.DefaultProfiles {
		if kinds[k] < 2 {
			t.Errorf("kind %s: %d members, want >= 2 (two periods)", k, kinds[k])
		}
	}
	if kinds["metrics"] < 2 {
		t.Errorf("metrics: %d members", kinds["metrics"])
	}
}

func checkMetrics(t *testing.T, raw []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 4<<20)
	n := 0
	for sc.Scan() {
		n++
		var doc struct {
			Time    string                     `json:"time"`
			Metrics map[string]json.RawMessage `json:"metrics"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("metrics line %d: %v", n, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, doc.Time); err != nil {
			t.Fatal(err)
		}
		var goal uint64
		if err := json.Unmarshal(doc.Metrics["/gc/heap/goal:bytes"], &goal); err != nil || goal == 0 {
			t.Fatalf("/gc/heap/goal:bytes = %s", doc.Metrics["/gc/heap/goal:bytes"])
		}
		var h struct {
			Buckets []any    `json:"buckets"`
			Counts  []uint64 `json:"counts"`
		}
		if err := json.Unmarshal(doc.Metrics["/sched/latencies:seconds"], &h); err != nil || len(h.Buckets) != len(h.Counts)+1 {
			t.Fatalf("histogram: %v %d/%d", err, len(h.Buckets), len(h.Counts))
		}
		if h.Buckets[0] != "-Inf" && h.Buckets[len(h.Buckets)-1] != "+Inf" {
			t.Errorf("no infinite bound in %v...", h.Buckets[:3])
		}
	}
	if n == 0 {
		t.Fatal("empty metrics batch")
	}
}

// syncBuffer is a bytes.Buffer safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// flaky is an S3 stand-in that answers 503 until healthy is set, then 200.
type flaky struct {
	healthy atomic.Bool
	puts    atomic.Int64
	fails   atomic.Int64
	keys    chan string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if !f.healthy.Load() {
		f.fails.Add(1)
		w.WriteHeader(503)
		io.WriteString(w, `<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>`)
		return
	}
	f.puts.Add(1)
	select {
	case f.keys <- r.URL.Path:
	default:
	}
	w.Header().Set("ETag", `"x"`)
	w.WriteHeader(200)
}

func s3For(url string) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})
}

func TestRetryDropAndRecover(t *testing.T) {
	f := &flaky{keys: make(chan string, 1000)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	var logged syncBuffer
	a, err := agent.Start(context.Background(), agent.Config{
		Bucket: "b", Service: "svc", Instance: "i", Profiles: []string{}, MetricsPeriod: -1,
		MaxBufferBytes: 10 << 10, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		S3: s3For(srv.URL), Logger: slog.New(slog.NewJSONHandler(&logged, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1024)
	t0 := time.Now()
	for i := 0; i < 100; i++ { // 100 KiB into a 10 KiB buffer while S3 fails
		if err := a.Upload("gctrace", "log", time.Now(), body); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Fatalf("100 Upload calls took %v: the buffer must not block", d)
	}
	time.Sleep(300 * time.Millisecond)
	st := a.Stats()
	if st.Dropped < 90 || st.PendingBytes > 10<<10 || st.FailedAttempts < 2 || st.Uploaded != 0 {
		t.Fatalf("while failing: %+v", st)
	}
	if !strings.Contains(st.LastError, "503") && !strings.Contains(st.LastError, "SlowDown") {
		t.Errorf("last error %q", st.LastError)
	}
	// The first failure is logged once, at Warn, through the configured slog.Logger.
	if lines := strings.Count(logged.String(), "\n"); lines != 1 || !strings.Contains(logged.String(), `"level":"WARN","msg":"fleetprof agent: upload failed (will retry)"`) || !strings.Contains(logged.String(), "503") {
		t.Errorf("logger got %d line(s): %s", lines, logged.String())
	}
	f.healthy.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st = a.Stats()
	if st.Uploaded+st.Dropped != 100 || st.Uploaded < 1 || st.Pending != 0 {
		t.Fatalf("after recovery: %+v", st)
	}
	// The newest uploads survived: the last key's sequence number is the 100th.
	var last string
	for len(f.keys) > 0 {
		last = <-f.keys
	}
	if !strings.HasSuffix(last, "-100.log") {
		t.Errorf("last uploaded key %s, want the newest (…-100.log)", last)
	}
}

func TestStopGivesUpAndSpillsToDisk(t *testing.T) {
	mototest.Require(t, moto)
	f := &flaky{keys: make(chan string, 10)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "buf")
	cfg := agent.Config{
		Bucket: "b", Service: "svc", Instance: "i", Version: "v9", Profiles: []string{}, MetricsPeriod: -1,
		MaxBufferBytes: 2 << 10, BufferDir: dir, MaxDiskBytes: 8 << 10, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		S3: s3For(srv.URL),
	}
	a, err := agent.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // 20 KiB: 2 KiB in memory, 8 KiB on disk, the rest dropped
		a.Upload("gctrace", "log", time.Now(), bytes.Repeat([]byte{byte('a' + i)}, 1024))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := a.Stop(ctx); err == nil {
		t.Fatal("Stop with a failing endpoint returned nil")
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("Stop took %v past its deadline", d)
	}
	st := a.Stats()
	if st.Spilled == 0 || st.Dropped == 0 || st.Uploaded != 0 {
		t.Fatalf("stats %+v", st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.fleetprof"))
	if len(files) == 0 || len(files) > 10 {
		t.Fatalf("%d spill files", len(files))
	}

	// A new agent on the same directory uploads what the last one left, to a working S3.
	bucket := moto.Bucket(t)
	cfg.Bucket, cfg.S3 = bucket, moto.Client()
	a2, err := agent.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := a2.Stop(ctx2); err != nil {
		t.Fatal(err)
	}
	objs := moto.Objects(t, bucket)
	if len(objs) != len(files) {
		t.Fatalf("%d objects from %d spill files", len(objs), len(files))
	}
	for _, o := range objs {
		if _, err := contract.ParseKey(o.Key); err != nil || o.Metadata["version"] != "v9" || len(o.Body) != 1024 {
			t.Errorf("%s: %v %v %d bytes", o.Key, err, o.Metadata, len(o.Body))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.fleetprof")); len(left) != 0 {
		t.Errorf("%d spill files left after upload", len(left))
	}
}

type panicky struct{ n atomic.Int64 }

func (p *panicky) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if p.n.Add(1) <= 2 {
		panic("boom")
	}
	return &s3.PutObjectOutput{}, nil
}

func TestPanicsAreRecovered(t *testing.T) {
	p := &panicky{}
	a, err := agent.Start(context.Background(), agent.Config{Bucket: "b", Service: "svc", Profiles: []string{"heap"}, MetricsPeriod: -1,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, S3: p})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	time.Sleep(50 * time.Millisecond)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Panics != 2 || st.Uploaded != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []agent.Config{
		{Service: "s"},
		{Bucket: "b"},
		{Bucket: "b", Service: "a/b"},
		{Bucket: "b", Service: "s", Version: "v 1"},
		{Bucket: "b", Service: "s", Labels: map[string]string{"9": "x"}},
		{Bucket: "b", Service: "s", Profiles: []string{"trace"}},
	} {
		if _, err := agent.Start(context.Background(), c); err == nil {
			t.Errorf("Start(%+v) accepted", c)
		}
	}
}

// checkPprof walks the top-level protobuf fields of a pprof Profile: the bytes must parse
// completely, with sample_type (1) and string_table (6) present.
func checkPprof(t *testing.T, key string, b []byte) {
	t.Helper()
	seen := map[uint64]bool{}
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 10 && len(b) > 0; i++ {
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << (7 * i)
			if c < 0x80 {
				return v, true
			}
		}
		return 0, false
	}
	for len(b) > 0 {
		tag, ok := varint()
		if !ok {
			t.Fatalf("%s: bad varint", key)
		}
		switch tag & 7 {
		case 0:
			if _, ok := varint(); !ok {
				t.Fatalf("%s: bad varint", key)
			}
		case 2:
			n, ok := varint()
			if !ok || n > uint64(len(b)) {
				t.Fatalf("%s: bad length", key)
			}
			b = b[n:]
		default:
			t.Fatalf("%s: unexpected wire type %d", key, tag&7)
		}
		seen[tag>>3] = true
	}
	if !seen[1] || !seen[6] {
		t.Errorf("%s: not a pprof profile (fields %v)", key, seen)
	}
}
