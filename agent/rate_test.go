package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetprof/fleetprof/agent"
	"github.com/fleetprof/fleetprof/agent/internal/contract"
	"github.com/google/pprof/profile"
)

// The agent against `fleetprof local` for a known allocation rate (#10): this test program
// allocates steadily while the agent uploads allocs deltas every second; `GET /top?type=allocs`
// over a window must
//   - agree with the runtime's own /gc/heap/allocs:bytes increase between the window's first and
//     last snapshot times, within the heap profile's sampling error (+ the profile's lag: it is
//     as of the last completed GC), and
//   - equal `go tool pprof -top -base` exactly, function by function, on the cumulative snapshots
//     rebuilt from the uploaded deltas (cumulative_k = d_1 + ... + d_k, so `-base d_1..d_j
//     d_1..d_k` is cumulative_k - cumulative_j).

// allocSink keeps the compiler from removing the allocations.
var allocSink []byte

//go:noinline
func allocSteady(stop <-chan struct{}, bytesPerSec int) {
	const size = 1024
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			for i := 0; i < bytesPerSec/100/size; i++ {
				allocSink = make([]byte, size)
			}
		}
	}
}

type metricSample struct {
	at    int64 // unix ns
	bytes uint64
}

// sampleAllocs reads /gc/heap/allocs:bytes every millisecond until stop.
func sampleAllocs(stop <-chan struct{}, out *[]metricSample, done *sync.WaitGroup) {
	defer done.Done()
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	for {
		select {
		case <-stop:
			return
		default:
		}
		metrics.Read(s)
		*out = append(*out, metricSample{time.Now().UnixNano(), s[0].Value.Uint64()})
		time.Sleep(time.Millisecond)
	}
}

// at interpolates the metric linearly at t.
func at(ss []metricSample, t int64) float64 {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].at >= t })
	if i == 0 || i == len(ss) {
		panic(fmt.Sprintf("time %d outside the sampled range", t))
	}
	a, b := ss[i-1], ss[i]
	return float64(a.bytes) + (float64(b.bytes)-float64(a.bytes))*float64(t-a.at)/float64(b.at-a.at)
}

type fnRow struct{ flat, cum int64 }

// pprofTop runs `go tool pprof -top` in exact bytes (see test/oracle/pprof.ts for why -unit=B
// prints integers) and returns the total and name -> flat, cum.
func pprofTop(t *testing.T, args ...string) (int64, map[string]fnRow) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "pprof", "-top", "-symbolize=none", "-trim=false", "-nodefraction=0", "-nodecount=0", "-unit=B", "-sample_index=alloc_space"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go tool pprof: %v: %s", err, errb.String())
	}
	num := func(s string) int64 {
		n, err := strconv.ParseInt(strings.TrimSuffix(s, "B"), 10, 64)
		if err != nil {
			t.Fatalf("pprof value %q: %v", s, err)
		}
		return n
	}
	var total int64
	rows := map[string]fnRow{}
	inRows := false
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.Contains(line, "% of ") && strings.HasSuffix(line, " total"):
			// "Showing nodes accounting for X, 100% of Y total"
			total = num(f[len(f)-2])
		case len(f) > 0 && f[0] == "flat":
			inRows = true
		case inRows && len(f) >= 6:
			name := strings.Join(f[5:], " ")
			name = strings.TrimSuffix(strings.TrimSuffix(name, " (inline)"), " (partial-inline)")
			rows[name] = fnRow{num(f[0]), num(f[3])}
		}
	}
	return total, rows
}

func TestAllocRateAgainstLocal(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs go for go tool pprof")
	}
	api, bucket := startLocal(t, "agent-rate")

	// Sample every 16 KiB allocated instead of 512 KiB: the test's tolerance is a few MB, not tens.
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	const rate = 16 << 10
	runtime.MemProfileRate = rate

	var samples []metricSample
	var sampler sync.WaitGroup
	stopSampling := make(chan struct{})
	sampler.Add(1)
	go sampleAllocs(stopSampling, &samples, &sampler)

	a, err := agent.Start(context.Background(), agent.Config{
		Bucket: bucket, Service: "rate", Instance: "i1", Profiles: []string{"allocs"},
		Period: time.Second, MetricsPeriod: -1, S3: moto.Client(),
		PerFileUploads: true, // each delta its own object, for go tool pprof -base below
	})
	if err != nil {
		t.Fatal(err)
	}
	stopAlloc := make(chan struct{})
	go allocSteady(stopAlloc, 64<<20) // 64 MiB/s
	time.Sleep(5500 * time.Millisecond)
	close(stopAlloc)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	close(stopSampling)
	sampler.Wait()
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(goal)

	// The uploaded deltas, in time order.
	type delta struct {
		file string
		time int64
	}
	dir := t.TempDir()
	var ds []delta
	for _, o := range moto.Objects(t, bucket) {
		k, err := contract.ParseKey(o.Key)
		if err != nil || k.Kind != "allocs" {
			continue
		}
		if o.Metadata["temporality"] != "delta" {
			t.Fatalf("%s: temporality %q", o.Key, o.Metadata["temporality"])
		}
		p, err := profile.ParseData(o.Body)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, filepath.Base(o.Key))
		if err := os.WriteFile(f, o.Body, 0o600); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, delta{f, p.TimeNanos})
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].time < ds[j].time })
	if len(ds) < 4 {
		t.Fatalf("%d allocs uploads, want >= 4", len(ds))
	}

	// Window: after the first delta up to and including the last one (stored times are whole ms).
	first, last := ds[0], ds[len(ds)-1]
	ms := func(ns int64) time.Time { return time.UnixMilli(ns / 1e6) }
	from, to := ms(first.time).Add(time.Millisecond), ms(last.time).Add(time.Millisecond)

	// Wait until every upload is ingested.
	deadline := time.Now().Add(90 * time.Second)
	for {
		n := sqlColumn(t, api, "SELECT count(*)::VARCHAR FROM profiles WHERE service = 'rate' AND kind = 'allocs'")
		if len(n) == 1 && n[0] == strconv.Itoa(len(ds)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %v allocs profiles ingested, %d uploaded", n, len(ds))
		}
		time.Sleep(300 * time.Millisecond)
	}

	q := url.Values{"type": {"allocs"}, "sample-type": {"alloc_space"}, "service": {"rate"},
		"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	resp, err := http.Get(api + "/top?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var top struct {
		Total     json.Number `json:"total"`
		Functions []struct {
			Name      string
			Flat, Cum json.Number
		} `json:"functions"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if resp.StatusCode != 200 {
		t.Fatalf("/top: HTTP %d", resp.StatusCode)
	}
	if err := dec.Decode(&top); err != nil {
		t.Fatal(err)
	}
	got, _ := top.Total.Int64()

	// 1. The runtime's own count over the same span.
	runtimeBytes := at(samples, last.time) - at(samples, first.time)
	// Sampling: each sample stands for ~rate bytes, their count is Poisson with mean B/rate, so
	// the estimate's standard deviation is sqrt(B * rate). Lag: the profile is as of the last
	// completed GC, so each end may miss up to a GC cycle's allocations (< the heap goal).
	sd := math.Sqrt(runtimeBytes * rate)
	tol := 4*sd + 2*float64(goal[0].Value.Uint64())
	t.Logf("window %s..%s (%d deltas): top %d B, runtime %.0f B (%.2f%%), tolerance %.0f B (4 sd = %.0f, 2 heap goals = %d)",
		from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), len(ds)-1, got, runtimeBytes, 100*(float64(got)-runtimeBytes)/runtimeBytes, tol, 4*sd, 2*goal[0].Value.Uint64())
	if runtimeBytes < 100<<20 {
		t.Fatalf("only %.0f bytes allocated in the window: the rate did not hold", runtimeBytes)
	}
	if math.Abs(float64(got)-runtimeBytes) > tol {
		t.Fatalf("top %d B vs runtime /gc/heap/allocs:bytes %.0f B: off by more than %.0f B", got, runtimeBytes, tol)
	}

	// 2. go tool pprof -base on the rebuilt cumulative snapshots, to the byte.
	args := []string{"-base", ds[0].file}
	for _, d := range ds {
		args = append(args, d.file)
	}
	wantTotal, want := pprofTop(t, args...)
	if got != wantTotal {
		t.Fatalf("top total %d B, go tool pprof -base %d B", got, wantTotal)
	}
	gotRows := map[string]fnRow{}
	for _, f := range top.Functions {
		fl, _ := f.Flat.Int64()
		cu, _ := f.Cum.Int64()
		gotRows[f.Name] = fnRow{fl, cu}
	}
	if _, ok := want["github.com/fleetprof/fleetprof/agent_test.allocSteady"]; !ok {
		t.Fatalf("the allocator is not in the oracle's rows: %v", want)
	}
	for name, w := range want {
		if gotRows[name] != w {
			t.Errorf("%s: top %+v, pprof -base %+v", name, gotRows[name], w)
		}
	}
	if len(gotRows) != len(want) {
		t.Errorf("top has %d functions, pprof -base %d", len(gotRows), len(want))
	}
}
