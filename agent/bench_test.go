package agent_test

// Overhead of the agent (agent/README.md, "Overhead"):
//
//	go test -run '^$' -bench Overhead -benchtime 120s .         # on/off back to back
//	FLEETPROF_BENCH_PAIRS=3 go test -run '^$' -bench PairedOverhead -benchtime 1x -timeout 30m .
//
// Each op is the same CPU- and allocation-heavy piece of work (JSON round trip, sort, map);
// cpu-ns/op is the process's user+system CPU (getrusage: the agent's goroutines, the CPU
// profiler's signal handling and GC included) per op. The agent uploads to a local stub, so the
// numbers include building and sending every upload but not S3's latency.
//
// BenchmarkPairedOverhead alternates windows of one full agent period without and with the agent
// (a fresh agent at the defaults per "on" window: one 10 s CPU profile, one set of profile
// snapshots, 6 metrics snapshots and their uploads) and reports the median of the paired
// differences, which cancels slow drifts in the machine's load.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fleetprof/fleetprof/agent"
)

type order struct {
	ID    string            `json:"id"`
	Items []int             `json:"items"`
	Attrs map[string]string `json:"attrs"`
	Total float64           `json:"total"`
}

var benchSink any

func workload(seed int) {
	orders := make([]order, 50)
	for i := range orders {
		o := &orders[i]
		o.ID = strconv.Itoa(seed*1000 + i)
		o.Items = make([]int, 20)
		for j := range o.Items {
			o.Items[j] = (seed*31 + i*17 + j*7) % 1000
		}
		o.Attrs = map[string]string{"region": "eu-west-1", "tier": strconv.Itoa(i % 3)}
		o.Total = float64(seed+i) * 1.5
	}
	b, _ := json.Marshal(orders)
	var back []order
	json.Unmarshal(b, &back)
	for i := range back {
		sort.Ints(back[i].Items)
	}
	benchSink = back
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkOverhead(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "agent=off"
		if on {
			name = "agent=on"
		}
		b.Run(name, func(b *testing.B) {
			var puts, bytesIn atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				puts.Add(1)
				bytesIn.Add(n)
			}))
			defer srv.Close()
			var a *agent.Agent
			if on {
				var err error
				a, err = agent.Start(context.Background(), agent.Config{Bucket: "b", Service: "bench", Instance: "i", S3: s3For(srv.URL)})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			c0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				workload(i)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
			if a != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				a.Stop(ctx)
				cancel()
				st := a.Stats()
				b.ReportMetric(float64(st.Uploaded), "uploads")
				b.ReportMetric(float64(st.UploadedBytes)/1024, "upload-KiB")
			}
		})
	}
}

func BenchmarkPairedOverhead(b *testing.B) {
	pairs := 3
	if v, err := strconv.Atoi(os.Getenv("FLEETPROF_BENCH_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	period := agent.DefaultPeriod
	if v, err := time.ParseDuration(os.Getenv("FLEETPROF_BENCH_PERIOD")); err == nil && v > 0 {
		period = v // scaled runs keep the CPU duty cycle (CPUDuration = period/6) but snapshot more often
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	// One window: run the workload for `period` wall time; return CPU ns per op and ops.
	window := func(on bool) (float64, int, agent.Stats) {
		var a *agent.Agent
		if on {
			var err error
			a, err = agent.Start(context.Background(), agent.Config{Bucket: "b", Service: "bench", Instance: "i", S3: s3For(srv.URL),
				Period: period, CPUDuration: period / 6, MetricsPeriod: period / 6})
			if err != nil {
				b.Fatal(err)
			}
		}
		c0, t0, n := cpuTime(), time.Now(), 0
		for time.Since(t0) < period {
			for k := 0; k < 20; k++ {
				workload(n)
				n++
			}
		}
		var st agent.Stats
		if a != nil {
			// Stop inside the window: the last uploads are part of the cost.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			a.Stop(ctx)
			cancel()
			st = a.Stats()
		}
		return float64((cpuTime() - c0).Nanoseconds()) / float64(n), n, st
	}
	var diffs []float64
	var offSum, onSum float64
	var uploads, upBytes int64
	for i := 0; i < pairs; i++ {
		off, nOff, _ := window(false)
		on, nOn, st := window(true)
		d := (on - off) / off * 100
		diffs = append(diffs, d)
		offSum += off
		onSum += on
		uploads += st.Uploaded
		upBytes += st.UploadedBytes
		b.Logf("pair %d: off %.0f cpu-ns/op (%d ops), on %.0f cpu-ns/op (%d ops): %+.2f%%; %d uploads, %d KiB",
			i+1, off, nOff, on, nOn, d, st.Uploaded, st.UploadedBytes/1024)
	}
	sort.Float64s(diffs)
	b.ReportMetric(diffs[len(diffs)/2], "median-cpu-overhead-%")
	b.ReportMetric((onSum-offSum)/offSum*100, "mean-cpu-overhead-%")
	b.ReportMetric(float64(uploads)/float64(pairs), "uploads/period")
	b.ReportMetric(float64(upBytes)/float64(pairs)/1024, "upload-KiB/period")
}

// BenchmarkAgentIdleCPU measures the agent's own CPU directly: a process doing nothing but run
// the agent at its defaults (snapshots, runtime/metrics, gzip, uploads to a local stub) for
// FLEETPROF_BENCH_PERIODS periods (default 2). An idle process gives the CPU profiler no samples,
// so this is the collection cost; the sampling cost under load is what the paired benchmark sees.
func BenchmarkAgentIdleCPU(b *testing.B) {
	periods := 2
	if v, err := strconv.Atoi(os.Getenv("FLEETPROF_BENCH_PERIODS")); err == nil && v > 0 {
		periods = v
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	c0 := cpuTime()
	a, err := agent.Start(context.Background(), agent.Config{Bucket: "b", Service: "bench", Instance: "i", S3: s3For(srv.URL)})
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Duration(periods) * agent.DefaultPeriod)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	a.Stop(ctx)
	cancel()
	cpu := cpuTime() - c0
	st := a.Stats()
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(periods), "cpu-ms/period")
	b.ReportMetric(float64(cpu)/float64(time.Duration(periods)*agent.DefaultPeriod)*100, "cpu-%-of-one-core")
	b.ReportMetric(float64(st.Uploaded)/float64(periods), "uploads/period")
	b.ReportMetric(float64(st.UploadedBytes)/1024/float64(periods), "upload-KiB/period")
}
